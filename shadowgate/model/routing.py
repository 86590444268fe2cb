"""What the data plane does for a route: the one contract between a decision and traffic.

A ``Routing`` is computed only by :func:`shadowgate.rollout.machine.routing_for`, committed by
the judge with the rollout state, published by every replica's state sync and applied
unchanged by the data plane. Nothing else derives a split from a state or a config.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Literal

Mode = Literal["shadow", "canary"]


@dataclass(frozen=True, slots=True)
class Routing:
    """One route's traffic split in force.

    - ``mode``: ``shadow`` (production serves, the candidate is mirrored) or ``canary``
      (a sticky share of users is served by the candidate);
    - ``weight``: percent of users the candidate serves in canary mode, in [0, 100];
    - ``mirror``: whether shadow mode mirrors at all (off while paused or once ended);
    - ``mirror_percent``: the share of requests mirrored when ``mirror`` is on;
    - ``rollout_id``: the rollout the route's outcomes belong to ("" before any);
    - ``final``: the rollout has ended, so requests production serves alone are not
      evidence of anything and are not recorded;
    - ``reverse`` (shadow mode, while baking after a promotion): the candidate serves
      everyone and production is the one mirrored, as the reference.
    """

    mode: Mode
    weight: float = 0.0
    mirror: bool = True
    mirror_percent: float = 100.0
    rollout_id: str = ""
    final: bool = False
    reverse: bool = False

    def __post_init__(self) -> None:
        if self.mode not in ("shadow", "canary"):
            raise ValueError(f"routing mode must be shadow or canary, not {self.mode!r}")
        if not 0.0 <= self.weight <= 100.0:
            raise ValueError(f"routing weight must be within [0, 100], not {self.weight!r}")
        if not 0.0 <= self.mirror_percent <= 100.0:
            raise ValueError(f"mirror percent must be within [0, 100], not {self.mirror_percent!r}")

    @property
    def candidate_share(self) -> float:
        """Percent of client requests the candidate serves."""
        if self.reverse:
            return 100.0
        return self.weight if self.mode == "canary" else 0.0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Routing:
        mode = d["mode"]
        if mode not in ("shadow", "canary"):
            raise ValueError(f"routing mode must be shadow or canary, not {mode!r}")
        return cls(
            mode=mode,
            weight=float(d.get("weight", 0.0)),
            mirror=bool(d.get("mirror", True)),
            mirror_percent=float(d.get("mirror_percent", 100.0)),
            rollout_id=str(d.get("rollout_id", "")),
            final=bool(d.get("final", False)),
            reverse=bool(d.get("reverse", False)),
        )
