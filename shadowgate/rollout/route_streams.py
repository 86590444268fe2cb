"""Production-like streams of paired and canary outcomes for route-level simulation.

Pure numpy, seeded. A stream is a frozen dataclass of its parameters, called with a
random generator and a length (``Make``; a class, so worker processes can take it). It
returns one run's evidence (``Streams``) in the columns the judge feeds the checks,
request by request in arrival order, so that dependence in time is what the checks see:

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

from shadowgate.rollout.evidence import Bools, CanaryBatch, Floats, LabelBatch, PairBatch
from shadowgate.stats.datagen import ar1, errors


@dataclass
class Streams:
    """One run's evidence; empty batches for what a scenario does not produce."""

    pairs: PairBatch = field(default_factory=PairBatch)
    #: one entry per pair; ``label_at`` is the request index its label arrives at (inf: never)
    labels: LabelBatch = field(default_factory=LabelBatch)
    canary: CanaryBatch = field(default_factory=CanaryBatch)


Make = Callable[[np.random.Generator, int], Streams]


@dataclass(frozen=True)
class LatencyPairs:
    """Shadow pairs: log(cand/prod) = log(slowdown) + own noises + own AR(1) loads."""

    slowdown: float = 1.0
    noise_sd: float = 0.3
    phi: float = 0.0
    load_sd: float = 0.0
    prod_err: float = 1e-4
    cand_err: float = 1e-4
    burst: float = 1.0

    def __call__(self, rng: np.random.Generator, n: int) -> Streams:
        pf = errors(rng, n, self.prod_err, self.burst)
        cf = errors(rng, n, self.cand_err, self.burst)
        ratio = (
            math.log(self.slowdown)
            + rng.normal(0.0, self.noise_sd, n)
            - rng.normal(0.0, self.noise_sd, n)
            + ar1(rng, n, self.phi, self.load_sd)
            - ar1(rng, n, self.phi, self.load_sd)
        )
        ratio = np.where(pf | cf, np.nan, ratio)
        agree = np.where(pf | cf, np.nan, 1.0)
        return Streams(PairBatch(pf, cf, ratio, agree))


