"""Long-run variance of a dependent stream, after every prefix, for the mixture SPRT plug-in.

The i.i.d. plug-in ``s^2 / n`` understates the variance of a mean when observations are
autocorrelated (each server's load drifts, errors come in bad minutes): the variance of
``sum x_i`` is ``n * sigma_LR^2`` with ``sigma_LR^2 = gamma_0 + 2 sum_k gamma_k``, up to
``(1 + phi) / (1 - phi)`` times ``gamma_0`` for an AR(1) with coefficient ``phi``.

The estimate here is the largest of four, so that it errs on the side of validity:

- the i.i.d. sample variance (never less than today's plug-in);
- the AR(1) formula ``s^2 (1 + r) / (1 - r)`` with ``r`` the lag-1 autocorrelation, which
  reacts at once to strong short-range dependence. ``r`` is the exact centred form,
  ``sum (x_i - m)(x_{i-1} - m) / (n - 1)`` over ``s^2``, from running sums and the first
  and latest value: dropping the end terms (``sum x_i x_{i-1} / (n - 1) - m^2``) is off
  by ``m (2m - x_1 - x_n) / (n - 1)``, which is not small when ``x_1`` is atypical of a
  near-constant stream (the data are offset by their first value) and read ``r`` near 1;
- batch means at dyadic block lengths ``b = base * 2^j`` (adaptive block length): for
  every length with at least ``min_blocks`` completed blocks, ``b * var(block means)``
  (Flegal & Jones 2010); the longest usable length grows with ``n``, so slower load
  episodes are caught as the data reach them;
- the same, bias-corrected: ``2 BM(b) - BM(b/2)`` (flat-top, or zero-lugsail, batch
  means, Vats & Flegal 2022). ``BM(b)`` falls short of the long-run variance by a share of
  about ``c / b`` (the correlation within a block is lost at its edges), most where the
  dependence is as long as the blocks — at the start of a stream, and for the longest
  lengths later; the difference of two lengths removes that term. It needs no state of
  its own: both lengths are kept anyway.

Each batch-means estimate from ``m`` blocks is read at its upper confidence bound,
``(m - 1) / chi2_{m-1}(UPPER_QUANTILE)`` times the estimate (1.45 at 32 blocks, 1.19 at
128, 1.06 at 1 024). With few blocks an estimate wanders by a quarter of its value, and a
test that looks at every prefix acts on the looks where it happened to be low: without the
bound, agreement exactly at its minimum in runs of hard and easy requests was wrongly
promoted in 3.2 % of runs (share 2.5 %) and wrongly rolled back in 2.7 % (share 0.6 %).
The i.i.d. and AR(1) estimates come from every observation and are not inflated.

Everything is a running sum, so a batch equals one-by-one updates, and the state is a flat
list of floats for ``to_dict``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt
from scipy.special import ndtri

from shadowgate.stats._core import FloatArray

BASE_BLOCK = 4
MIN_BLOCKS = 32
LEVELS = 14  # block lengths 4 .. 32 768
MAX_LAG1 = 0.995  # caps the AR(1) inflation at 399x
#: evidence counts only once n / tau_hat, the observations' worth of independent
#: information (tau_hat = long-run / i.i.d. variance), reaches this
EFFECTIVE_N = 200
#: a batch-means estimate from m blocks is read at its upper (1 - this) confidence bound
UPPER_QUANTILE = 0.1
_Z_UPPER = float(ndtri(UPPER_QUANTILE))


def new_state() -> dict[str, Any]:
    """Empty state: raw partial block, first and last value, lag-1 sum, and per level
    (count, S, Q, pend)."""
    return {
        "partial": [0.0, 0.0],  # sum and count of the unfinished base block
        "first": None,
        "last": None,
        "lag_sum": 0.0,  # sum of x_i * x_{i-1}
        "levels": [[0.0, 0.0, 0.0, None] for _ in range(LEVELS)],
        "lrv_now": 0.0,
    }


def copy_state(st: dict[str, Any]) -> dict[str, Any]:
    out = {
        "partial": list(st["partial"]),
        "last": st["last"],
        "lag_sum": st["lag_sum"],
        "levels": [list(lv) for lv in st["levels"]],
        "lrv_now": st["lrv_now"],
    }
    # a state saved before the first value was kept has none, and is saved back so: its
    # stream is offset by its first value, which is then 0 (exact for the paired test,
    # an end term of order 1/n for a two-sample group)
    if "first" in st:
        out["first"] = st["first"]
    return out


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

    The judge looks every second, so batches are short: the base blocks are summed with
    numpy, the few longer blocks a batch completes in plain floats (the same additions in
    the same order, so the result is bit-identical at any batch size), and every length's
    estimate is held between its completions by one ``np.repeat``.
    """
    L = x.shape[0]
    # lag-1 autocorrelation (clipped at 0: negative dependence only helps a mean)
    prods = np.empty(L)
    np.multiply(x[1:], x[:-1], out=prods[1:])
    if st["last"] is None:
        prods[0] = 0.0
        st["first"] = float(x[0])
    else:
        prods[0] = x[0] * st["last"]
    first = st.get("first", 0.0)
    lag = _run(st["lag_sum"], prods)
    st["lag_sum"] = float(lag[-1])
    st["last"] = float(x[-1])
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = s / n
        mean2 = mean * mean
        gamma0 = ss / n - mean2
        # sum_{i>=2} (x_i - m)(x_{i-1} - m) = lag - m (2 s - x_1 - x_n) + (n - 1) m^2
        gamma1 = (lag - mean * (2.0 * s - first - x)) / np.maximum(n - 1.0, 1.0) + mean2
        r = gamma1 / gamma0
    r = np.minimum(np.maximum(np.where(np.isfinite(r), r, 0.0), 0.0), MAX_LAG1)
    best = np.maximum(var_iid, var_iid * (1.0 + r) / (1.0 - r))
    sums, ends = _base_blocks(x, st)
    # every length with enough blocks, by level: its estimate before the batch and after
    # each completion, with the stretch each value holds for (a constant when none)
    rows: dict[int, tuple[FloatArray | list[float], FloatArray | list[int]] | float] = {}
    b = float(BASE_BLOCK)
    level = st["levels"][0]
    cnt0, s0, q0 = level[0], level[1], level[2]
    if sums.size:
        cnt = cnt0 + np.arange(1.0, sums.size + 1)
        ssum = _run(s0, sums)
        qsum = _run(q0, sums * sums)
        level[0], level[1], level[2] = float(cnt[-1]), float(ssum[-1]), float(qsum[-1])
        if cnt[-1] >= MIN_BLOCKS:
            with np.errstate(invalid="ignore", divide="ignore"):
                after = (qsum - ssum * ssum / cnt) / ((cnt - 1.0) * b)
            values = np.concatenate([[_block_var(cnt0, s0, q0, b)], after])
            values[1:][cnt < MIN_BLOCKS] = 0.0
            edges = np.concatenate([[0], ends, [L]])
            rows[0] = (values, edges[1:] - edges[:-1])
    elif cnt0 >= MIN_BLOCKS:
        rows[0] = _block_var(cnt0, s0, q0, b)
    elif cnt0 == 0.0:
        return _finish(best, rows, n, st)
    _longer(sums.tolist(), ends.tolist(), st["levels"], L, rows)
    return _finish(best, rows, n, st)


