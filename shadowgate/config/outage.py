"""``analysis.production_outage``: when production itself fails, the judge stops deciding.

While production fails with an infrastructure error (connect, timeout, reset, 5xx) on more
than ``max_error_rate`` of the pairs of the last ``window`` (and at least ``min_pairs`` were
seen in it), the judge pauses its decisions and leaves the pairs production failed out of
the checks (they say nothing about the candidate); it resumes once the share is back at or
below ``resume_error_rate`` (default: half of ``max_error_rate``).

Example::

    analysis:
      production_outage: {max_error_rate: 20%, window: 10s, min_pairs: 20}
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, model_validator

from shadowgate.config.types import Duration, Fraction


class ProductionOutageConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    #: pause decisions while production fails on more than this share of recent pairs
    max_error_rate: Fraction = Field(default=0.2, gt=0, le=1)
    #: resume once the share is back at or below this (default: max_error_rate / 2)
    resume_error_rate: Fraction | None = Field(default=None, ge=0, le=1)
    #: how far back "recent" reaches, in request time
    window: Duration = 10.0
    #: fewer pairs than this in the window decide nothing either way
    min_pairs: int = Field(default=20, ge=1)
    #: false: never pause, never leave pairs out
    enabled: bool = True

    @property
    def effective_resume_rate(self) -> float:
        if self.resume_error_rate is None:
            return self.max_error_rate / 2
        return self.resume_error_rate

    @model_validator(mode="after")
    def _consistent(self) -> ProductionOutageConfig:
        if self.window <= 0:
            raise ValueError("window must be greater than 0, e.g. 10s")
        if self.resume_error_rate is not None and self.resume_error_rate > self.max_error_rate:
            raise ValueError(
                f"resume_error_rate ({self.resume_error_rate:g}) is above max_error_rate "
                f"({self.max_error_rate:g}): the judge would resume while still pausing"
            )
        return self
