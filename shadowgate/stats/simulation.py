"""Monte-Carlo check of every test: false decisions under A/A, power and samples-to-decision
under A/B, next to the fixed-horizon sample size and a naive t-test re-run at every look.

Replicates are rows of (runs, n) arrays and go through the same kernels as the test
objects, so what is simulated is what runs in production. Each scenario monitors after
every observation (the always-valid p-value is a running minimum over every prefix); the
naive comparator looks after every observation or after every batch (1..1000).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
from scipy import stats as sps

from shadowgate.stats import datagen
from shadowgate.stats._core import Alternative, FloatArray
from shadowgate.stats.bounded import bounded_log_e, bounded_prefix
from shadowgate.stats.count_share import DEFAULT_K, count_share_log_e
from shadowgate.stats.mixture_test import DEFAULT_BURN_IN
from shadowgate.stats.paired import paired_log_e
from shadowgate.stats.sign import DEFAULT_SIGN_MDE, sign_log_e, sign_prior
from shadowgate.stats.two_sample import two_sample_log_e

Bool = npt.NDArray[np.bool_]
NAIVE_MIN_N = 10
Runner = Callable[
    [np.random.Generator, int, int, int], "Chunk"
]  # the naive test starts looking once it has 10 observations


@dataclass(frozen=True)
class Chunk:
    """Per-replicate outcome: 1-based sample index of the first rejection (0 = never)."""

    decided_at: npt.NDArray[np.int64]
    naive_reject: Bool
    cs_miss: Bool | None = None


@dataclass(frozen=True)
class Scenario:
    name: str
    test: str
    null: bool
    description: str
    horizon: int
    unit: str
    run: Callable[[np.random.Generator, int, int, int], Chunk]  # rng, rows, horizon, max_batch
    fixed_n80: float | None = None
    max_batch: int = 1
    alpha: float = 0.05


def first_crossing(log_e: FloatArray, alpha: float) -> npt.NDArray[np.int64]:
    hit = log_e >= math.log(1.0 / alpha)
    return np.where(hit.any(axis=1), hit.argmax(axis=1) + 1, 0).astype(np.int64)


def naive_reject(
    stat: FloatArray, n: FloatArray, looks: Bool, alternative: Alternative, alpha: float
) -> Bool:
    """Fixed-horizon t-test (t quantile with n - 1 df) re-run at every look."""
    ns = np.arange(1, stat.shape[1] + 1)
    side = alpha / 2 if alternative == "two-sided" else alpha
    crit = sps.t.ppf(1 - side, np.maximum(ns - 1, 1))[None, :]
    if alternative == "two-sided":
        hit = np.abs(stat) > crit
    elif alternative == "greater":
        hit = stat > crit
    else:
        hit = stat < -crit
    hit = np.nan_to_num(hit) & looks & (n >= NAIVE_MIN_N)
    out: Bool = hit.any(axis=1)
    return out


def _t_stat(x: FloatArray, mu0: float) -> tuple[FloatArray, FloatArray]:
    n = np.arange(1, x.shape[1] + 1, dtype=np.float64)[None, :]
    c = x - x[:, :1]
    s = np.cumsum(c, axis=1)
    ss = np.cumsum(c * c, axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        var = (ss - s * s / n) / (n - 1)
        t = (s / n + x[:, :1] - mu0) / np.sqrt(var / n)
    return np.nan_to_num(t, nan=0.0, posinf=0.0, neginf=0.0), np.broadcast_to(n, x.shape)


# ---------------------------------------------------------------- scenario runners


def paired_runner(
    family: str, slowdown: float, margin: float, alternative: Alternative, mde: float | None
) -> Callable[[np.random.Generator, int, int, int], Chunk]:
    def run(rng: np.random.Generator, rows: int, n: int, max_batch: int) -> Chunk:
        x = datagen.paired_log_ratios(rng, (rows, n), family, slowdown)
        z = np.zeros(rows)
        off = x[:, :1]
        log_e, *_ = paired_log_e(
            x - off,
            z,
            z,
            z,
            offset=off,
            margin=margin,
            mde=mde,
            alternative=alternative,
            burn_in=DEFAULT_BURN_IN,
        )
        t, cnt = _t_stat(x, margin)
        looks = datagen.batch_looks(rng, (rows, n), max_batch)
        return Chunk(first_crossing(log_e, 0.05), naive_reject(t, cnt, looks, alternative, 0.05))

    return run


def two_sample_runner(
    family: str,
    slowdown: float,
    weights: tuple[float, ...],
    alternative: Alternative,
    mde: float | None,
) -> Callable[[np.random.Generator, int, int, int], Chunk]:
    def run(rng: np.random.Generator, rows: int, n: int, max_batch: int) -> Chunk:
        w = datagen.share_schedule(n, weights)[None, :]
        x, g1 = datagen.canary_log_latency(rng, (rows, n), family, slowdown, w)
        z = np.zeros(rows)
        off = x[:, :1]
        log_e, *_ = two_sample_log_e(
            x - off,
            g1,
            (z, z, z),
            (z, z, z),
            offset=off,
            margin=0.0,
            mde=mde,
            alternative=alternative,
            burn_in=DEFAULT_BURN_IN,
        )
        # naive Welch t on the same prefixes
        gf = g1.astype(np.float64)
        c = x - off
        n1, n0 = np.cumsum(gf, 1), np.cumsum(1 - gf, 1)
        s1, s0 = np.cumsum(c * gf, 1), np.cumsum(c * (1 - gf), 1)
        q1, q0 = np.cumsum(c * c * gf, 1), np.cumsum(c * c * (1 - gf), 1)
        with np.errstate(divide="ignore", invalid="ignore"):
            v1 = (q1 - s1 * s1 / n1) / (n1 - 1) / n1
            v0 = (q0 - s0 * s0 / n0) / (n0 - 1) / n0
            t = (s1 / n1 - s0 / n0) / np.sqrt(v1 + v0)
        t = np.nan_to_num(t, nan=0.0, posinf=0.0, neginf=0.0)
        looks = datagen.batch_looks(rng, (rows, n), max_batch) & (np.minimum(n0, n1) >= 2)
        naive = naive_reject(t, np.minimum(n0, n1), looks, alternative, 0.05)
        return Chunk(first_crossing(log_e, 0.05), naive)

    return run


def sign_runner(
    p_plus: float, alternative: Alternative
) -> Callable[[np.random.Generator, int, int, int], Chunk]:
    def run(rng: np.random.Generator, rows: int, n: int, max_batch: int) -> Chunk:
        signs = np.where(rng.random((rows, n)) < p_plus, 1.0, -1.0)
        z = np.zeros(rows)
        a, b = sign_prior(0.5, DEFAULT_SIGN_MDE)
        log_e, plus, minus, _ = sign_log_e(signs, z, z, p0=0.5, a=a, b=b, alternative=alternative)
        cnt = plus + minus
        zstat = (plus - 0.5 * cnt) / np.sqrt(0.25 * cnt)
        looks = datagen.batch_looks(rng, (rows, n), max_batch)
        return Chunk(
            first_crossing(log_e, 0.05), naive_reject(zstat, cnt, looks, alternative, 0.05)
        )

    return run


def count_share_runner(
    shares: tuple[float, ...], rate_ratio: float, alternative: Alternative
) -> Callable[[np.random.Generator, int, int, int], Chunk]:
    def run(rng: np.random.Generator, rows: int, n: int, max_batch: int) -> Chunk:
        rho = datagen.share_schedule(n, shares)[None, :]
        q = rho * rate_ratio / (rho * rate_ratio + 1.0 - rho)
        origin = (rng.random((rows, n)) < q).astype(np.float64)
        z = np.zeros(rows)
        log_e, _ = count_share_log_e(
            origin, rho, (z, z, z, z), k=DEFAULT_K, alternative=alternative
        )
        x1 = np.cumsum(origin, 1)
        m1 = np.cumsum(np.broadcast_to(rho, origin.shape), 1)
        v = np.cumsum(np.broadcast_to(rho * (1 - rho), origin.shape), 1)
        zstat = (x1 - m1) / np.sqrt(v)
        cnt = np.broadcast_to(np.arange(1, n + 1, dtype=np.float64)[None, :], origin.shape)
        looks = datagen.batch_looks(rng, (rows, n), max_batch)
        return Chunk(
            first_crossing(log_e, 0.05), naive_reject(zstat, cnt, looks, alternative, 0.05)
        )

    return run


def bounded_runner(
    kind: str, mean: float, threshold: float, alternative: Alternative
) -> Callable[[np.random.Generator, int, int, int], Chunk]:
    def run(rng: np.random.Generator, rows: int, n: int, max_batch: int) -> Chunk:
        if kind == "bernoulli":
            x = (rng.random((rows, n)) < mean).astype(np.float64)
        else:  # beta scores with the given mean, concentration 20
            x = rng.beta(20 * mean, 20 * (1 - mean), size=(rows, n))
        z = np.zeros(rows)
        prefix, _ = bounded_prefix(x, (z, z, z, z, z, z), alpha=0.05)
        _, _, _, sl, slx, svp = prefix
        log_e = bounded_log_e(sl, slx, svp, threshold=threshold, alternative=alternative)
        radius = math.log(2.0 / 0.05)
        lo, hi = (slx - svp - radius) / sl, (slx + svp + radius) / sl
        miss = np.asarray(((lo > mean) | (hi < mean)).any(axis=1), dtype=bool)
        tt, cnt = _t_stat(x, threshold)
        looks = datagen.batch_looks(rng, (rows, n), max_batch)
        naive = naive_reject(tt, cnt, looks, alternative, 0.05)
        return Chunk(first_crossing(log_e, 0.05), naive, miss)

    return run


# ---------------------------------------------------------------- running and summarising


def clopper_pearson(k: int, n: int, level: float = 0.95) -> tuple[float, float]:
    a = 1.0 - level
    lo = 0.0 if k == 0 else float(sps.beta.ppf(a / 2, k, n - k + 1))
    hi = 1.0 if k == n else float(sps.beta.ppf(1 - a / 2, k + 1, n - k))
    return lo, hi


def chunk_rows(horizon: int, budget: int = 2_000_000) -> int:
    """Replicates per chunk so that one (rows, horizon) array stays around 16 MB."""
    return max(1, budget // max(horizon, 1))


def run_scenario(
    scenario: Scenario,
    runs: int,
    seed: int,
    progress: Callable[[int], None] | None = None,
) -> dict[str, Any]:
    """Run ``runs`` replicates of one scenario; ``progress(k)`` is called as chunks finish."""
    rng = np.random.default_rng(np.random.SeedSequence([seed, _stable_hash(scenario.name)]))
    rows = chunk_rows(scenario.horizon)
    decided: list[npt.NDArray[np.int64]] = []
    naive: list[Bool] = []
    miss: list[Bool] = []
    done = 0
    while done < runs:
        r = min(rows, runs - done)
        ch = scenario.run(rng, r, scenario.horizon, scenario.max_batch)
        decided.append(ch.decided_at)
        naive.append(ch.naive_reject)
        if ch.cs_miss is not None:
            miss.append(ch.cs_miss)
        done += r
        if progress is not None:
            progress(r)
    at = np.concatenate(decided)
    rejections = int((at > 0).sum())
    lo, hi = clopper_pearson(rejections, runs)
    naive_k = int(np.concatenate(naive).sum())
    out: dict[str, Any] = {
        "name": scenario.name,
        "test": scenario.test,
        "null": scenario.null,
        "description": scenario.description,
        "runs": runs,
        "horizon": scenario.horizon,
        "unit": scenario.unit,
        "alpha": scenario.alpha,
        "max_batch": scenario.max_batch,
        "reject_rate": rejections / runs,
        "reject_ci95": [lo, hi],
        "naive_reject_rate": naive_k / runs,
        "naive_reject_ci95": list(clopper_pearson(naive_k, runs)),
        "fixed_n80": scenario.fixed_n80,
    }
    hits = at[at > 0]
    out["median_samples"] = float(np.median(hits)) if hits.size else None
    out["mean_samples"] = float(np.mean(hits)) if hits.size else None
    out["p90_samples"] = float(np.percentile(hits, 90)) if hits.size else None
    # samples to decision counting undecided runs as "beyond the horizon"
    capped = np.where(at > 0, at, scenario.horizon + 1)
    out["median_samples_all"] = float(np.median(capped))
    out["p90_samples_all"] = float(np.percentile(capped, 90))
    if miss:
        m = int(np.concatenate(miss).sum())
        out["cs_miss_rate"] = m / runs
        out["cs_miss_ci95"] = list(clopper_pearson(m, runs))
    return out


def _stable_hash(text: str) -> int:
    return int.from_bytes(text.encode()[:8].ljust(8, b"\0"), "little") ^ len(text)
