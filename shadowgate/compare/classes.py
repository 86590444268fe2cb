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
    out: list[tuple[str, str]] = []
    for p, c in zip(prod, cand, strict=True):
        pc, cc = predicted_class(p), predicted_class(c)
        if pc is not None and cc is not None:
            out.append((pc, cc))
    return out
