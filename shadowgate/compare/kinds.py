"""What kind of output each side answers, and a mapping when two kinds can still be compared.

A candidate that answers class probabilities where production answers labels disagrees on
every row when compared value by value, and "agreement below the minimum" says nothing
about why. The outcome records the difference instead (``extra["kind_mismatch"]``, e.g.
``"production: labels [32]; candidate: probabilities [32,2]"``), and where the mapping is
unambiguous (integer class labels on one side, vectors of K scores on the other, every
label a class index below K) the vectors are read as their argmax class, so agreement
measures whether both models pick the same class (``prediction.map_kinds``, on by default).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from shadowgate.compare.batch import as_matrix

#: how far from 1 a vector's sum may be to be described as probabilities
_PROB_SUM_TOLERANCE = 1e-3
_LABEL_TYPES = frozenset({str, int, bool})
#: what ``extra["kind_mapped"]`` says when the sides were compared by class all the same
MAPPED = "argmax of the score vectors compared with the class labels"


@dataclass(frozen=True, slots=True)
class OutputKind:
    """One side's output: ``labels``, ``values`` (floats), ``vectors`` (K floats per row,
    described as probabilities or scores) or ``objects``, its width and tensor datatype."""

    kind: str
    rows: int
    width: int | None
    datatype: str | None
    #: the first row of a ``vectors`` output, to describe it (read only when shown)
    sample: tuple[float, ...] = ()

    @property
    def key(self) -> tuple[str, int | None, str | None]:
        """What must be equal for two outputs to be of one kind (rows are paired apart)."""
        return self.kind, self.width, self.datatype

    def __str__(self) -> str:
        kind = self.kind
        if kind == "vectors":
            v = self.sample
            probs = (
                all(0.0 <= x <= 1.0 for x in v) and abs(math.fsum(v) - 1.0) <= _PROB_SUM_TOLERANCE
            )
            kind = "probabilities" if probs else "scores"
        shape = f"[{self.rows}]" if self.width is None else f"[{self.rows},{self.width}]"
        return f"{kind} {shape}" + (f" {self.datatype}" if self.datatype else "")


def output_kind(preds: Sequence[Any], datatype: str | None = None) -> OutputKind:
    """The kind of a side's per-row predictions (cheap: types, widths, the first row)."""
    n = len(preds)
    types = set(map(type, preds))
    if types <= _LABEL_TYPES and types:
        return OutputKind("labels", n, None, datatype)
    if types == {float}:
        return OutputKind("values", n, None, datatype)
    if types == {list}:
        first = preds[0]
        if set(map(type, first)) == {float} and set(map(len, preds)) == {len(first)}:
            return OutputKind("vectors", n, len(first), datatype, tuple(first))
    return OutputKind("objects" if n else "labels", n, None, datatype)


def mismatch(prod: OutputKind, cand: OutputKind) -> str | None:
    """``"production: …; candidate: …"`` when the two outputs differ in kind, else None."""
    if prod.key == cand.key:
        return None
    return f"production: {prod}; candidate: {cand}"


def _argmax_labels(preds: Sequence[Any], width: int) -> list[int] | None:
    m = as_matrix(preds)
    if m is None or m.ndim != 2 or m.shape[1] != width or np.isnan(m).any():
        return None
    out: list[int] = np.argmax(m, axis=1).tolist()
    return out


def _class_labels(preds: Sequence[Any], width: int) -> bool:
    return all(type(x) is int and 0 <= x < width for x in preds)


def map_kinds(
    prod: Sequence[Any], cand: Sequence[Any], pk: OutputKind, ck: OutputKind
) -> tuple[list[Any], list[Any]] | None:
    """Both sides as class labels, when one answers labels and the other score vectors.

    None when the mapping is not unambiguous: labels that are not all class indices below
    the vectors' width (strings, say: their order among the classes is unknown), NaN
    scores, or any other pair of kinds.
    """
    sides = ((prod, cand, pk, ck, True), (cand, prod, ck, pk, False))
    for labels, vectors, lk, vk, labels_first in sides:
        if lk.kind != "labels" or vk.kind != "vectors" or vk.width is None:
            continue
        if not _class_labels(labels, vk.width):
            return None
        mapped = _argmax_labels(vectors, vk.width)
        if mapped is None:
            return None
        return (list(labels), mapped) if labels_first else (mapped, list(labels))
    return None
