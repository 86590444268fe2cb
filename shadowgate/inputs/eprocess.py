"""BinDriftEProcess: anytime-valid drift e-processes for many binned features at once.

Null (per feature): the monitored rows are exchangeable with the reference, so each new
row's bin follows the Pólya urn of :mod:`.binning` exactly, ``p0 = (m + x) / (N + 1 + t)``
(``m`` the bin's gaps, ``x`` its hits so far). Against it we bet with a Dirichlet
predictive started at row ``s``: ``q_s = (k * share + x_s) / (k + t_s)`` (``x_s`` hits
since ``s``, ``share = m / (N + 1)``, ``k`` = number of bins). Each product
``L_s = prod q_s / p0`` is a test martingale from row ``s`` on (the Dirichlet-multinomial
e-process of the sample-ratio test, ``stats/count_share.py``, with a known urn as null).

The detector mixes start times: ``E = sum_s w_s L_s`` with ``w_0 = 1/2`` (the whole
history) and ``w_b = 1 / (2 b (b + 1))`` for a start at row ``b * block``. The weights sum
to 1, so ``E`` is itself an e-process and Ville's inequality bounds the chance that it
*ever* reaches ``1 / alpha`` by alpha, with no horizon. A late drift is caught by the
starts after it, whose products are not diluted by the pre-drift history (the
Shiryaev–Roberts idea; cf. Shin, Ramdas & Rinaldo 2023, "E-detectors"). Only start 0 and
``max_starts - 1`` later starts are kept, spread geometrically in age (the newest always
kept): dropping terms only lowers ``E``, so the bound still holds, and memory and CPU per
row stay fixed.

Everything is vectorised over features (axis F) and, within a batch, over rows, with
cumulative sums seeded by the state, so a batch equals one-by-one updates (to rounding,
1e-9 in the tests). Each start's bets are multiplied over groups of ``GROUP`` rows and
logged once per group, and a row's mixture is a weighted sum of those products: float64
``log`` and ``exp`` per row and start were most of the cost (``tests/inputs/
reference_eprocess.py`` keeps that row-by-row form, which the grouped one must equal).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]


def _earlier_same(bins: IntArray, groups: int) -> tuple[FloatArray, IntArray]:
    """For each row, how many earlier rows of the same feature fell into the same bin; and
    each feature's rows per bin, (F, groups). ``bins`` are in ``[0, groups)``.

    One stable sort of (feature, bin) keys: small integers, which numpy sorts by radix.
    """
    f, n = bins.shape
    dtype = np.int16 if f * groups < 2**15 else np.int64
    key = (np.arange(f, dtype=dtype)[:, None] * groups + bins.astype(dtype)).ravel()
    order = np.argsort(key, kind="stable")
    counts = np.bincount(key, minlength=f * groups)
    starts = np.cumsum(counts) - counts
    out = np.empty(f * n)
    out[order] = np.arange(f * n) - np.repeat(starts, counts)
    return out.reshape(f, n), counts.reshape(f, groups)


#: rows whose bets are multiplied before one log is taken. Each ratio q_s / p0 lies within
#: about [1e-13, 1e10] (q_s >= prior / (k + t), 1 / p0 <= N + 1 + t, for t up to 1e10 rows), so
#: a product of 8 stays far inside float64's range, and there is one log per 8 rows and start.
GROUP = 8


def _grouped(a: npt.NDArray[Any], groups: int) -> npt.NDArray[Any]:
    """(F, G * GROUP) rows as (F, GROUP, G): row ``G_i * GROUP + j`` at ``[:, j, G_i]``."""
    return a.reshape(a.shape[0], groups, GROUP).transpose(0, 2, 1)


def start_log_weight(b: int) -> float:
    """log w_b: 1/2 for the whole history (b = 0), 1 / (2 b (b + 1)) for a later start."""
    return -math.log(2.0) if b == 0 else -math.log(2.0 * b * (b + 1))


class BinDriftEProcess:
    """Drift e-processes for F features; ``sizes[f]`` are feature f's gaps per bin."""

    kind = "bin_drift"

    def __init__(
        self,
        sizes: Sequence[Sequence[float]],
        *,
        block: int = 1000,
        max_starts: int = 8,
        level: float = math.inf,
    ) -> None:
        if block < 1 or max_starts < 1:
            raise ValueError("block and max_starts must be at least 1")
        f = len(sizes)
        kmax = max(len(s) for s in sizes)
        self.m = np.zeros((f, kmax))
        for i, s in enumerate(sizes):
            self.m[i, : len(s)] = s
        self.total = self.m.sum(axis=1)
        self.k = np.array([float(len(s)) for s in sizes])
        self.prior = self.k[:, None] * self.m / self.total[:, None]
        self.block, self.max_starts = int(block), int(max_starts)
        self.level = float(level)  # log e-value of an alarm (log(1/alpha_f))
        self.rows = 0
        self.x = np.zeros((f, kmax))
        self.t = np.zeros(f)
        self.start_b = np.zeros(1, dtype=np.int64)
        self.start_ts: list[float | None] = [None]
        self.xs = np.zeros((1, f, kmax))
        self.ts = np.zeros((1, f))
        self.log_l = np.zeros((1, f))
        self.log_e = np.zeros(f)
        self.max_log_e = np.zeros(f)
        self.alarm_row = np.full(f, -1, dtype=np.int64)
        self.alarm_start = np.full(f, -1, dtype=np.int64)  # block index of the best start
        self.alarm_counts = np.zeros((f, kmax))  # hits from that start to the alarm

    @property
    def features(self) -> int:
        return int(self.m.shape[0])

    def _add_start(self, now: float | None) -> None:
        b = self.rows // self.block
        keep = np.ones(len(self.start_b), dtype=bool)
        if len(self.start_b) >= self.max_starts:
            # drop the start whose neighbours are closest in log-age: ages stay geometric
            ages = np.log(np.concatenate([b - self.start_b, [0.5]]).astype(np.float64))
            span = ages[:-2] - ages[2:]  # for dropping start 1 .. len-1
            keep[1 + int(np.argmin(span))] = False
        self.start_b = np.concatenate([self.start_b[keep], [b]])
        self.start_ts = [t for t, k in zip(self.start_ts, keep, strict=True) if k] + [now]
        self.xs = np.concatenate([self.xs[keep], self.x[None]], axis=0)
        self.ts = np.concatenate([self.ts[keep], self.t[None]], axis=0)
        zero = np.zeros((1, self.features))
        self.log_l = np.concatenate([self.log_l[keep], zero], axis=0)

    def update(self, bins: IntArray, mask: BoolArray, now: float | None = None) -> None:
        """Add ``bins`` (F, n) in arrival order; ``mask`` (F, n) is False for missing values."""
        bins = np.asarray(bins, dtype=np.int64)
        mask = np.asarray(mask, dtype=bool)
        n = bins.shape[1]
        i = 0
        while i < n:
            at_start = self.rows % self.block == 0 and self.start_b[-1] * self.block != self.rows
            if self.rows > 0 and at_start:
                self._add_start(now)
            step = min(n - i, self.block - self.rows % self.block)
            self._segment(bins[:, i : i + step], mask[:, i : i + step])
            i += step

    def _segment(self, bins: IntArray, mask: BoolArray) -> None:
        f, n = bins.shape
        kmax = self.m.shape[1]
        full = bool(mask.all())
        w = mask.astype(np.float64)
        # masked rows count in an extra bin, so that they are nobody's earlier hit
        same, hits = _earlier_same(bins if full else np.where(mask, bins, kmax), kmax + 1)
        at = np.arange(f)[:, None] * kmax + bins  # each row's (feature, bin) in (F, K) arrays
        xb = self.x.ravel()[at] + same
        tb = self.t[:, None] + (np.arange(n, dtype=np.float64) if full else np.cumsum(w, 1) - w)
        # log 1 / p0 = log((N + 1 + t) / (m + x)) is the same for every start: it is added to
        # the mixture once, after the sum over starts
        log_p0 = np.log((self.total[:, None] + tb) / (self.m.ravel()[at] + xb))
        if not full:
            log_p0 *= w
        # Each start's bets q_s = (prior + x - x_s) / (k + t - t_s), laid out (S, F, g, G):
        # row r = G_i * g + j at [:, :, j, G_i], so that running products over the g rows of
        # a group run along an outer axis (vectorised) and need no log. Groups are short
        # enough that a product cannot overflow or underflow (see GROUP).
        groups = -(-n // GROUP)
        pad = groups * GROUP - n
        if pad:  # repeated last rows, masked out below (a ratio of 1 changes nothing)
            at, xb, tb = (np.pad(a, ((0, 0), (0, pad)), mode="edge") for a in (at, xb, tb))
            mask = np.pad(mask, ((0, 0), (0, pad)))
        s = len(self.start_b)
        q = np.take((self.prior[None] - self.xs).reshape(s, -1), _grouped(at, groups), axis=1)
        q += _grouped(xb, groups)[None]
        q /= _grouped(tb, groups)[None] + (self.k[None] - self.ts)[:, :, None, None]
        if pad or not full:
            np.copyto(q, 1.0, where=~_grouped(mask, groups)[None])
        for r in range(1, GROUP):  # running products within each group, a slab at a time
            np.multiply(q[:, :, r], q[:, :, r - 1], out=q[:, :, r])
        log_group = np.log(q[:, :, -1, :])  # (S, F, G): each group's whole product
        log_w = np.array([start_log_weight(int(b)) for b in self.start_b])
        # log (w_s L_s) at the start of each group, without the p0 part
        before = np.cumsum(log_group, axis=2) - log_group
        before += (log_w[:, None] + self.log_l)[:, :, None]
        top = before.max(axis=0)  # (F, G)
        q *= np.exp(before - top[None])[:, :, None, :]  # w_s L_s / exp(top) at each row
        mix = q.sum(axis=0)  # (F, g, G)
        cum_p0 = np.cumsum(log_p0, axis=1)
        log_e = (top[:, None, :] + np.log(mix)).transpose(0, 2, 1).reshape(f, -1)[:, :n] + cum_p0
        seg_max = log_e.max(axis=1)
        newly = (self.alarm_row < 0) & (seg_max >= self.level)
        if np.any(newly):
            for j in np.flatnonzero(newly):
                col = int(np.argmax(log_e[j] >= self.level))
                # the start whose term is largest at that row (the terms are q's, scaled)
                best = int(np.argmax(q[:, j, col % GROUP, col // GROUP]))
                self.alarm_row[j] = self.rows + col
                self.alarm_start[j] = self.start_b[best]
                upto = self.x[j] + np.bincount(
                    bins[j, : col + 1], weights=w[j, : col + 1], minlength=kmax
                )
                self.alarm_counts[j] = upto - self.xs[best, j]
        self.max_log_e = np.maximum(self.max_log_e, seg_max)
        self.log_e = log_e[:, -1]
        self.log_l = before[:, :, -1] + log_group[:, :, -1] - log_w[:, None] + cum_p0[:, -1:].T
        self.x += hits[:, :kmax]
        self.t += w.sum(axis=1)
        self.rows += n

    def expected_shares(self) -> FloatArray:
        """Null share of each bin, (F, K)."""
        out: FloatArray = self.m / self.total[:, None]
        return out

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "m": self.m.tolist(),
            "k": self.k.tolist(),
            "block": self.block,
            "max_starts": self.max_starts,
            "level": self.level if math.isfinite(self.level) else None,
            "rows": self.rows,
            "x": self.x.tolist(),
            "t": self.t.tolist(),
            "start_b": self.start_b.tolist(),
            "start_ts": self.start_ts,
            "xs": self.xs.tolist(),
            "ts": self.ts.tolist(),
            "log_l": self.log_l.tolist(),
            "log_e": self.log_e.tolist(),
            "max_log_e": self.max_log_e.tolist(),
            "alarm_row": self.alarm_row.tolist(),
            "alarm_start": self.alarm_start.tolist(),
            "alarm_counts": self.alarm_counts.tolist(),
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> BinDriftEProcess:
        if d.get("kind") != cls.kind:
            raise ValueError(f"state is for {d.get('kind')!r}, not {cls.kind!r}")
        m = np.asarray(d["m"], dtype=np.float64)
        k = [int(v) for v in d["k"]]
        sizes = [list(row[:kk]) for row, kk in zip(m, k, strict=True)]
        level = math.inf if d["level"] is None else float(d["level"])
        e = cls(sizes, block=d["block"], max_starts=d["max_starts"], level=level)
        e.rows = int(d["rows"])
        for name in ("x", "t", "xs", "ts", "log_l", "log_e", "max_log_e", "alarm_counts"):
            setattr(e, name, np.asarray(d[name], dtype=np.float64))
        e.start_b = np.asarray(d["start_b"], dtype=np.int64)
        e.start_ts = list(d["start_ts"])
        e.alarm_row = np.asarray(d["alarm_row"], dtype=np.int64)
        e.alarm_start = np.asarray(d["alarm_start"], dtype=np.int64)
        return e