def _block_var(cnt: float, s: float, q: float, b: float) -> float:
    """Batch-means estimate of one length from its running sums (0 below MIN_BLOCKS)."""
    return (q - s * s / cnt) / ((cnt - 1.0) * b) if cnt >= MIN_BLOCKS else 0.0


def _base_blocks(x: FloatArray, st: dict[str, Any]) -> tuple[FloatArray, npt.NDArray[np.intp]]:
    """Sums of the base blocks the batch completes, and the position each completes at."""
    L = x.shape[0]
    p_sum, p_cnt = st["partial"]
    ends = np.arange(BASE_BLOCK - int(p_cnt) - 1, L, BASE_BLOCK)
    if not ends.size:
        st["partial"] = [float(_seq_sum(np.concatenate([[p_sum], x]))), p_cnt + L]
        return np.empty(0), ends
    # block sums added in arrival order from the partial sum, as one-by-one updates do
    # (cumsum adds left to right; sum and reduceat may group differently)
    head = _seq_sum(np.concatenate([[p_sum], x[: ends[0] + 1]]))
    full = x[ends[0] + 1 : ends[-1] + 1].reshape(-1, BASE_BLOCK)
    sums = np.concatenate([[head], np.cumsum(full, axis=1)[:, -1]])
    tail = ends[-1] + 1
    st["partial"] = [float(_seq_sum(x[tail:])) if tail < L else 0.0, float(L - tail)]
    return sums, ends


