"""Bins from a reference sample: reference-quantile bins (numeric) or categories.

Bins are blocks of the *gaps* between the sorted reference values, with ties broken by
an independent uniform key ``u`` per value. Under the null (reference and monitored rows
exchangeable, e.g. i.i.d. from one distribution) the rank of each new row among the
reference is then exactly a uniformly random insertion, whatever the distribution (heavy
tails, ties, categories): a new row falls into gap ``g`` with probability
``(1 + rows already in g) / (N + 1 + rows so far)``, a Pólya urn. A bin of ``m`` gaps is
therefore hit with the known probability ``(m + hits) / (N + 1 + t)``, which is what the
e-process (:mod:`.eprocess`) bets against. Categories are coded by their sorted order and
bins end at category boundaries; one last bin (the gap after every reference value) holds
categories the reference never saw.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

Kind = Literal["numeric", "categorical"]
FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]


def _fmt(x: float) -> str:
    return f"{x:.4g}"


@dataclass(frozen=True)
class Binning:
    """Bin edges (a reference value and its tie-break key each) and gap counts per bin."""

    kind: Kind
    edge_values: FloatArray
    edge_u: FloatArray
    sizes: FloatArray  # gaps per bin; sums to N + 1
    labels: tuple[str, ...]
    categories: tuple[str, ...] = ()

    @property
    def bins(self) -> int:
        return len(self.sizes)

    def encode(self, values: Any) -> FloatArray:
        """Numeric values as float64 (NaN = missing); categories as their code."""
        if self.kind == "numeric":
            return np.asarray(values, dtype=np.float64).reshape(-1)
        unseen = float(len(self.categories))
        arr = np.ravel(values)  # a category is the str() of each of its elements
        kind = arr.dtype.kind
        if arr.size and (kind in "Ui" or (kind == "u" and arr.dtype.itemsize < 8)):
            # strings, or integers that int64 holds: vectorised lookups
            known, codes = (
                (self._sorted_categories, np.arange(len(self.categories)))
                if arr.dtype.kind == "U"
                else self._integer_categories
            )
            if not len(known):
                return np.full(arr.size, unseen)
            i = np.minimum(np.searchsorted(known, arr), len(known) - 1)
            return np.where(known[i] == arr, codes[i], unseen).astype(np.float64)
        lookup = {c: float(i) for i, c in enumerate(self.categories)}
        return np.array(
            [np.nan if v is None else lookup.get(str(v), unseen) for v in arr],
            dtype=np.float64,
        )

    @cached_property
    def _sorted_categories(self) -> npt.NDArray[np.str_]:
        """The categories as a numpy array (they are sorted: a code is a sorted position)."""
        return np.array(self.categories, dtype=str)

    @cached_property
    def _integer_categories(self) -> tuple[npt.NDArray[np.int64], IntArray]:
        """The categories that an integer's ``str()`` can be, as sorted integers, and their
        codes: an integer value is its ``str()``'s category, without making the string."""
        pairs = sorted(
            (v, i) for i, c in enumerate(self.categories) if (v := _int_of(c)) is not None
        )
        values = np.array([v for v, _ in pairs], dtype=np.int64)
        return values, np.array([i for _, i in pairs], dtype=np.int64)

    def assign(self, codes: FloatArray, u: FloatArray) -> IntArray:
        """Bin of each encoded value (NaN gives bin 0; mask it out)."""
        v, w = codes[:, None], u[:, None]
        above = (v > self.edge_values[None, :]) | ((v == self.edge_values) & (w > self.edge_u))
        out: IntArray = above.sum(axis=1).astype(np.int64)
        return out

    @classmethod
    def from_reference(
        cls, values: Any, kind: Kind, u: FloatArray, *, max_bins: int = 10
    ) -> Binning:
        """Bins from a reference sample; ``u`` is one uniform tie-break key per value."""
        if max_bins < 2:
            raise ValueError(f"max_bins must be at least 2; got {max_bins}")
        categories: tuple[str, ...] = ()
        if kind == "categorical":
            raw = [str(v) for v in np.ravel(values) if v is not None]
            categories = tuple(sorted(set(raw)))
            lookup = {c: float(i) for i, c in enumerate(categories)}
            codes = np.array([lookup[c] for c in raw], dtype=np.float64)
            u = u[: len(codes)]
        else:
            codes = np.asarray(values, dtype=np.float64).reshape(-1)
            keep = np.isfinite(codes)
            codes, u = codes[keep], u[: len(keep)][keep]
        n = len(codes)
        if n < max_bins:
            raise ValueError(f"the reference has {n} usable values; at least {max_bins} needed")
        order = np.lexsort((u, codes))
        sv, su = codes[order], u[order]
        if kind == "categorical":
            counts = np.bincount(sv.astype(np.int64), minlength=len(categories))
            inner = np.cumsum(counts)[:-1]
            if len(inner) > max_bins - 2:  # merge neighbouring categories into fewer bins
                targets = np.arange(1, max_bins - 1) * n / (max_bins - 1)
                inner = np.unique(inner[np.abs(inner[:, None] - targets).argmin(axis=0)])
            gaps = np.concatenate([inner, [n]]).astype(np.int64)
        else:
            gaps = np.unique(np.rint(np.arange(1, max_bins) * (n + 1) / max_bins).astype(np.int64))
            gaps = gaps[(gaps >= 1) & (gaps <= n)]
        sizes = np.diff(np.concatenate([[0], gaps, [n + 1]])).astype(np.float64)
        ev, eu = sv[gaps - 1], su[gaps - 1]
        return cls(kind, ev, eu, sizes, _labels(kind, ev, gaps, sv, categories), categories)

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "edge_values": self.edge_values.tolist(),
            "edge_u": self.edge_u.tolist(),
            "sizes": self.sizes.tolist(),
            "labels": list(self.labels),
            "categories": list(self.categories),
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Binning:
        return cls(
            d["kind"],
            np.asarray(d["edge_values"], dtype=np.float64),
            np.asarray(d["edge_u"], dtype=np.float64),
            np.asarray(d["sizes"], dtype=np.float64),
            tuple(d["labels"]),
            tuple(d["categories"]),
        )


def _int_of(category: str) -> int | None:
    """The int64 whose ``str()`` is ``category``, if there is one."""
    try:
        value = int(category)
    except ValueError:
        return None
    return value if str(value) == category and -(2**63) <= value < 2**63 else None


def _labels(
    kind: Kind, ev: FloatArray, gaps: IntArray, sv: FloatArray, categories: Sequence[str]
) -> tuple[str, ...]:
    if kind == "numeric":
        lows = ["-inf", *(_fmt(x) for x in ev)]
        highs = [*(_fmt(x) for x in ev), "inf"]
        return tuple(f"[{lo}, {hi})" for lo, hi in zip(lows, highs, strict=True))
    out: list[str] = []
    starts = np.concatenate([[0], gaps[:-1]])
    for a, b in zip(starts, gaps, strict=True):
        names = [categories[int(c)] for c in np.unique(sv[a:b])]
        out.append(",".join(names) if len(names) <= 5 else f"{','.join(names[:5])},…")
    out.append("(unseen)")
    return tuple(out)
