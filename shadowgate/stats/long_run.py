"""Long-run variance of a dependent stream, after every prefix, for the mixture SPRT plug-in.

The i.i.d. plug-in ``s^2 / n`` understates the variance of a mean when observations are
autocorrelated (each server's load drifts, errors come in bad minutes): the variance of
``sum x_i`` is ``n * sigma_LR^2`` with ``sigma_LR^2 = gamma_0 + 2 sum_k gamma_k``, up to
``(1 + phi) / (1 - phi)`` times ``gamma_0`` for an AR(1) with coefficient ``phi``.

The estimate here is the largest of three, so that it errs on the side of validity:

- the i.i.d. sample variance (never less than today's plug-in);
- the AR(1) formula ``s^2 (1 + r) / (1 - r)`` with ``r`` the lag-1 autocorrelation, which
  reacts at once to strong short-range dependence;
- batch means at dyadic block lengths ``b = base * 2^j`` (adaptive block length): for
  every length with at least ``min_blocks`` completed blocks, ``b * var(block means)``
  (Flegal & Jones 2010); the longest usable length grows with ``n``, so slower load
  episodes are caught as the data reach them.

Everything is a running sum, so a batch equals one-by-one updates, and the state is a flat
list of floats for ``to_dict``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from shadowgate.stats._core import FloatArray

BASE_BLOCK = 4
MIN_BLOCKS = 32
LEVELS = 14  # block lengths 4 .. 32 768
MAX_LAG1 = 0.995  # caps the AR(1) inflation at 399x
#: evidence counts only once n / tau_hat, the observations' worth of independent
#: information (tau_hat = long-run / i.i.d. variance), reaches this
EFFECTIVE_N = 200


def new_state() -> dict[str, Any]:
    """Empty state: raw partial block, last value, lag-1 sum, and per level (count, S, Q, pend)."""
    return {
        "partial": [0.0, 0.0],  # sum and count of the unfinished base block
        "last": None,
        "lag_sum": 0.0,  # sum of x_i * x_{i-1}
        "levels": [[0.0, 0.0, 0.0, None] for _ in range(LEVELS)],
        "lrv_now": 0.0,
    }


def copy_state(st: dict[str, Any]) -> dict[str, Any]:
    return {
        "partial": list(st["partial"]),
        "last": st["last"],
        "lag_sum": st["lag_sum"],
        "levels": [list(lv) for lv in st["levels"]],
        "lrv_now": st["lrv_now"],
    }


def long_run_var(
    x: FloatArray,
    n: FloatArray,
    s: FloatArray,
    ss: FloatArray,
    var_iid: FloatArray,
    st: dict[str, Any],
) -> FloatArray:
    """Long-run variance after every prefix of the 1-D batch ``x``; updates ``st`` in place.

    ``n, s, ss, var_iid`` are the running count, sum, sum of squares and sample variance at
    every prefix (as the caller computed them); ``x`` is the batch itself, offset as in ``s``.
    """
    L = x.shape[0]
    pos = np.arange(L)
    # lag-1 autocorrelation (clipped at 0: negative dependence only helps a mean)
    prev = np.empty(L)
    prev[0] = np.nan if st["last"] is None else st["last"]
    prev[1:] = x[:-1]
    prods = x * prev
    if st["last"] is None:
        prods[0] = 0.0
    lag = _run(st["lag_sum"], prods)
    st["lag_sum"] = float(lag[-1])
    st["last"] = float(x[-1])
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = s / n
        gamma0 = ss / n - mean * mean
        r = (lag / np.maximum(n - 1.0, 1.0) - mean * mean) / gamma0
    r = np.clip(np.where(np.isfinite(r), r, 0.0), 0.0, MAX_LAG1)
    best = np.maximum(var_iid, var_iid * (1.0 + r) / (1.0 - r))
    # batch means at dyadic lengths
    p_sum, p_cnt = st["partial"]
    first = BASE_BLOCK - int(p_cnt) - 1
    ends = np.arange(first, L, BASE_BLOCK)
    if ends.size:
        # block sums added in arrival order from the partial sum, as one-by-one updates do
        # (cumsum adds left to right; sum and reduceat may group differently)
        head = _seq_sum(np.concatenate([[p_sum], x[: ends[0] + 1]]))
        full = x[ends[0] + 1 : ends[-1] + 1].reshape(-1, BASE_BLOCK)
        sums = np.concatenate([[head], np.cumsum(full, axis=1)[:, -1]])
        tail = ends[-1] + 1
        rest = float(_seq_sum(x[tail:])) if tail < L else 0.0
        st["partial"] = [rest, float(L - tail)]
    else:
        sums = np.empty(0)
        st["partial"] = [float(_seq_sum(np.concatenate([[p_sum], x]))), p_cnt + L]
    b = float(BASE_BLOCK)
    const = 0.0  # the largest estimate among lengths with no new block in this batch
    for j, level in enumerate(st["levels"]):
        cnt0, s0, q0, pend = level
        if j > 0 and sums.size:
            # pair up the previous level's completed blocks, after any pending one
            if pend is not None:
                sums = np.concatenate([[pend], sums])
                ends = np.concatenate([[-1], ends])
            k = sums.shape[0] // 2
            level[3] = float(sums[-1]) if sums.shape[0] % 2 else None
            sums = sums[0 : 2 * k : 2] + sums[1 : 2 * k : 2]
            ends = ends[1 : 2 * k : 2]
        if not sums.size:
            # nothing new at this length (nor any longer one): its estimate is constant
            if cnt0 >= MIN_BLOCKS:
                const = max(const, (q0 - s0 * s0 / cnt0) / ((cnt0 - 1.0) * b))
            elif cnt0 == 0.0:
                break  # no longer length has a block yet
            b *= 2.0
            continue
        cnt = cnt0 + np.arange(1.0, sums.size + 1)
        ssum = _run(s0, sums)
        qsum = _run(q0, sums * sums)
        level[0], level[1], level[2] = float(cnt[-1]), float(ssum[-1]), float(qsum[-1])
        if cnt[-1] >= MIN_BLOCKS:
            # value after each completion, held until the next (before the first: the state)
            with np.errstate(invalid="ignore", divide="ignore"):
                after = (qsum - ssum * ssum / cnt) / ((cnt - 1.0) * b)
            after = np.where(cnt >= MIN_BLOCKS, after, 0.0)
            before = (q0 - s0 * s0 / cnt0) / ((cnt0 - 1.0) * b) if cnt0 >= MIN_BLOCKS else 0.0
            held = np.concatenate([[before], after])
            idx = np.searchsorted(ends, pos, side="right")  # completions up to each position
            best = np.maximum(best, held[idx])
        b *= 2.0
    if const > 0.0:
        best = np.maximum(best, const)
    st["lrv_now"] = float(best[-1])
    out: FloatArray = best
    return out


def _run(start: float, values: FloatArray) -> FloatArray:
    """Running sum continuing from ``start``, added in the order one-by-one updates add."""
    out: FloatArray = np.cumsum(np.concatenate([[start], values]))[1:]
    return out


def _seq_sum(values: FloatArray) -> float:
    """Left-to-right sum (``np.sum`` is pairwise, which groups differently)."""
    return float(np.cumsum(values)[-1]) if values.size else 0.0