def _longer(
    sums: list[float],
    ends: list[int],
    levels: list[list[Any]],
    L: int,
    rows: dict[int, tuple[FloatArray | list[float], FloatArray | list[int]] | float],
) -> None:
    """Lengths 2, 4, ... times the base: pair up the previous length's completed blocks
    (after any pending one) and update each length's sums, in plain floats."""
    b = float(BASE_BLOCK)
    for j, level in enumerate(levels[1:], start=1):
        b *= 2.0
        cnt0, s0, q0, pend = level
        if sums:
            if pend is not None:
                sums = [pend, *sums]
                ends = [-1, *ends]
            k = len(sums) // 2
            level[3] = float(sums[-1]) if len(sums) % 2 else None
            sums = [sums[2 * i] + sums[2 * i + 1] for i in range(k)]
            ends = ends[1 : 2 * k : 2]
        if not sums:
            # nothing new at this length (nor any longer one): its estimate is constant
            if cnt0 >= MIN_BLOCKS:
                rows[j] = _block_var(cnt0, s0, q0, b)
            elif cnt0 == 0.0:
                return  # no longer length has a block yet
            continue
        c, sm, q = cnt0, s0, q0
        after = []
        for v in sums:
            c += 1.0
            sm += v
            q += v * v
            after.append((q - sm * sm / c) / ((c - 1.0) * b) if c >= MIN_BLOCKS else 0.0)
        level[0], level[1], level[2] = c, sm, q
        if c >= MIN_BLOCKS:
            rows[j] = (
                [_block_var(cnt0, s0, q0, b), *after],
                [e - p for e, p in zip([*ends, L], [0, *ends], strict=True)],
            )


def _finish(
    best: FloatArray,
    rows: dict[int, tuple[FloatArray | list[float], FloatArray | list[int]] | float],
    n: FloatArray,
    st: dict[str, Any],
) -> FloatArray:
    """The largest of the estimates at every position; keeps the last for the state.

    Each length's batch means ``BM(b)`` and, where the half length is usable too (it
    always is: it has twice the blocks), the bias-corrected ``2 BM(b) - BM(b/2)``, each
    read at its upper bound for the blocks of length ``b`` completed by then.
    """
    if rows:
        L = n.shape[0]
        levels = st["levels"]
        # each length's value before the batch until its first completion, then after
        # each, and the upper-bound factor for the blocks done by then (the last value's
        # count is the level's count now; each earlier one had one block fewer)
        values = {
            j: np.asarray(r[0]) if isinstance(r, tuple) else np.array([r]) for j, r in rows.items()
        }
        counts = [levels[j][0] - np.arange(v.size - 1.0, -0.5, -1.0) for j, v in values.items()]
        factors = np.split(
            upper_factor(np.concatenate(counts)), np.cumsum([c.size for c in counts])[:-1]
        )
        held: dict[int, FloatArray] = {}
        upper: dict[int, FloatArray] = {}
        for (j, r), f in zip(rows.items(), factors, strict=True):
            if isinstance(r, tuple):
                reps = np.asarray(r[1])
                held[j] = np.repeat(values[j], reps)
                upper[j] = np.repeat(f, reps)
            else:
                held[j] = np.full(L, r)
                upper[j] = np.full(L, f[0])
        best = np.maximum(best, np.stack([held[j] * upper[j] for j in held]).max(axis=0))
        pairs = [j for j in held if j - 1 in held]
        if pairs:
            longer = np.stack([held[j] for j in pairs])
            half = np.stack([held[j - 1] for j in pairs])
            factor = np.stack([upper[j] for j in pairs])
            best = np.maximum(best, ((2.0 * longer - half) * factor).max(axis=0))
    st["lrv_now"] = float(best[-1])
    return best


def upper_factor(blocks: FloatArray) -> FloatArray:
    """``(m - 1) / chi2_{m-1}(UPPER_QUANTILE)`` for ``m`` blocks (Wilson–Hilferty: within
    0.03 % of the exact quantile from 32 blocks on); 1 where there are fewer than two."""
    k = np.maximum(blocks - 1.0, 1.0)
    h = 2.0 / (9.0 * k)
    out: FloatArray = np.where(blocks >= 2.0, (1.0 - h + _Z_UPPER * np.sqrt(h)) ** -3.0, 1.0)
    return out


def _run(start: float, values: FloatArray) -> FloatArray:
    """Running sum continuing from ``start``, added in the order one-by-one updates add."""
    out: FloatArray = np.cumsum(np.concatenate([[start], values]))[1:]
    return out


def _seq_sum(values: FloatArray) -> float:
    """Left-to-right sum (``np.sum`` is pairwise, which groups differently)."""
    return float(np.cumsum(values)[-1]) if values.size else 0.0
