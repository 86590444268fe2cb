"""The drift e-process's update as it was before it was vectorised by groups of rows: the
reference the current one must equal.

Kept as written then (a log of every bet, of every row and start, and a log-sum-exp over
starts per row; earlier hits in the same bin by a per-feature sort), so tests can assert the
grouped products give the same e-values, alarms and state on generated streams. Not part
of the package.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from shadowgate.inputs.eprocess import BinDriftEProcess, start_log_weight


def _earlier_same(bins: Any) -> Any:
    f, n = bins.shape
    order = np.argsort(bins, axis=1, kind="stable")
    sb = np.take_along_axis(bins, order, axis=1)
    pos = np.broadcast_to(np.arange(n), (f, n))
    starts = np.where(np.concatenate([np.ones((f, 1), bool), sb[:, 1:] != sb[:, :-1]], 1), pos, 0)
    rank = pos - np.maximum.accumulate(starts, axis=1)
    out = np.empty((f, n))
    np.put_along_axis(out, order, rank.astype(np.float64), axis=1)
    return out


class ReferenceEProcess(BinDriftEProcess):
    """``BinDriftEProcess`` with the row-by-row log-domain update."""

    def _segment(self, bins: Any, mask: Any) -> None:
        f, n = bins.shape
        kmax = self.m.shape[1]
        w = mask.astype(np.float64)
        same = _earlier_same(np.where(mask, bins, kmax))
        xb = np.take_along_axis(self.x, bins, axis=1) + same
        tb = self.t[:, None] + np.cumsum(w, axis=1) - w
        mb = np.take_along_axis(self.m, bins, axis=1)
        inv_p0 = np.where(mask, (self.total[:, None] + tb) / np.where(mask, mb + xb, 1.0), 1.0)
        s = len(self.start_b)
        idx = np.broadcast_to(bins[None], (s, f, n))
        x_s = xb[None] - np.take_along_axis(self.xs, idx, axis=2)
        t_s = tb[None] - self.ts[:, :, None]
        pri = np.take_along_axis(self.prior, bins, axis=1)[None]
        ratio = (pri + x_s) / (self.k[None, :, None] + t_s) * inv_p0[None]
        inc = np.log(np.where(mask[None], ratio, 1.0))
        path = self.log_l[:, :, None] + np.cumsum(inc, axis=2)
        log_w = np.array([start_log_weight(int(b)) for b in self.start_b])
        terms = log_w[:, None, None] + path
        top = terms.max(axis=0)
        log_e = top + np.log(np.exp(terms - top).sum(axis=0))
        seg_max = log_e.max(axis=1)
        newly = (self.alarm_row < 0) & (seg_max >= self.level)
        for j in np.flatnonzero(newly):
            col = int(np.argmax(log_e[j] >= self.level))
            best = int(np.argmax(terms[:, j, col]))
            self.alarm_row[j] = self.rows + col
            self.alarm_start[j] = self.start_b[best]
            upto = self.x[j] + np.bincount(
                bins[j, : col + 1], weights=w[j, : col + 1], minlength=kmax
            )
            self.alarm_counts[j] = upto - self.xs[best, j]
        self.max_log_e = np.maximum(self.max_log_e, seg_max)
        self.log_e = log_e[:, -1]
        self.log_l = path[:, :, -1]
        flat = (np.arange(f)[:, None] * kmax + bins).ravel()
        self.x += np.bincount(flat, weights=w.ravel(), minlength=f * kmax).reshape(f, kmax)
        self.t += w.sum(axis=1)
        self.rows += n
