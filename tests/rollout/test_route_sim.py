"""CI-sized route-level simulation: the judge's procedure holds on dependent nulls where the
earlier i.i.d. procedure (the negative control, same seeds) fails, and keeps its speed.

Sizes are small (tens of runs) so the bounds are loose but still separate the two: the
control's false-rollback rates here are 0.4-0.7, the procedure's a few percent at most.
"""

from __future__ import annotations

import numpy as np
import pytest

from shadowgate.rollout.machine import Event
from shadowgate.rollout.route_scenarios import build
from shadowgate.rollout.route_sim import holds, looks, other_wrong, run_many, run_once, summarise

SCENARIOS = {s.name: s for s in build()}


@pytest.mark.parametrize("name", ["A/A AR(1) phi=0.99", "A/A bursty errors 1.0%"])
def test_dependent_null_holds_where_the_iid_procedure_fails(name: str) -> None:
    sc = SCENARIOS[name]
    now = run_many(sc, 12, 20_000, seed=5, method="long-run")
    control = run_many(sc, 12, 20_000, seed=5, method="iid")
    assert now["rate"] <= 1 / 12, now
    assert control["rate"] >= 4 / 12, control  # the negative control must fail
    assert not holds({**control, "se": 0.0})


def test_iid_slowdown_is_still_caught_fast() -> None:
    r = run_many(SCENARIOS["i.i.d. 20% slower"], 10, 20_000, seed=6, method="long-run")
    assert r["rate"] == 1.0 and r["median_n"] is not None and r["median_n"] <= 750


@pytest.mark.slow
def test_identical_candidate_is_promoted_and_labels_wait_for_their_window() -> None:
    r = run_many(SCENARIOS["identical promoted"], 10, 20_000, seed=7, method="long-run")
    assert r["rate"] >= 0.8 and r["median_n"] is not None and r["median_n"] < 10_000
    # informative label delay: reading labels as they arrive promotes a worse model
    sc = SCENARIOS["accuracy at margin, label delay"]
    rng = np.random.default_rng(8)
    assert run_once(sc, rng, 20_000, "iid")[0] is Event.PASSED
    rng = np.random.default_rng(8)
    assert run_once(sc, rng, 20_000, "long-run")[0] is not Event.PASSED


def test_looks_cover_the_horizon() -> None:
    lk = looks(20_000)
    assert lk[0] == 50 and lk[-1] == 20_000 and lk == sorted(set(lk))


def test_a_loss_bound_stops_rare_mistakes_from_passing_at_the_margin() -> None:
    """Rare 10-nat mistakes fool the scale-learning loss test; the bounded one holds."""
    bounded = run_many(
        SCENARIOS["log loss at margin, rare mistakes, bound 15"], 12, 20_000, 9, "long-run"
    )
    unbounded = run_many(SCENARIOS["log loss at margin, rare mistakes"], 12, 20_000, 9, "long-run")
    assert bounded["rate"] == 0.0, bounded
    assert unbounded["rate"] >= 4 / 12, unbounded  # the same seeds without the bound


def test_a_declared_burst_stops_a_worse_bursty_candidate_from_passing() -> None:
    """1 % vs 2 % errors in bursts of ~50 (ten margins worse): taken as independent, the
    quiet stretches pass it; with burst 250 declared, the same seeds never pass."""
    declared = run_many(
        SCENARIOS["worse errors in bursts 1.0%, burst 250"], 12, 20_000, 10, "long-run"
    )
    taken_iid = run_many(SCENARIOS["worse errors in bursts 1.0%"], 12, 20_000, 10, "long-run")
    assert declared["rate"] == 0.0, declared
    assert taken_iid["rate"] >= 3 / 12, taken_iid  # the known failure must show


def test_a_row_at_the_margin_also_counts_its_rollbacks_against_the_harm_shares() -> None:
    """At a margin both questions' nulls hold: a rollback there is wrong too, against the
    harm shares of the tests the phase runs (agreement: 3 shadow tests of 5 + the split
    check's share, 3 x 0.025 / 6). The 10 000-run table before the upper-bound batch means
    had 273 such rollbacks (0.027), which the pass column alone did not show."""
    sc = SCENARIOS["agreement at min 0.9, runs"]
    assert other_wrong(sc) == (Event.HARM, pytest.approx(0.0125))
    assert other_wrong(SCENARIOS["A/A AR(1) phi=0.9"]) is None  # promoting it is right
    # ten margins worse: rolling it back is right
    assert other_wrong(SCENARIOS["worse errors in bursts 1.0%"]) is None
    assert other_wrong(SCENARIOS["i.i.d. 20% slower"]) == (Event.PASSED, 0.025)
    events = {"none": 9407, "passed": 200, "harm": 273}
    row = summarise(
        sc, [(k, 5_000) for k, c in events.items() for _ in range(c)], 20_000, "long-run"
    )
    assert row["rate"] <= row["nominal"] and row["other"]["rate"] == pytest.approx(273 / 9880)
    assert not holds(row)
    fine = summarise(sc, [("harm", 5_000)] * 80 + [("none", 20_000)] * 9_800, 20_000, "long-run")
    assert holds(fine)
