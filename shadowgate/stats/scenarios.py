"""The scenario catalogue of ``shadowgate simulate``: every test under A/A and A/B.

Null scenarios put the truth exactly on the null boundary (the hardest case for a
one-sided test). Alternatives use the effect each check is designed to catch, with the
fixed-horizon sample size for 80 % power at the same alpha and sidedness alongside.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import stats as sps

from shadowgate.stats import datagen
from shadowgate.stats._core import Alternative
from shadowgate.stats.simulation import (
    Scenario,
    bounded_runner,
    count_share_runner,
    paired_runner,
    sign_runner,
    two_sample_runner,
)

ALPHA = 0.05
CANARY_STEPS = (0.01, 0.05, 0.25, 0.5)


def z_sum(alternative: Alternative, alpha: float = ALPHA, power: float = 0.8) -> float:
    za = sps.norm.ppf(1 - alpha / 2) if alternative == "two-sided" else sps.norm.ppf(1 - alpha)
    return float(za + sps.norm.ppf(power))


def n80_mean(effect: float, sd: float, alternative: Alternative) -> float:
    return (z_sum(alternative) * sd / effect) ** 2


def n80_binomial(p0: float, p1: float, alternative: Alternative) -> float:
    za = z_sum(alternative) - float(sps.norm.ppf(0.8))
    zb = float(sps.norm.ppf(0.8))
    return ((za * math.sqrt(p0 * (1 - p0)) + zb * math.sqrt(p1 * (1 - p1))) / (p1 - p0)) ** 2


def _paired_moments(family: str, slowdown: float) -> tuple[float, float]:
    x = datagen.paired_log_ratios(np.random.default_rng(7), (1, 400_000), family, slowdown)
    return float(x.mean()), float(x.std())


def _log_latency_sd(family: str) -> float:
    prod, _ = datagen.base_latency_ms(np.random.default_rng(7), (1, 400_000), family)
    return float(np.log(prod).std())


def build(quick: bool = False) -> list[Scenario]:
    """All scenarios; ``quick`` shortens horizons for CI-sized runs."""
    h = 2_000 if quick else 10_000
    he = 1_000 if quick else 5_000
    sc: list[Scenario] = []
    pairs: tuple[tuple[Alternative, int], ...] = (("two-sided", 1), ("greater", 1000))
    for fam in ("lognormal", "pareto"):
        for alt, mb in pairs:
            sc.append(
                Scenario(
                    f"paired-{fam}-{alt}",
                    "PairedMeanTest",
                    True,
                    f"shadow latency log-ratio, {fam} ms latencies, A/A, batches 1..{mb}",
                    h,
                    "pairs",
                    paired_runner(fam, 1.0, 0.0, alt, None),
                    max_batch=mb,
                )
            )
    sc.append(
        Scenario(
            "paired-noninferiority-boundary",
            "PairedMeanTest",
            True,
            "candidate exactly 10% slower, margin log(1.10), alternative less (pass test)",
            h,
            "pairs",
            paired_runner("lognormal", 1.10, math.log(1.10), "less", math.log(1.10)),
        )
    )
    fam_alts: tuple[tuple[str, Alternative], ...] = (
        ("lognormal", "two-sided"),
        ("pareto", "greater"),
    )
    for fam, alt in fam_alts:
        sc.append(
            Scenario(
                f"two-sample-{fam}-{alt}",
                "TwoSampleMeanTest",
                True,
                f"canary log latency, {fam}, share 1%->5%->25%->50%, A/A, batches 1..1000",
                h,
                "requests",
                two_sample_runner(fam, 1.0, CANARY_STEPS, alt, None),
                max_batch=1000,
            )
        )
    for alt in ("two-sided", "greater"):
        sc.append(
            Scenario(
                f"sign-errors-{alt}",
                "SignTest",
                True,
                "shadow errors, discordant pairs, equal error rates (1e-4..1e-2: only the "
                "discordant pairs matter)",
                he,
                "discordant pairs",
                sign_runner(0.5, alt),
            )
        )
    for alt in ("two-sided", "greater"):
        sc.append(
            Scenario(
                f"count-share-errors-{alt}",
                "CountShareTest",
                True,
                "canary error origins, share 1%->5%->25%->50% mid-run, equal error rates",
                he,
                "error events",
                count_share_runner(CANARY_STEPS, 1.0, alt),
                max_batch=1000,
            )
        )
    sc.append(
        Scenario(
            "srm-requests",
            "CountShareTest",
            True,
            "sample-ratio check on request origins, share 10%->50%, correct split",
            h,
            "requests",
            count_share_runner((0.1, 0.5), 1.0, "two-sided"),
            max_batch=1000,
        )
    )
    sc.append(
        Scenario(
            "bounded-agreement-boundary",
            "BoundedMeanCS",
            True,
            "agreement Bernoulli(0.9), threshold 0.9, alternative greater (pass test)",
            h,
            "pairs",
            bounded_runner("bernoulli", 0.9, 0.9, "greater"),
        )
    )
    sc.append(
        Scenario(
            "bounded-score-two-sided",
            "BoundedMeanCS",
            True,
            "scores Beta with mean 0.7, threshold 0.7, two-sided; also checks CS coverage",
            h,
            "pairs",
            bounded_runner("beta", 0.7, 0.7, "two-sided"),
            max_batch=1000,
        )
    )

    # ---- alternatives
    d = math.log(1.05)
    mu, sd = _paired_moments("lognormal", 1.05)
    # the same 5% slowdown, as the harm test and as the two-sided test at the design effect
    for name, alt, note in (
        ("harm-5pct-slower", "greater", ""),
        ("two-sided-design-effect", "two-sided", " = the design effect"),
    ):
        sc.append(
            Scenario(
                f"ALT paired-{name}",
                "PairedMeanTest",
                False,
                f"candidate 5% slower (lognormal), {alt}, mde=log(1.05){note}",
                h,
                "pairs",
                paired_runner("lognormal", 1.05, 0.0, alt, d),
                fixed_n80=n80_mean(mu, sd, alt),
            )
        )
    mu0, sd0 = _paired_moments("lognormal", 1.0)
    sc.append(
        Scenario(
            "ALT paired-noninferiority-pass",
            "PairedMeanTest",
            False,
            "candidate as fast as production, margin log(1.10), less, mde=log(1.10)",
            h,
            "pairs",
            paired_runner("lognormal", 1.0, math.log(1.10), "less", math.log(1.10)),
            fixed_n80=n80_mean(math.log(1.10) - mu0, sd0, "less"),
        )
    )
    s_log = _log_latency_sd("lognormal")
    d10 = math.log(1.10)
    sc.append(
        Scenario(
            "ALT two-sample-10pct-slower",
            "TwoSampleMeanTest",
            False,
            "canary 10% slower, share 10%, greater, mde=log(1.10)",
            h,
            "requests",
            two_sample_runner("lognormal", 1.10, (0.1,), "greater", d10),
            fixed_n80=z_sum("greater") ** 2 * (s_log**2 / 0.1 + s_log**2 / 0.9) / d10**2,
        )
    )
    p1 = 0.015 * 0.99 / (0.015 * 0.99 + 0.01 * 0.985)
    sc.append(
        Scenario(
            "ALT sign-errors-1.0-vs-1.5pct",
            "SignTest",
            False,
            f"shadow errors 1.0% vs 1.5%: P(only candidate fails | discordant) = {p1:.3f}",
            he,
            "discordant pairs",
            sign_runner(p1, "greater"),
            fixed_n80=n80_binomial(0.5, p1, "greater"),
        )
    )
    q = 0.1 * 2 / (0.1 * 2 + 0.9)
    sc.append(
        Scenario(
            "ALT count-share-errors-2x",
            "CountShareTest",
            False,
            "canary share 10%, candidate error rate 2x production's, greater",
            he,
            "error events",
            count_share_runner((0.1,), 2.0, "greater"),
            fixed_n80=n80_binomial(0.1, q, "greater"),
        )
    )
    sc.append(
        Scenario(
            "ALT bounded-agreement-0.95",
            "BoundedMeanCS",
            False,
            "agreement Bernoulli(0.95), threshold 0.9, greater",
            h,
            "pairs",
            bounded_runner("bernoulli", 0.95, 0.9, "greater"),
            fixed_n80=n80_binomial(0.9, 0.95, "greater"),
        )
    )
    return sc
