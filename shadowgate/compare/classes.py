"""Each row's predicted class, for the prediction_shift check (``rollout.checks``).

A row's class is the argmax index of a vector of scores (probabilities, logits) and the
label itself for a label (a string, an integer or a boolean). Numbers that are not labels
(a regression's values), objects, NaN scores and missing rows have no class: such rows are
left out, never guessed at. Indices and integer labels are both written as decimal
strings, so a side answering scores and a side answering class indices compare by class.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np


def predicted_class(pred: Any) -> str | None:
    """The class one row's prediction names, or None when it names none."""
    if isinstance(pred, bool):
        return str(pred).lower()
    if isinstance(pred, int | str):
        return str(pred)
    if isinstance(pred, list) and pred:
        if not all(isinstance(x, int | float) and not isinstance(x, bool) for x in pred):
            return None
        if not all(math.isfinite(x) for x in pred):
            return None
        return str(max(range(len(pred)), key=pred.__getitem__))
    return None


def paired_classes(prod: Sequence[Any] | None, cand: Sequence[Any] | None) -> list[tuple[str, str]]:
    """(production, candidate) class of every row where both sides name one."""
    if prod is None or cand is None or len(prod) != len(cand):
        return []
    pairs = zip(row_classes(prod), row_classes(cand), strict=True)
    return [(p, c) for p, c in pairs if p is not None and c is not None]


def row_classes(preds: Sequence[Any]) -> list[str | None]:
    """:func:`predicted_class` of every row; score matrices in one numpy pass."""
    if preds and all(type(x) is list and x for x in preds) and type(preds[0][0]) is float:
        try:
            m = np.asarray(preds, dtype=np.float64)
        except (TypeError, ValueError):  # ragged, or not all numbers
            m = None
        if m is not None and m.ndim == 2 and not any(type(v) is bool for x in preds for v in x):
            ok: list[bool] = np.asarray(np.isfinite(m).all(axis=1), dtype=bool).tolist()
            best: list[int] = m.argmax(axis=1).tolist()
            return [str(i) if k else None for i, k in zip(best, ok, strict=True)]
    return [predicted_class(p) for p in preds]
