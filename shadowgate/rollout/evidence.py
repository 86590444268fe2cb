"""Columnar evidence the judge feeds to a route's checks, one batch per look.

The judge turns stored outcomes into these arrays; the checks never see rows, clocks
or I/O. NaN marks "not available" (a failed side has no latency, an unlabeled pair
has no loss) and is skipped by the check that needs the value.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

Floats = npt.NDArray[np.float64]
Bools = npt.NDArray[np.bool_]
Objects = npt.NDArray[np.object_]


def _empty_f() -> Floats:
    return np.empty(0, dtype=np.float64)


def _empty_b() -> Bools:
    return np.empty(0, dtype=np.bool_)


def _empty_o() -> Objects:
    return np.empty(0, dtype=object)


@dataclass
class PairBatch:
    """Shadow-mode pairs: production and candidate answered the same request."""

    prod_fail: Bools = field(default_factory=_empty_b)
    cand_fail: Bools = field(default_factory=_empty_b)
    #: log(candidate latency / production latency); NaN when either side failed
    log_latency_ratio: Floats = field(default_factory=_empty_f)
    #: share of rows whose predictions agree, per request; NaN when not comparable
    agreement: Floats = field(default_factory=_empty_f)
    segment: list[str | None] = field(default_factory=list)
    #: request times (only ``analysis.label_window`` needs them: pairs due for labels)
    request_at: Floats = field(default_factory=_empty_f)
    #: per row (not per request): each side's predicted class, for rows where both have one
    prod_class: Objects = field(default_factory=_empty_o)
    cand_class: Objects = field(default_factory=_empty_o)
    class_segment: list[str | None] = field(default_factory=list)  # the row's request's

    def __len__(self) -> int:
        return len(self.prod_fail)


@dataclass
class LabelBatch:
    """Shadow-mode pairs whose ground-truth label has arrived (one entry per pair)."""

    prod_correct: Floats = field(default_factory=_empty_f)  # accuracy per pair, in [0, 1]
    cand_correct: Floats = field(default_factory=_empty_f)
    prod_loss: Floats = field(default_factory=_empty_f)
    cand_loss: Floats = field(default_factory=_empty_f)
    segment: list[str | None] = field(default_factory=list)
    #: the pair's request time and its label's arrival (for ``analysis.label_window``)
    request_at: Floats = field(default_factory=_empty_f)
    label_at: Floats = field(default_factory=_empty_f)

    def __len__(self) -> int:
        return len(self.prod_correct)


@dataclass
class CanaryBatch:
    """Canary-mode outcomes: one variant served each request."""

    candidate: Bools = field(default_factory=_empty_b)  # True: the candidate served it
    failed: Bools = field(default_factory=_empty_b)
    log_latency: Floats = field(default_factory=_empty_f)  # NaN when it failed
    #: False for requests whose variant was forced by a header (kept out of the SRM check)
    assigned: Bools = field(default_factory=_empty_b)
    segment: list[str | None] = field(default_factory=list)
    request_at: Floats = field(default_factory=_empty_f)  # as in ``PairBatch``

    def __len__(self) -> int:
        return len(self.candidate)


@dataclass
class CanaryLabelBatch:
    """Canary-mode outcomes whose label has arrived."""

    candidate: Bools = field(default_factory=_empty_b)
    correct: Floats = field(default_factory=_empty_f)
    loss: Floats = field(default_factory=_empty_f)
    segment: list[str | None] = field(default_factory=list)
    request_at: Floats = field(default_factory=_empty_f)  # as in ``LabelBatch``
    label_at: Floats = field(default_factory=_empty_f)

    def __len__(self) -> int:
        return len(self.candidate)
