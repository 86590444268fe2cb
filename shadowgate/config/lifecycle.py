"""Config of what happens after a promotion: ``after_promotion`` (bake with reverse shadow).

    after_promotion: {bake: 30m, mirror_percent: 10, min_samples: 200}

When the checks pass, the rollout enters ``baking`` instead of ``promoted``: the candidate
serves everyone and ``mirror_percent`` of requests are mirrored to the former production
as the reference. The route's checks run again on those pairs with their own α; on any
harm the rollout reverts on its own. After ``bake`` with at least ``min_samples`` pairs
and no harm, it is ``promoted``.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from shadowgate.config.types import Duration, Percent


class AfterPromotionConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    #: how long the promoted candidate is watched before the promotion is final
    bake: Duration = Field(gt=0)
    #: share of requests mirrored to the former production during the bake
    mirror_percent: Percent = Field(default=10.0, gt=0, le=100)
    #: pairs needed, besides the elapsed bake, before the promotion is final
    min_samples: int = Field(default=200, ge=0)
