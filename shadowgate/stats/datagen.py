"""Realistic synthetic streams for the Monte-Carlo checks (pure numpy, seeded).

Latencies are whole milliseconds (so ties are common), lognormal or Pareto, with a
per-request difficulty shared by production and candidate (pairs are correlated, as in
shadow mode). Errors are rare Bernoulli events; canary shares change mid-run. ``ar1`` and
``errors`` are the dependent building blocks: load episodes and bursts of failures.
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt
from scipy.signal import lfilter

from shadowgate.stats._core import FloatArray

Bools = npt.NDArray[np.bool_]


def base_latency_ms(rng: np.random.Generator, shape: tuple[int, int], family: str) -> FloatArray:
    """Pairs of latencies (production, candidate) in whole ms, sharing request difficulty."""
    difficulty = rng.normal(0.0, 0.5, size=shape)
    out = []
    for _ in range(2):
        if family == "lognormal":
            raw = np.exp(math.log(40.0) + difficulty + rng.normal(0.0, 0.4, size=shape))
        elif family == "pareto":
            # Pareto tail index 1.5: finite mean, infinite variance
            raw = 20.0 * np.exp(difficulty) * (1.0 + rng.pareto(1.5, size=shape))
        else:
            raise ValueError(f"unknown latency family {family!r}")
        out.append(np.maximum(np.round(raw), 1.0))
    return np.stack(out)


def paired_log_ratios(
    rng: np.random.Generator, shape: tuple[int, int], family: str, slowdown: float
) -> FloatArray:
    """log(candidate / production) per request; the candidate is ``slowdown`` times slower."""
    prod, cand = base_latency_ms(rng, shape, family)
    out: FloatArray = math.log(slowdown) + np.log(cand) - np.log(prod)
    return out


def canary_log_latency(
    rng: np.random.Generator,
    shape: tuple[int, int],
    family: str,
    slowdown: float,
    weight: FloatArray,
) -> tuple[FloatArray, npt.NDArray[np.bool_]]:
    """Unpaired log latencies and group flags (True = candidate) with per-request weight."""
    prod, _ = base_latency_ms(rng, shape, family)
    group1 = rng.random(shape) < weight
    values = np.log(prod) + np.where(group1, math.log(slowdown), 0.0)
    return values, group1


def share_schedule(n: int, shares: tuple[float, ...]) -> FloatArray:
    """Candidate share per event: the run split into equal parts, one share per part."""
    parts = np.array_split(np.arange(n), len(shares))
    out = np.empty(n)
    for idx, s in zip(parts, shares, strict=True):
        out[idx] = s
    return out


def batch_looks(
    rng: np.random.Generator, shape: tuple[int, int], max_batch: int
) -> npt.NDArray[np.bool_]:
    """Where a monitor looks when data arrive in batches of 1..max_batch (log-uniform)."""
    rows, n = shape
    looks = np.zeros(shape, dtype=bool)
    if max_batch <= 1:
        looks[:] = True
        return looks
    per_row = n // 1 + 1
    sizes = np.floor(np.exp(rng.random((rows, per_row)) * math.log(max_batch + 1))).astype(np.int64)
    ends = np.cumsum(np.maximum(sizes, 1), axis=1) - 1
    r, c = np.nonzero(ends < n)
    looks[r, ends[r, c]] = True
    looks[:, -1] = True
    return looks


def ar1(rng: np.random.Generator, n: int, phi: float, sd: float) -> FloatArray:
    """Stationary AR(1) with coefficient ``phi`` and marginal sd ``sd``."""
    if phi <= 0.0 or sd == 0.0:
        return rng.normal(0.0, sd, n) if sd else np.zeros(n)
    e = rng.normal(0.0, sd * math.sqrt(1.0 - phi * phi), n)
    e[0] = rng.normal(0.0, sd)
    out: FloatArray = lfilter([1.0], [1.0, -phi], e)
    return out


def errors(rng: np.random.Generator, n: int, rate: float, burst: float = 1.0) -> Bools:
    """Failures at ``rate``; with ``burst`` > 1, in bursts of mean length ``burst``."""
    if burst <= 1.0:
        out: Bools = rng.random(n) < rate
        return out
    starts = np.flatnonzero(rng.random(n) < rate / burst)
    lengths = rng.geometric(1.0 / burst, starts.size)
    marks = np.zeros(n + 1, dtype=np.int64)
    np.add.at(marks, starts, 1)
    np.add.at(marks, np.minimum(starts + lengths, n), -1)
    bursty: Bools = np.cumsum(marks[:n]) > 0
    return bursty
