"""Production-like streams of paired and canary outcomes for route-level simulation.

Pure numpy, seeded. Every generator returns one run's columns (``Streams``), request by
request in arrival order, so that dependence in time is what the checks see:

- latency: each side's log latency is a per-request noise plus its **own AR(1) load**
  (``phi`` per request, stationary sd ``load_sd``); at 1 000 req/s, ``phi = 0.999`` is a
  load episode of about a second;
- errors: independent at a rate, or in **bursts** (bad minutes) of geometric length;
- agreement: per-request share of 32 rows, drawn in **runs** of hard and easy requests;
- labels: correctness per pair with a **label delay that depends on the class**;
- losses: 0/1 losses, or a continuous loss with rare confident mistakes;
- canary: one variant per request at a share, errors at rates.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt
from scipy.signal import lfilter

from shadowgate.stats._core import FloatArray

Bools = npt.NDArray[np.bool_]


def _none_f() -> FloatArray:
    return np.empty(0)


def _none_b() -> Bools:
    return np.empty(0, dtype=bool)


@dataclass
class Streams:
    """One run's columns; empty arrays for what a scenario does not produce."""

    prod_fail: Bools = field(default_factory=_none_b)
    cand_fail: Bools = field(default_factory=_none_b)
    log_ratio: FloatArray = field(default_factory=_none_f)
    agreement: FloatArray = field(default_factory=_none_f)
    prod_correct: FloatArray = field(default_factory=_none_f)
    cand_correct: FloatArray = field(default_factory=_none_f)
    prod_loss: FloatArray = field(default_factory=_none_f)
    cand_loss: FloatArray = field(default_factory=_none_f)
    #: request index at which each pair's label arrives (inf: never)
    label_at: FloatArray = field(default_factory=_none_f)
    # canary
    candidate: Bools = field(default_factory=_none_b)
    failed: Bools = field(default_factory=_none_b)
    log_latency: FloatArray = field(default_factory=_none_f)


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


def latency_pairs(
    rng: np.random.Generator,
    n: int,
    *,
    slowdown: float = 1.0,
    noise_sd: float = 0.3,
    phi: float = 0.0,
    load_sd: float = 0.0,
    prod_err: float = 1e-4,
    cand_err: float = 1e-4,
    burst: float = 1.0,
) -> Streams:
    """Shadow pairs: log(cand/prod) = log(slowdown) + own noises + own AR(1) loads."""
    pf = errors(rng, n, prod_err, burst)
    cf = errors(rng, n, cand_err, burst)
    ratio = (
        math.log(slowdown)
        + rng.normal(0.0, noise_sd, n)
        - rng.normal(0.0, noise_sd, n)
        + ar1(rng, n, phi, load_sd)
        - ar1(rng, n, phi, load_sd)
    )
    ratio = np.where(pf | cf, np.nan, ratio)
    agree = np.where(pf | cf, np.nan, 1.0)
    return Streams(pf, cf, ratio, agree)


