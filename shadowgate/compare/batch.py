"""Compare a whole batch of rows at once: numpy for numbers, one pass per batch.

A model server's answer is nearly always homogeneous: every row a float (a score or a
regression value), a vector of K floats (class probabilities), or a label (string, integer,
boolean). Such batches are compared as arrays (argmax, probability gap, tolerance) in a few
numpy operations instead of a Python call per element. Anything else (dicts, nested lists,
rows of mixed types, None) goes row by row through :func:`~.compare.compare_values`, the
definition of the rules. Both give the same verdicts: the tests check it on generated
payloads against the per-element implementation this replaced.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import chain
from typing import Any

import numpy as np
import numpy.typing as npt

from shadowgate.compare.compare import (
    _PROB_SUM_TOLERANCE,
    RowComparison,
    Task,
    compare_values,
)
from shadowgate.config.model import PredictionConfig
from shadowgate.model.outcome import FloatRows

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]

#: batches with fewer values than this go row by row: numpy's per-call cost is higher there
MIN_VECTOR_SIZE = 16

#: label types compared by equality alone (integers only when the task is not regression)
_LABEL_TYPES = (str, bool)


@dataclass(frozen=True, slots=True)
class BatchComparison:
    """Per-row verdicts of a batch: agreement, and the probability gap (None: no probabilities)."""

    agree: list[bool]
    prob_gap: list[float | None]

    def rows(self) -> list[RowComparison]:
        return [RowComparison(a, g) for a, g in zip(self.agree, self.prob_gap, strict=True)]


def as_matrix(rows: Sequence[Any]) -> FloatArray | None:
    """The rows as a float array, (N,) for float rows or (N, K) for rows of K floats.

    None unless every row is a float, or every row a list of the same number (≥ 1) of
    floats: integers, booleans and None keep their own rules, so they are not cast.
    """
    if isinstance(rows, FloatRows):
        return rows.matrix  # built from the answer's flat data when it was split
    if not rows:
        return None
    types = set(map(type, rows))
    if types == {float}:
        return np.array(rows, dtype=np.float64)
    if types != {list}:
        return None
    widths = set(map(len, rows))
    if len(widths) != 1 or 0 in widths:
        return None
    if set(map(type, chain.from_iterable(rows))) != {float}:
        return None
    (k,) = widths
    flat = np.fromiter(chain.from_iterable(rows), np.float64, len(rows) * k)
    return flat.reshape(len(rows), k)


def _close(a: FloatArray, b: FloatArray, cfg: PredictionConfig) -> BoolArray:
    """``math.isclose`` element-wise, where NaN agrees only with NaN (see ``_numbers_close``).

    ``diff <= rel * |b| or diff <= rel * |a| or diff <= tol`` is one comparison against
    ``max(rel * max(|a|, |b|), tol)``: scaling by a non-negative number keeps the order.
    """
    diff = np.abs(a - b)
    rel = cfg.rel_tolerance
    bound = np.maximum(rel * np.maximum(np.abs(a), np.abs(b)), cfg.tolerance) if rel else None
    near = diff <= (cfg.tolerance if bound is None else bound)
    if _finite(a, b):
        return near
    finite = np.isfinite(a) & np.isfinite(b)
    out: BoolArray = (a == b) | (np.isnan(a) & np.isnan(b)) | (finite & near)
    return out


def _bools(flags: BoolArray | np.bool_) -> list[bool]:
    out: list[bool] = np.asarray(flags).tolist()
    return out


def _finite(a: FloatArray, b: FloatArray) -> bool:
    """No NaN and no infinity on either side (a sum overflowing only sends it the long way)."""
    return math.isfinite(float(a.sum()) + float(b.sum()))


def _scalars(a: FloatArray, b: FloatArray, task: Task, cfg: PredictionConfig) -> BatchComparison:
    n = len(a)
    if task != "classification":
        return BatchComparison(_close(a, b, cfg).tolist(), [None] * n)
    # a single probability of the positive class, thresholded at 0.5 (see _compare_numbers)
    prob = (a >= 0) & (a <= 1) & (b >= 0) & (b <= 1)
    whole = prob & (np.floor(a) == a) & (np.floor(b) == b)
    graded = prob & ~whole
    agree = np.where(graded, (a >= 0.5) == (b >= 0.5), (a == b) | (np.isnan(a) & np.isnan(b)))
    gaps = np.abs(a - b).tolist()
    graded_gaps = [g if s else None for g, s in zip(gaps, graded.tolist(), strict=True)]
    return BatchComparison(agree.tolist(), graded_gaps)


def _all_probabilities(a: FloatArray, b: FloatArray) -> bool:
    """Every row of both sides is clearly a probability vector (the usual batch), at once."""
    both = np.concatenate((a, b))
    band = 1e-12 + a.shape[1] * 4.5e-16
    if not (both.min() >= 0 and both.max() <= 1):  # NaN fails both comparisons
        return False
    return bool(np.abs(both.sum(axis=1) - 1.0).max() < _PROB_SUM_TOLERANCE - band)


def _probability_rows(m: FloatArray) -> BoolArray:
    """Rows that read as probability vectors: all in [0, 1], summing to 1 within 1e-3."""
    in_range: BoolArray
    if m.min() >= 0 and m.max() <= 1:  # NaN fails both, and takes the row-wise path
        in_range = np.ones(m.shape[0], dtype=bool)
    else:
        in_range = np.asarray(((m >= 0) & (m <= 1)).all(axis=1))
    off = np.abs(m.sum(axis=1) - 1.0)
    ok: BoolArray = in_range & (off <= _PROB_SUM_TOLERANCE)
    # numpy's pairwise sum can differ from math.fsum in the last bits: rows this close to
    # the tolerance are summed exactly, so the verdict is the same as the reference's
    near = np.abs(off - _PROB_SUM_TOLERANCE) <= 1e-12 + m.shape[1] * 4.5e-16
    if near.any():
        for i in np.flatnonzero(in_range & near).tolist():
            ok[i] = abs(math.fsum(m[i].tolist()) - 1.0) <= _PROB_SUM_TOLERANCE
    return ok


def _score_rows(a: FloatArray, b: FloatArray) -> tuple[list[bool], list[float | None]]:
    """Agreement (same argmax class) and probability gap of score vectors."""
    gap = np.abs(a - b)
    if _finite(a, b):
        agree = np.argmax(a, axis=1) == np.argmax(b, axis=1)
        return agree.tolist(), gap.max(axis=1).tolist()
    has_nan = np.isnan(a).any(axis=1) | np.isnan(b).any(axis=1)
    # NaN scores name no class: such rows agree only on identical vectors, without a gap
    same = ((a == b) | (np.isnan(a) & np.isnan(b))).all(axis=1)
    agree = np.where(has_nan, same, np.argmax(a, axis=1) == np.argmax(b, axis=1))
    # the reference takes max() over the row left to right, which keeps a NaN only in the
    # first place (inf - inf) and skips it elsewhere; non-finite gaps are reported as none
    top = np.where(np.isnan(gap), -np.inf, gap).max(axis=1)
    bad = has_nan | np.isnan(gap[:, 0]) | ~np.isfinite(top)
    gaps = [None if x else g for g, x in zip(top.tolist(), bad.tolist(), strict=True)]
    return agree.tolist(), gaps


def _matrix(a: FloatArray, b: FloatArray, task: Task, cfg: PredictionConfig) -> BatchComparison:
    n = a.shape[0]
    if task == "regression":
        return BatchComparison(_bools(_close(a, b, cfg).all(axis=1)), [None] * n)
    if task == "classification":
        return BatchComparison(*_score_rows(a, b))
    if _all_probabilities(a, b):
        return BatchComparison(*_score_rows(a, b))
    scores = _probability_rows(a) & _probability_rows(b)
    agree = _bools(_close(a, b, cfg).all(axis=1))  # element-wise tolerance, when not scores
    gap: list[float | None] = [None] * n
    if scores.any():
        which = np.flatnonzero(scores).tolist()
        s_agree, s_gap = _score_rows(a[scores], b[scores])
        for i, ag, g in zip(which, s_agree, s_gap, strict=True):
            agree[i], gap[i] = ag, g
    return BatchComparison(agree, gap)


def _labels(a: Sequence[Any], b: Sequence[Any], task: Task) -> BatchComparison | None:
    """Rows that are all labels of one type on both sides compare by equality."""
    ta, tb = set(map(type, a)), set(map(type, b))
    if len(ta) != 1 or ta != tb:
        return None
    (t,) = ta
    if t in _LABEL_TYPES or (t is int and task != "regression"):
        return BatchComparison([x == y for x, y in zip(a, b, strict=True)], [None] * len(a))
    return None


def _same_length(a: Sequence[Any], b: Sequence[Any], cfg: PredictionConfig) -> BatchComparison:
    first = a[0]
    if len(a) * (len(first) if isinstance(first, list) else 1) < MIN_VECTOR_SIZE:
        return _row_by_row(a, b, cfg)
    with np.errstate(all="ignore"):  # inf - inf and overflows are handled, not warned about
        return _vectorised(a, b, cfg)


def _row_by_row(a: Sequence[Any], b: Sequence[Any], cfg: PredictionConfig) -> BatchComparison:
    rows = [compare_values(x, y, cfg) for x, y in zip(a, b, strict=True)]
    return BatchComparison([r.agree for r in rows], [r.prob_gap for r in rows])


def _vectorised(a: Sequence[Any], b: Sequence[Any], cfg: PredictionConfig) -> BatchComparison:
    task = cfg.task
    ma, mb = as_matrix(a), as_matrix(b)
    if ma is not None and mb is not None and ma.shape == mb.shape:
        if ma.ndim == 1:
            return _scalars(ma, mb, task, cfg)
        if ma.shape[1] == 1:  # one-element lists compare as their element does
            return _scalars(ma[:, 0], mb[:, 0], task, cfg)
        return _matrix(ma, mb, task, cfg)
    labels = _labels(a, b, task)
    return labels if labels is not None else _row_by_row(a, b, cfg)


def compare_batch(
    prod: Sequence[Any], cand: Sequence[Any], cfg: PredictionConfig
) -> BatchComparison:
    """Pair two sides' predictions row by row (see :func:`compare_rows`), as two lists."""
    m = min(len(prod), len(cand))
    if len(prod) == len(cand):
        return _same_length(prod, cand, cfg) if m else BatchComparison([], [])
    head = _same_length(prod[:m], cand[:m], cfg) if m else BatchComparison([], [])
    extra = max(len(prod), len(cand)) - m
    return BatchComparison(head.agree + [False] * extra, head.prob_gap + [None] * extra)


def compare_rows(
    prod: Sequence[Any], cand: Sequence[Any], cfg: PredictionConfig
) -> list[RowComparison]:
    """Pair two sides' predictions row by row.

    When the sides return different numbers of rows, the rows only one side answered
    disagree, so a candidate that drops or invents rows never looks better for it.
    """
    return compare_batch(prod, cand, cfg).rows()
