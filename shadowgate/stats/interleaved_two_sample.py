"""InterleavedTwoSampleTest: a canary's threshold test on bounded outcomes that come in bursts.

The canary counterpart of :class:`~shadowgate.stats.interleaved.InterleavedMeanTest`. In a
canary each request is served by one variant only, so there are no pairs to difference;
its tests compare the two variants' means (:class:`~shadowgate.stats.two_sample.TwoSampleMeanTest`).
When errors come in bad minutes, a stretch before the candidate's first burst looks like
evidence that it fails rarely, and a plug-in variance read on that stretch is too small:
``shadowgate simulate`` shows a candidate failing twice as often as production promoted
in a tenth of runs.

If outcomes ``spacing`` or more requests apart are independent (bursts shorter than
``spacing``), the requests split into ``spacing`` interleaved lanes -- requests 0, k, 2k,
...; 1, k + 1, ...; and so on, k = spacing -- each made of independent outcomes. Within
a lane, pairs are formed as requests arrive: a request is paired with the latest
unpaired request of the other variant in its lane, or else waits (replacing an older
waiting one of its own variant, which is dropped). Which requests pair depends only on
the variants the router assigned, never on outcomes, and a pair's two requests are
neighbours in their lane, so under random assignment each pair's difference
``candidate - production`` is an independent value whose mean is the difference of the
variants' means, even when those drift slowly. Each lane's differences, mapped to [0, 1]
by ``(d / scale + 1) / 2``, feed that lane's aGRAPA bettor, exact for bounded data, and
the test rejects when any bettor reaches ``spacing / alpha`` (Ville's inequality and a
union bound): ``p = min(1, spacing * min_j p_j)``.

The price: only pairs count (at a 50 % canary about a quarter of requests, at 10 % about
a tenth -- nearly every candidate request), and a quiet stretch of ``n`` requests holds
about ``n / spacing`` independent looks, as in shadow mode.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import numpy.typing as npt

from shadowgate.stats._core import as_float_row
from shadowgate.stats.interleaved import InterleavedMeanTest


class InterleavedTwoSampleTest(InterleavedMeanTest):
    """Threshold test for ``mean(candidate) - mean(production)`` of outcomes in
    ``[0, scale]``, valid when outcomes ``spacing`` requests apart are independent.

    ``alternative="less"``: H0 ``d >= margin`` (rejecting: the candidate is higher by less
    than ``margin``); ``"greater"``: H0 ``d <= margin``.
    """

    kind = "interleaved_two_sample"
    params = ("margin", "alternative", "alpha", "spacing", "scale")

    def __init__(
        self,
        *,
        margin: float = 0.0,
        alternative: str = "less",
        alpha: float = 0.05,
        spacing: int = 1,
        scale: float = 1.0,
    ) -> None:
        if not (isinstance(scale, (int, float)) and math.isfinite(scale) and scale > 0.0):
            raise ValueError(f"scale must be a finite number > 0; got {scale!r}")
        if not -scale <= margin <= scale:
            raise ValueError(f"margin must lie in [-scale, scale]; got {margin!r}")
        super().__init__(
            threshold=(1.0 + margin / scale) / 2.0,
            alternative=alternative,
            alpha=alpha,
            spacing=spacing,
        )
        self.margin = float(margin)
        self.scale = float(scale)
        self._requests = 0
        # per variant (production, candidate), per lane: the unpaired value waiting, if any
        self._waiting: list[list[float | None]] = [[None] * spacing, [None] * spacing]

    def update(self, values: npt.ArrayLike, groups: npt.ArrayLike) -> None:  # type: ignore[override]
        """Add outcomes in arrival order with their variants (0 = production, 1 = candidate)."""
        x = as_float_row(values, "values")[0]
        g = np.asarray(groups).reshape(-1)
        if g.shape[0] != x.shape[0]:
            raise ValueError(f"values and groups differ in length: {x.shape[0]} != {g.shape[0]}")
        if len(x) == 0:
            return
        if not np.all((g == 0) | (g == 1)):
            raise ValueError("groups must be 0 (production) or 1 (candidate)")
        if not np.all((x >= 0.0) & (x <= self.scale)):
            raise ValueError(f"values must lie in [0, {self.scale:g}] (the scale)")
        lanes, diffs = self._pair(x.tolist(), g.astype(int).tolist())
        self._requests += len(x)
        if lanes:
            u = np.clip((np.asarray(diffs) / self.scale + 1.0) / 2.0, 0.0, 1.0)
            self._feed(np.asarray(lanes, dtype=np.intp), u)

    def _pair(self, x: list[float], g: list[int]) -> tuple[list[int], list[float]]:
        k = self.spacing
        waiting = self._waiting
        lanes: list[int] = []
        diffs: list[float] = []
        lane = self._requests % k
        for v, gi in zip(x, g, strict=True):
            other = waiting[1 - gi][lane]
            if other is None:
                waiting[gi][lane] = v
            else:
                waiting[1 - gi][lane] = None
                lanes.append(lane)
                diffs.append(v - other if gi == 1 else other - v)
            lane = lane + 1 if lane + 1 < k else 0
        return lanes, diffs

    @property
    def n(self) -> int:
        """Requests seen (both variants)."""
        return self._requests

    @property
    def pairs(self) -> int:
        return self._n

    @property
    def estimate(self) -> float:
        """Mean paired difference, candidate - production (NaN before the first pair)."""
        return (2.0 * super().estimate - 1.0) * self.scale

    def confidence_interval(self, alpha: float = 0.05) -> tuple[float, float]:
        lo, hi = super().confidence_interval(alpha)
        return ((2.0 * lo - 1.0) * self.scale, (2.0 * hi - 1.0) * self.scale)

    def _dump_state(self) -> dict[str, Any]:
        waiting = [list(row) for row in self._waiting]
        return {**super()._dump_state(), "requests": self._requests, "waiting": waiting}

    def _load_state(self, d: Mapping[str, Any]) -> None:
        super()._load_state(d)
        waiting = [[None if v is None else float(v) for v in row] for row in d["waiting"]]
        if len(waiting) != 2 or any(len(row) != self.spacing for row in waiting):
            raise ValueError(f"state does not hold 2 x {self.spacing} waiting values")
        self._requests = int(d["requests"])
        self._waiting = waiting