def agreement_runs(
    rng: np.random.Generator, n: int, *, low: float, high: float, run: float
) -> Streams:
    """Agreement in runs (mean length ``run``) alternating between ``low`` and ``high``."""
    s = latency_pairs(rng, n)
    lengths = rng.geometric(1.0 / run, 2 * n // max(int(run), 1) + 10)
    while lengths.sum() < n:
        lengths = np.concatenate([lengths, rng.geometric(1.0 / run, 100)])
    level = np.repeat(np.resize([low, high], lengths.size), lengths)[:n]
    if rng.random() < 0.5:
        level = low + high - level
    s.agreement = np.where(np.isnan(s.agreement), np.nan, rng.binomial(32, level) / 32.0)
    return s


def labelled_accuracy(
    rng: np.random.Generator,
    n: int,
    *,
    positives: float = 0.3,
    prod_acc: float = 0.9,
    cand_neg: float = 0.92,
    cand_pos: float = 0.82,
    neg_delay: float = 100.0,
    pos_delay: float = 5_000.0,
) -> Streams:
    """Correctness per pair, the candidate better on negatives, worse on positives.

    Positives' labels arrive ``pos_delay`` requests after negatives' (fraud confirmed,
    a user churned): an analysis that reads labels as they arrive sees negatives first.
    """
    s = latency_pairs(rng, n)
    pos = rng.random(n) < positives
    s.prod_correct = (rng.random(n) < prod_acc).astype(np.float64)
    s.cand_correct = (rng.random(n) < np.where(pos, cand_pos, cand_neg)).astype(np.float64)
    delay = np.where(pos, pos_delay, neg_delay) * rng.uniform(0.5, 1.5, n)
    s.label_at = np.arange(n) + delay
    return s


def losses(
    rng: np.random.Generator,
    n: int,
    *,
    kind: str,
    shift: float,
    labelled: float = 1.0,
) -> Streams:
    """Per-pair losses: ``"01"`` (Bernoulli 0.1 vs 0.1 + shift) or ``"log"`` (rare mistakes)."""
    s = latency_pairs(rng, n)
    if kind == "01":
        s.prod_loss = (rng.random(n) < 0.1).astype(np.float64)
        s.cand_loss = (rng.random(n) < 0.1 + shift).astype(np.float64)
    else:  # log loss: mostly small, a rare confident mistake costs 10 nats
        base = rng.exponential(0.2, n)
        s.prod_loss = base + rng.exponential(0.05, n)
        mistakes = rng.random(n) < shift / 10.0
        s.cand_loss = base + rng.exponential(0.05, n) + np.where(mistakes, 10.0, 0.0)
    s.label_at = np.where(rng.random(n) < labelled, np.arange(n, dtype=np.float64), np.inf)
    return s


def canary(
    rng: np.random.Generator,
    n: int,
    *,
    share: float = 0.5,
    prod_err: float = 0.002,
    cand_err: float = 0.003,
    slowdown: float = 1.0,
) -> Streams:
    """Canary requests: the candidate serves ``share`` of them; errors at each rate."""
    cand = rng.random(n) < share
    failed = rng.random(n) < np.where(cand, cand_err, prod_err)
    lat = rng.normal(math.log(0.04), 0.5, n) + np.where(cand, math.log(slowdown), 0.0)
    return Streams(candidate=cand, failed=failed, log_latency=np.where(failed, np.nan, lat))


def recorded(
    prod_fail: Bools,
    cand_fail: Bools,
    log_ratio: FloatArray,
    agreement: FloatArray,
    *,
    block: int,
) -> Callable[[np.random.Generator, int], Streams]:
    """A/A from a user's own recorded pairs: swap the sides of whole blocks at random.

    Each run starts at a random point (wrapping around) and flips production and
    candidate in blocks of ``block`` pairs with probability 1/2: the mean difference is
    then 0 whatever the candidate was, while the dependence within a block — the user's
    own load episodes and bursts — is kept. Agreement is symmetric and stays as recorded.
    """
    return Recorded(prod_fail, cand_fail, log_ratio, agreement, block)


@dataclass(frozen=True)
class Recorded:
    """The generator :func:`recorded` returns (a class, so worker processes can take it)."""

    prod_fail: Bools
    cand_fail: Bools
    log_ratio: FloatArray
    agreement: FloatArray
    block: int

    def __call__(self, rng: np.random.Generator, n: int) -> Streams:
        m, block = self.log_ratio.size, self.block
        shift = int(rng.integers(m))
        idx = (np.arange(n) + shift) % m
        flip = np.repeat(rng.random(n // block + 1) < 0.5, block)[:n]
        pf, cf = self.prod_fail[idx], self.cand_fail[idx]
        return Streams(
            np.where(flip, cf, pf),
            np.where(flip, pf, cf),
            np.where(flip, -self.log_ratio[idx], self.log_ratio[idx]),
            self.agreement[idx],
        )