@dataclass(frozen=True)
class AgreementRuns:
    """Agreement in runs (mean length ``run``) alternating between ``low`` and ``high``."""

    low: float
    high: float
    run: float

    def __call__(self, rng: np.random.Generator, n: int) -> Streams:
        s = LatencyPairs()(rng, n)
        lengths = rng.geometric(1.0 / self.run, 2 * n // max(int(self.run), 1) + 10)
        while lengths.sum() < n:
            lengths = np.concatenate([lengths, rng.geometric(1.0 / self.run, 100)])
        level = np.repeat(np.resize([self.low, self.high], lengths.size), lengths)[:n]
        if rng.random() < 0.5:
            level = self.low + self.high - level
        agree = s.pairs.agreement
        s.pairs.agreement = np.where(np.isnan(agree), np.nan, rng.binomial(32, level) / 32.0)
        return s


@dataclass(frozen=True)
class LabelledAccuracy:
    """Correctness per pair, the candidate better on negatives, worse on positives.

    Positives' labels arrive ``pos_delay`` requests after negatives' (fraud confirmed,
    a user churned): an analysis that reads labels as they arrive sees negatives first.
    """

    positives: float = 0.3
    prod_acc: float = 0.9
    cand_neg: float = 0.92
    cand_pos: float = 0.82
    neg_delay: float = 100.0
    pos_delay: float = 5_000.0

    def __call__(self, rng: np.random.Generator, n: int) -> Streams:
        s = LatencyPairs()(rng, n)
        pos = rng.random(n) < self.positives
        prod = (rng.random(n) < self.prod_acc).astype(np.float64)
        cand = (rng.random(n) < np.where(pos, self.cand_pos, self.cand_neg)).astype(np.float64)
        delay = np.where(pos, self.pos_delay, self.neg_delay) * rng.uniform(0.5, 1.5, n)
        s.labels = LabelBatch(prod_correct=prod, cand_correct=cand, label_at=np.arange(n) + delay)
        return s


@dataclass(frozen=True)
class Losses:
    """Per-pair losses: ``"01"`` (Bernoulli 0.1 vs 0.1 + shift) or ``"log"`` (rare mistakes),
    a share ``labelled`` of the pairs labelled at once, the others never."""

    kind: str
    shift: float
    labelled: float = 1.0

    def __call__(self, rng: np.random.Generator, n: int) -> Streams:
        s = LatencyPairs()(rng, n)
        if self.kind == "01":
            prod = (rng.random(n) < 0.1).astype(np.float64)
            cand = (rng.random(n) < 0.1 + self.shift).astype(np.float64)
        else:  # log loss: mostly small, a rare confident mistake costs 10 nats
            base = rng.exponential(0.2, n)
            prod = base + rng.exponential(0.05, n)
            mistakes = rng.random(n) < self.shift / 10.0
            cand = base + rng.exponential(0.05, n) + np.where(mistakes, 10.0, 0.0)
        now = np.arange(n, dtype=np.float64)
        label_at = np.where(rng.random(n) < self.labelled, now, np.inf)
        s.labels = LabelBatch(prod_loss=prod, cand_loss=cand, label_at=label_at)
        return s


@dataclass(frozen=True)
class Canary:
    """Canary requests: the candidate serves ``share`` of them; errors at each rate (with
    ``burst`` > 1, each variant's own bad minutes: bursts of that mean length in time)."""

    share: float = 0.5
    prod_err: float = 0.002
    cand_err: float = 0.003
    slowdown: float = 1.0
    burst: float = 1.0

    def __call__(self, rng: np.random.Generator, n: int) -> Streams:
        cand = rng.random(n) < self.share
        if self.burst > 1.0:
            prod_bad = errors(rng, n, self.prod_err, self.burst)
            failed = np.where(cand, errors(rng, n, self.cand_err, self.burst), prod_bad)
        else:
            failed = rng.random(n) < np.where(cand, self.cand_err, self.prod_err)
        lat = rng.normal(math.log(0.04), 0.5, n) + np.where(cand, math.log(self.slowdown), 0.0)
        lat = np.where(failed, np.nan, lat)
        return Streams(canary=CanaryBatch(cand, failed, lat, assigned=np.ones(n, dtype=bool)))


def recorded(
    prod_fail: Bools,
    cand_fail: Bools,
    log_ratio: Floats,
    agreement: Floats,
    *,
    block: int,
) -> Make:
    """A/A from a user's own recorded pairs: swap the sides of whole blocks at random.

    Each run starts at a random point (wrapping around) and flips production and
    candidate in blocks of ``block`` pairs with probability 1/2: the mean difference is
    then 0 whatever the candidate was, while the dependence within a block — the user's
    own load episodes and bursts — is kept. Agreement is symmetric and stays as recorded.
    """
    return Recorded(prod_fail, cand_fail, log_ratio, agreement, block)


@dataclass(frozen=True)
class Recorded:
    """The stream :func:`recorded` returns."""

    prod_fail: Bools
    cand_fail: Bools
    log_ratio: Floats
    agreement: Floats
    block: int

    def __call__(self, rng: np.random.Generator, n: int) -> Streams:
        m, block = self.log_ratio.size, self.block
        shift = int(rng.integers(m))
        idx = (np.arange(n) + shift) % m
        flip = np.repeat(rng.random(n // block + 1) < 0.5, block)[:n]
        pf, cf = self.prod_fail[idx], self.cand_fail[idx]
        ratio = self.log_ratio[idx]
        return Streams(
            PairBatch(
                np.where(flip, cf, pf),
                np.where(flip, pf, cf),
                np.where(flip, -ratio, ratio),
                self.agreement[idx],
            )
        )
