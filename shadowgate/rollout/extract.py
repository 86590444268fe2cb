"""Each check's values from a batch of evidence: what the (metric, phase) table tests."""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from shadowgate.rollout.evidence import CanaryBatch, CanaryLabelBatch, Floats, LabelBatch, PairBatch

#: values (floats, or production's classes for prediction_shift), the second array (groups,
#: or the candidate's classes), segments
Extracted = tuple[npt.NDArray[Any], npt.NDArray[Any] | None, list[str | None]]


def _keep(mask: np.ndarray[Any, Any], segs: list[str | None]) -> list[str | None]:
    if segs.count(None) == len(segs):  # no segments (the usual case): only the count matters
        return [None] * int(np.count_nonzero(mask))
    return [s for s, k in zip(segs, mask.tolist(), strict=True) if k]


def values_for_pairs(metric: str, b: PairBatch) -> Extracted | None:
    if len(b) == 0:
        return None
    segs = b.segment or [None] * len(b)
    if metric == "errors":
        v = (b.cand_fail.astype(np.float64) - b.prod_fail.astype(np.float64) + 1.0) / 2.0
        return v, None, list(segs)
    if metric == "prediction_shift":
        if len(b.prod_class) == 0:
            return None
        return b.prod_class, b.cand_class, list(b.class_segment or [None] * len(b.prod_class))
    if metric == "latency":
        x = b.log_latency_ratio
    elif metric == "agreement":
        x = b.agreement
    else:
        return None
    ok = np.isfinite(x)
    return x[ok], None, _keep(ok, segs)


def clipped(x: Floats, bound: float | None) -> int:
    """How many finite losses fall outside [0, bound] (and are clipped into it)."""
    if bound is None:
        return 0
    ok = x[np.isfinite(x)]
    return int(np.count_nonzero((ok < 0) | (ok > bound)))


def values_for_labels(metric: str, b: LabelBatch, bound: float | None = None) -> Extracted | None:
    if len(b) == 0:
        return None
    segs = b.segment or [None] * len(b)
    if metric == "accuracy":
        d = b.cand_correct - b.prod_correct
        ok = np.isfinite(d)
        return (np.clip(d[ok], -1.0, 1.0) + 1.0) / 2.0, None, _keep(ok, segs)
    if metric == "loss" and bound is not None:  # to [0, 1], as errors: exact by betting
        d = np.clip(b.cand_loss, 0.0, bound) - np.clip(b.prod_loss, 0.0, bound)
        ok = np.isfinite(d)
        return (d[ok] + bound) / (2.0 * bound), None, _keep(ok, segs)
    if metric == "loss":
        d = b.cand_loss - b.prod_loss
        ok = np.isfinite(d)
        return d[ok], None, _keep(ok, segs)
    return None


def values_for_canary(metric: str, b: CanaryBatch) -> Extracted | None:
    if len(b) == 0:
        return None
    segs = b.segment or [None] * len(b)
    groups = b.candidate.astype(np.float64)
    if metric == "errors":
        return b.failed.astype(np.float64), groups, list(segs)
    if metric == "latency":
        ok = np.isfinite(b.log_latency)
        return b.log_latency[ok], groups[ok], _keep(ok, segs)
    return None


def values_for_canary_labels(
    metric: str, b: CanaryLabelBatch, bound: float | None = None
) -> Extracted | None:
    if len(b) == 0:
        return None
    segs = b.segment or [None] * len(b)
    groups = b.candidate.astype(np.float64)
    x = b.correct if metric == "accuracy" else b.loss if metric == "loss" else None
    if x is None:
        return None
    if metric == "loss" and bound is not None:
        x = np.clip(x, 0.0, bound)
    ok = np.isfinite(x)
    return x[ok], groups[ok], _keep(ok, segs)
