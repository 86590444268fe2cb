"""InterleavedMeanTest: a threshold test for a mean in [0, 1] when values come in bursts.

Betting tests (:class:`~shadowgate.stats.bounded.BoundedMeanCS`) are exact when each value
is independent of the ones before it. Errors that come in bad minutes are not: after a
quiet stretch the next request is very likely quiet too, and a bettor that the stream
is better than the threshold wins on every quiet request, so a worse candidate whose
errors are bunched passes (``shadowgate simulate`` shows it).

If values ``spacing`` or more requests apart are independent (bursts, and the memory of
the load that causes them, shorter than ``spacing``), the stream splits into ``spacing``
interleaved subsequences -- values 0, k, 2k, ...; 1, k + 1, ...; and so on, k = spacing --
each made of independent values. Each subsequence gets its own aGRAPA betting test, exact
for bounded data; the test rejects when any of them reaches ``spacing / alpha`` (Ville's
inequality and a union bound), so

    p = min(1, spacing * min_j p_j).

The price is the one the data set: with bursts up to ``spacing`` requests long, a quiet
stretch of ``n`` requests holds about ``n / spacing`` independent looks, so passing on a
nearly error-free stream takes about ``spacing`` times as many requests (plus the
``log(spacing)`` of the union bound). No test can do better without a shorter bound on
the bursts. ``spacing=1`` is a single betting test, the same as ``BoundedMeanCS(bets="grapa")``.

The subsequences' bets are updated together: whole rounds of ``spacing`` values as running
sums along each subsequence, so a batch costs a few array operations whatever its length
and ``spacing``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, ClassVar

import numpy as np
import numpy.typing as npt

from shadowgate.stats._core import (
    EProcessReadout,
    FloatArray,
    as_float_row,
    check_alpha,
    check_alternative,
)
from shadowgate.stats.bounded import GRAPA_CAP, MAX_BET

#: per subsequence: count, sum x, sum of squared deviations, the two aGRAPA log wealths
#: ("greater", "less"), the running maximum of the tested one, and the empirical-Bernstein
#: sums of the confidence interval (sum lambda, sum lambda x, sum v psi(lambda))
FIELDS = ("t", "sx", "sq", "up", "down", "best", "sl", "slx", "svp")


class InterleavedMeanTest(EProcessReadout):
    """Threshold test for a mean in [0, 1], valid when values ``spacing`` apart are independent."""

    kind = "interleaved_mean"
    params: ClassVar[tuple[str, ...]] = ("threshold", "alternative", "alpha", "spacing")

    def __init__(
        self,
        *,
        threshold: float,
        alternative: str = "less",
        alpha: float = 0.05,
        spacing: int = 1,
    ) -> None:
        if isinstance(spacing, bool) or not isinstance(spacing, int) or spacing < 1:
            raise ValueError(f"spacing must be a whole number >= 1; got {spacing!r}")
        if not 0.0 <= threshold <= 1.0:
            raise ValueError(f"threshold must be in [0, 1]; got {threshold!r}")
        self.threshold = float(threshold)
        self.alternative = check_alternative(alternative)
        self.alpha = check_alpha(alpha)
        self.spacing = spacing
        self._s: FloatArray = np.zeros((len(FIELDS), spacing))
        self._n = 0
        self._log_e = -math.log(spacing)
        self._max_log_e = 0.0

    def update(self, values: npt.ArrayLike) -> None:
        """Add values in [0, 1] in arrival order (value i of the stream goes to bettor i mod k)."""
        x = as_float_row(values, "values")[0]
        if len(x) == 0:
            return
        if np.any((x < 0.0) | (x > 1.0)):
            raise ValueError("values must lie in [0, 1]; rescale bounded scores first")
        k = self.spacing
        first = self._n % k
        # the rest of the current round, then whole rounds at once, then a partial round
        head = min(len(x), (k - first) % k)
        if head:
            self._step(np.arange(first, first + head), x[:head])
        rounds = (len(x) - head) // k
        if rounds:
            self._rounds(x[head : head + rounds * k].reshape(rounds, k).T)
        tail = x[head + rounds * k :]
        if len(tail):
            self._step(np.arange(len(tail)), tail)
        self._n += len(x)
        self._read()

    def _feed(self, lanes: npt.NDArray[np.intp], x: FloatArray) -> None:
        """Values in [0, 1] for named bettors, in arrival order (``x[i]`` goes to bettor
        ``lanes[i]``): by rank within each bettor, so every bettor sees its own in order."""
        order = np.argsort(lanes, kind="stable")
        ranked = lanes[order]
        starts = np.flatnonzero(np.r_[True, ranked[1:] != ranked[:-1]])
        rank = np.empty(len(x), dtype=np.intp)
        rank[order] = np.arange(len(x)) - np.repeat(starts, np.diff(np.r_[starts, len(x)]))
        for r in range(int(rank.max()) + 1):
            sel = rank == r
            self._step(lanes[sel], x[sel])
        self._n += len(x)
        self._read()

    def _rounds(self, x: FloatArray) -> None:
        """Whole rounds: ``x[j]`` are bettor j's next values. Running sums along each row
        add in the order single steps add, so the state is bit-identical to ``_step``."""
        t0, sx0, sq0, up0, down0, best, sl0, slx0, svp0 = self._s
        thr = self.threshold
        t = t0[:, None] + np.arange(1.0, x.shape[1] + 1.0)[None, :]
        sx = _run(sx0, x)  # before each value, then after the last
        mu_now = (0.5 + sx[:, 1:]) / (t + 1.0)
        sq = _run(sq0, (x - mu_now) ** 2)
        mu = (0.5 + sx[:, :-1]) / t
        var = (0.25 + sq[:, :-1]) / t
        gap = mu - thr
        raw = gap / (var + gap * gap)
        lam_up = np.clip(raw, 0.0, GRAPA_CAP / max(thr, 1e-12))
        lam_down = np.clip(-raw, 0.0, GRAPA_CAP / max(1.0 - thr, 1e-12))
        with np.errstate(divide="ignore"):
            up = _run(up0, np.log1p(lam_up * (x - thr)))[:, 1:]
            down = _run(down0, np.log1p(lam_down * (thr - x)))[:, 1:]
        tested = self._tested(up, down)
        a = self.alpha / self.spacing
        lam = np.minimum(np.sqrt(2.0 * math.log(2.0 / a) / (var * t * np.log1p(t))), MAX_BET)
        s = self._s
        s[0], s[1], s[2] = t[:, -1], sx[:, -1], sq[:, -1]
        s[3], s[4] = up[:, -1], down[:, -1]
        s[5] = np.maximum(best, np.maximum.accumulate(tested, axis=1)[:, -1])
        s[6] = _run(sl0, lam)[:, -1]
        s[7] = _run(slx0, lam * x)[:, -1]
        s[8] = _run(svp0, (x - mu) ** 2 * (-np.log1p(-lam) - lam))[:, -1]

    def _tested(self, up: FloatArray, down: FloatArray) -> FloatArray:
        if self.alternative == "greater":
            return up
        if self.alternative == "less":
            return down
        out: FloatArray = np.logaddexp(up, down) - math.log(2.0)
        return out

    def _step(self, idx: npt.NDArray[np.intp], x: FloatArray) -> None:
        t0, sx, sq, up, down, best, sl, slx, svp = self._s[:, idx]
        thr = self.threshold
        t = t0 + 1.0
        mu = (0.5 + sx) / t  # the mean and variance before this value (as BoundedMeanCS)
        var = (0.25 + sq) / t
        gap = mu - thr
        raw = gap / (var + gap * gap)
        lam_up = np.clip(raw, 0.0, GRAPA_CAP / max(thr, 1e-12))
        lam_down = np.clip(-raw, 0.0, GRAPA_CAP / max(1.0 - thr, 1e-12))
        with np.errstate(divide="ignore"):
            up = up + np.log1p(lam_up * (x - thr))
            down = down + np.log1p(lam_down * (thr - x))
        tested = self._tested(up, down)
        # empirical-Bernstein sums for the interval, at each bettor's share of alpha
        a = self.alpha / self.spacing
        lam = np.minimum(np.sqrt(2.0 * math.log(2.0 / a) / (var * t * np.log1p(t))), MAX_BET)
        sx_new = sx + x
        s = self._s
        s[0, idx], s[1, idx] = t, sx_new
        s[2, idx] = sq + (x - (0.5 + sx_new) / (t + 1.0)) ** 2
        s[3, idx], s[4, idx], s[5, idx] = up, down, np.maximum(best, tested)
        s[6, idx], s[7, idx] = sl + lam, slx + lam * x
        s[8, idx] = svp + (x - mu) ** 2 * (-np.log1p(-lam) - lam)

    def _read(self) -> None:
        shift = math.log(self.spacing)
        now = self._tested_now()
        # the running maximum of max_j log W_j - log k is max_j (running max of log W_j) - log k
        self._log_e = float(now.max()) - shift
        self._max_log_e = max(0.0, float(self._s[5].max()) - shift)

    def _tested_now(self) -> FloatArray:
        return self._tested(self._s[3].copy(), self._s[4].copy())

    @property
    def n(self) -> int:
        return self._n

    @property
    def estimate(self) -> float:
        """Sample mean (NaN before data)."""
        return float(self._s[1].sum()) / self._n if self._n else math.nan

    def confidence_interval(self, alpha: float = 0.05) -> tuple[float, float]:
        """The intersection of the bettors' empirical-Bernstein intervals, each at
        ``alpha / spacing`` (a union bound, as for the test)."""
        radius = math.log(2.0 * self.spacing / check_alpha(alpha))
        sl, slx, svp = self._s[6], self._s[7], self._s[8]
        seen = sl > 0.0
        if not seen.any():
            return (0.0, 1.0)
        lo = float(((slx - svp - radius) / np.where(seen, sl, 1.0))[seen].max())
        hi = float(((slx + svp + radius) / np.where(seen, sl, 1.0))[seen].min())
        lo, hi = max(lo, 0.0), min(hi, 1.0)
        return (lo, hi) if lo <= hi else (hi, lo)

    def _dump_state(self) -> dict[str, Any]:
        return {"n": self._n, **{f: self._s[i].tolist() for i, f in enumerate(FIELDS)}}

    def _load_state(self, d: Mapping[str, Any]) -> None:
        rows = [np.asarray(d[f], dtype=np.float64) for f in FIELDS]
        if any(r.shape != (self.spacing,) for r in rows):
            raise ValueError(f"state does not hold {self.spacing} bettors (the spacing)")
        self._s = np.stack(rows)
        self._n = int(d["n"])


def _run(start: FloatArray, values: FloatArray) -> FloatArray:
    """Running sums along each row from ``start``: the value before each, then after the last."""
    out: FloatArray = np.cumsum(np.concatenate([start[:, None], values], axis=1), axis=1)
    return out
