"""CI-sized Monte-Carlo checks: A/A false decisions, CS coverage, power vs fixed horizon.

Tolerance: with R runs at alpha = 0.05 the Monte-Carlo standard error is
sqrt(0.05 * 0.95 / R); a test passes when its rate is <= alpha + 3 s.e. The same data
fed to a fixed-horizon t-test re-run at every look must exceed that bound by far
(negative control), so these checks can fail.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from shadowgate.stats.scenarios import build
from shadowgate.stats.simulation import run_scenario

RUNS = 2000
ALPHA = 0.05
BOUND = ALPHA + 3 * math.sqrt(ALPHA * (1 - ALPHA) / RUNS)
SCENARIOS = {s.name: s for s in build(quick=True)}
NULLS = [name for name, s in SCENARIOS.items() if s.null]


@pytest.mark.slow
@pytest.mark.parametrize("name", NULLS)
def test_aa_false_decision_rate_within_alpha(name: str) -> None:
    result = run_scenario(SCENARIOS[name], RUNS, seed=11)
    assert result["reject_rate"] <= BOUND, result
    if "cs_miss_rate" in result:
        assert result["cs_miss_rate"] <= BOUND, result


@pytest.mark.slow
@pytest.mark.parametrize(
    "name", ["paired-lognormal-two-sided", "sign-errors-two-sided", "bounded-agreement-boundary"]
)
def test_naive_rerun_t_test_fails_the_same_bound(name: str) -> None:
    result = run_scenario(SCENARIOS[name], RUNS, seed=12)
    assert result["naive_reject_rate"] > 3 * BOUND, result


@pytest.mark.slow
def test_paired_median_samples_at_design_effect_beat_fixed_horizon() -> None:
    sc = SCENARIOS["ALT paired-two-sided-design-effect"]
    result = run_scenario(sc, 1000, seed=13)
    assert sc.fixed_n80 is not None
    # undecided runs count as "beyond the horizon", so this cannot flatter the test
    assert result["median_samples_all"] <= sc.fixed_n80, result


def test_paired_confidence_sequence_covers_at_every_look() -> None:
    from shadowgate.stats import PairedMeanTest

    rng = np.random.default_rng(3)
    misses = 0
    runs = 300
    for _ in range(runs):
        t = PairedMeanTest()
        x = rng.standard_t(5, size=2000) + 1.5
        for chunk in np.array_split(x, 40):
            t.update(chunk)
            lo, hi = t.confidence_interval(ALPHA)
            if not lo <= 1.5 <= hi:
                misses += 1
                break
    # looks only at batch ends here, so the miss rate is at most the every-prefix rate
    assert misses / runs <= ALPHA + 3 * math.sqrt(ALPHA * (1 - ALPHA) / runs)
