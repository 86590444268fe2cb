"""Time to a decision for a traffic rate and an effect size, by simulating the real test.

Each metric maps to the test the judge runs on it; the samples-to-decision distribution
comes from Monte-Carlo replicates through the same kernels, and is turned into time with
the rate of the samples that test consumes (pairs, discordant pairs, or error events).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from shadowgate.stats.scenarios import n80_binomial, n80_mean
from shadowgate.stats.simulation import (
    Runner,
    Scenario,
    bounded_runner,
    count_share_runner,
    paired_runner,
    run_scenario,
    sign_runner,
)


@dataclass(frozen=True)
class Plan:
    metric: str
    test: str
    samples_per_second: float
    unit: str
    power: float
    median_seconds: float | None
    mean_seconds: float | None
    p90_seconds: float | None
    fixed_n80_seconds: float | None


def plan(
    metric: str,
    rate: float,
    effect: float,
    *,
    baseline: float = 0.01,
    mode: str = "shadow",
    weight: float = 0.1,
    runs: int = 400,
    seed: int = 1,
    horizon_factor: float = 6.0,
) -> Plan:
    """Distribution of time to a decision (harm test, alpha = 0.05) for one check.

    ``rate`` is requests per second. ``effect`` is absolute for errors and accuracy
    (candidate minus production) and relative for latency (0.05 = 5 % slower).
    """
    if rate <= 0 or effect <= 0:
        raise ValueError("rate and effect must be positive")
    if metric == "errors" and mode == "shadow":
        pc, pp = baseline + effect, baseline
        disc = pc * (1 - pp) + pp * (1 - pc)
        p1 = pc * (1 - pp) / disc
        n80 = n80_binomial(0.5, p1, "greater")
        sc = _scenario("SignTest", "discordant pairs", n80, sign_runner(p1, "greater"))
        per_s = rate * disc
    elif metric == "errors":
        ratio = (baseline + effect) / baseline
        q = weight * ratio / (weight * ratio + 1 - weight)
        n80 = n80_binomial(weight, q, "greater")
        sc = _scenario(
            "CountShareTest", "error events", n80, count_share_runner((weight,), ratio, "greater")
        )
        per_s = rate * (weight * (baseline + effect) + (1 - weight) * baseline)
    elif metric == "latency":
        d = math.log1p(effect)
        n80 = n80_mean(d, _paired_sd(), "greater")  # paired log-ratios, lognormal ms latencies
        runner = paired_runner("lognormal", 1 + effect, 0.0, "greater", d)
        sc = _scenario("PairedMeanTest", "pairs", n80, runner)
        per_s = rate
    elif metric == "accuracy":
        # candidate less accurate by ``effect``: harm test on per-pair correctness
        p = baseline
        n80 = n80_binomial(p, p - effect, "less")
        sc = _scenario(
            "BoundedMeanCS",
            "labelled pairs",
            n80,
            bounded_runner("bernoulli", p - effect, p, "less"),
        )
        per_s = rate
    else:
        raise ValueError(f"metric must be errors, latency or accuracy; got {metric!r}")
    horizon = int(max(200, horizon_factor * n80))
    sc = Scenario(sc.name, sc.test, False, sc.description, horizon, sc.unit, sc.run, n80)
    res = run_scenario(sc, runs, seed)
    hits_med = res["median_samples"]

    def secs(n: float | None) -> float | None:
        return None if n is None else n / per_s

    mean_n = res.get("mean_samples")
    return Plan(
        metric,
        sc.test,
        per_s,
        sc.unit,
        res["reject_rate"],
        secs(hits_med),
        secs(mean_n),
        secs(res["p90_samples"]),
        secs(n80),
    )


def _scenario(test: str, unit: str, n80: float, run: Runner) -> Scenario:
    return Scenario(f"plan-{test}", test, False, "plan", int(n80), unit, run, n80)


def _paired_sd() -> float:
    from shadowgate.stats.datagen import paired_log_ratios

    x = paired_log_ratios(np.random.default_rng(7), (1, 200_000), "lognormal", 1.0)
    return float(x.std())
