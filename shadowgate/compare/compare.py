"""Do two predictions agree? Per row, by task, symmetric in its two arguments.

Rules (``PredictionConfig.task``):

- **classification**: labels (strings, integers, booleans) are equal; a vector of scores or
  probabilities agrees when its argmax class is the same, and the probability gap (the
  largest absolute difference over classes) is reported next to it; a single probability
  is the positive class's, thresholded at 0.5.
- **regression**: numbers agree within ``tolerance`` (absolute) or ``rel_tolerance`` (a
  fraction of the larger magnitude), whichever is looser, as ``math.isclose`` does.
- **auto**: integers, strings and booleans are labels; floats use the tolerances; a vector
  of numbers in [0, 1] summing to 1 on both sides is a probability vector.

Containers compare element by element: lists must have equal lengths, dicts equal keys,
and fields named in ``ignore_fields`` (``id``, ``model_version``, timestamps, ...) are
skipped at every depth, because they differ between any two servers by nature.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from shadowgate.config.model import PredictionConfig

Task = Literal["auto", "classification", "regression"]

#: how far from 1 a vector's sum may be for "auto" to read it as probabilities
_PROB_SUM_TOLERANCE = 1e-3


@dataclass(frozen=True, slots=True)
class RowComparison:
    """The verdict on one row: whether both sides agree, and their probability gap if any."""

    agree: bool
    prob_gap: float | None = None


_DISAGREE = RowComparison(False)
_AGREE = RowComparison(True)


def _is_number(x: Any) -> bool:
    return isinstance(x, int | float) and not isinstance(x, bool)


def _numbers_close(a: float, b: float, cfg: PredictionConfig) -> bool:
    if math.isnan(a) or math.isnan(b):
        return math.isnan(a) and math.isnan(b)  # NaN agrees only with NaN
    if a == b:
        return True  # also covers equal infinities
    return math.isclose(a, b, rel_tol=cfg.rel_tolerance, abs_tol=cfg.tolerance)


def _looks_like_probabilities(v: Sequence[Any]) -> bool:
    if len(v) < 2 or not all(_is_number(x) and 0.0 <= x <= 1.0 for x in v):
        return False
    return abs(math.fsum(v) - 1.0) <= _PROB_SUM_TOLERANCE


def _argmax(v: Sequence[float]) -> int:
    return max(range(len(v)), key=lambda i: (v[i], -i))  # first index on ties


def _compare_scores(a: Sequence[float], b: Sequence[float]) -> RowComparison:
    pairs = list(zip(a, b, strict=True))
    if any(math.isnan(x) or math.isnan(y) for x, y in pairs):
        # no class can be read off NaN scores: agree only on identical vectors
        return RowComparison(all(x == y or (math.isnan(x) and math.isnan(y)) for x, y in pairs))
    gap = max(abs(x - y) for x, y in pairs)
    return RowComparison(_argmax(a) == _argmax(b), gap if math.isfinite(gap) else None)


def _compare_numbers(a: Any, b: Any, task: Task, cfg: PredictionConfig) -> RowComparison:
    if task == "classification":
        if isinstance(a, float) and isinstance(b, float) and 0 <= a <= 1 and 0 <= b <= 1:
            # a single probability of the positive class
            if a.is_integer() and b.is_integer():
                return RowComparison(a == b)
            return RowComparison((a >= 0.5) == (b >= 0.5), abs(a - b))
        both_nan = isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b)
        return RowComparison(bool(a == b) or both_nan)
    if task == "auto" and isinstance(a, int) and isinstance(b, int):
        return RowComparison(a == b)
    return RowComparison(_numbers_close(float(a), float(b), cfg))


def _compare_lists(a: list[Any], b: list[Any], task: Task, cfg: PredictionConfig) -> RowComparison:
    if len(a) != len(b):
        return _DISAGREE
    numeric = len(a) >= 2 and all(_is_number(x) for x in (*a, *b))
    scores = task == "classification" or (
        task == "auto" and _looks_like_probabilities(a) and _looks_like_probabilities(b)
    )
    if numeric and scores:
        return _compare_scores(a, b)
    return _combine([compare_values(x, y, cfg, task) for x, y in zip(a, b, strict=True)])


def _combine(parts: Sequence[RowComparison]) -> RowComparison:
    gaps = [p.prob_gap for p in parts if p.prob_gap is not None]
    return RowComparison(all(p.agree for p in parts), max(gaps) if gaps else None)


def compare_values(
    a: Any, b: Any, cfg: PredictionConfig, task: Task | None = None
) -> RowComparison:
    """Compare one row's predictions from both sides (any JSON value) under ``cfg``."""
    task = cfg.task if task is None else task
    if _is_number(a) and _is_number(b):
        return _compare_numbers(a, b, task, cfg)
    if isinstance(a, list) and isinstance(b, list):
        return _compare_lists(a, b, task, cfg)
    if isinstance(a, dict) and isinstance(b, dict):
        ignored = set(cfg.ignore_fields)
        keys_a = a.keys() - ignored
        if keys_a != b.keys() - ignored:
            return _DISAGREE
        return _combine([compare_values(a[k], b[k], cfg, task) for k in sorted(keys_a)])
    if type(a) is not type(b):
        return _DISAGREE
    return _AGREE if a == b else _DISAGREE  # strings, booleans, null
