"""``rollout.bake``: a failing reference neither promotes nor reverts; the clock stops for it;
and a shadow stage an edit began again passes only on new pairs (pure)."""

from __future__ import annotations

import numpy as np

from rollout.test_policy import pairs, route
from shadowgate.rollout.analysis import RouteAnalysis
from shadowgate.rollout.bake import bake_elapsed, bake_waiting, decide_bake
from shadowgate.rollout.evidence import CanaryBatch
from shadowgate.rollout.machine import Event, RolloutState, State
from shadowgate.rollout.policy import decide

BAKE = {"bake": "60s", "mirror_percent": 10, "min_samples": 300}


def test_pairs_the_reference_failed_are_no_evidence_either_way() -> None:
    r = route(after_promotion=BAKE)
    bake = RouteAnalysis(r.analysis)
    rng = np.random.default_rng(1)
    st = RolloutState(State.BAKING, since=0.0)
    for _ in range(20):  # the former production fails every request
        bake.add_pairs(pairs(rng, 100, p_err=1.0, c_err=0.01))
        assert decide_bake(r, st, bake, now=1000.0) is None  # no revert, no promotion
    assert (bake.pairs, bake.answered) == (2000, 0)
    waiting = bake_waiting(r, bake, elapsed=1000.0)
    assert waiting is not None and "only 0 of the 300 pairs" in waiting
    bake.add_pairs(pairs(rng, 300, p_err=0.0, c_err=0.0))  # it answers again
    d = decide_bake(r, st, bake, now=1000.0)
    assert d is not None and d.event is Event.PASSED and "300 pairs" in d.reason
    assert bake_waiting(r, bake, elapsed=1000.0) is None


def test_the_bake_clock_stops_while_the_reference_fails() -> None:
    st = RolloutState(State.BAKING, since=100.0)
    assert bake_elapsed(st, 160.0) == 60.0
    assert bake_elapsed(st, 160.0, stopped=15.0) == 45.0
    assert bake_elapsed(st, 160.0, stopped=15.0, outage_since=150.0) == 35.0
    assert bake_elapsed(st, 160.0, outage_since=50.0) == 0.0  # failing since before the bake
    r = route(after_promotion=BAKE)
    bake = RouteAnalysis(r.analysis)
    bake.add_pairs(pairs(np.random.default_rng(2), 400, p_err=0.0, c_err=0.0))
    assert decide_bake(r, st, bake, now=160.0, elapsed=45.0) is None
    d = decide_bake(r, st, bake, now=175.0, elapsed=60.0)
    assert d is not None and d.event is Event.PASSED


def test_a_shadow_stage_begun_again_passes_on_new_pairs_only() -> None:
    r = route()
    a = RouteAnalysis(r.analysis)
    rng = np.random.default_rng(3)
    st = RolloutState(State.SHADOW)
    for _ in range(10):
        a.add_pairs(pairs(rng, 200, p_err=0.0, c_err=0.0))
    d = decide(r, st, a, now=1.0, started_at=0.0)
    assert d is not None and d.event is Event.PASSED
    a.restart_stage()  # an edit moved the rollout back to shadow
    assert decide(r, st, a, now=1.0, started_at=0.0) is None
    a.add_pairs(pairs(rng, 199, p_err=0.0, c_err=0.0))
    assert decide(r, st, a, now=1.0, started_at=0.0) is None
    a.add_pairs(pairs(rng, 1, p_err=0.0, c_err=0.0))
    d = decide(r, st, a, now=1.0, started_at=0.0)
    assert d is not None and d.event is Event.PASSED
    again = RouteAnalysis.from_dict(r.analysis, a.to_dict())
    assert (again.stage_pairs, again.answered) == (200, a.answered)


def test_a_canary_at_zero_percent_never_passes() -> None:
    r = route(mode="canary", canary={"weight": 0, "step_min_samples": 10})
    a = RouteAnalysis(r.analysis)
    n = 500
    a.add_canary(
        CanaryBatch(
            np.zeros(n, bool), np.zeros(n, bool), np.full(n, -3.9), np.ones(n, bool), [None] * n
        )
    )
    assert decide(r, RolloutState(State.CANARY), a, now=1.0, started_at=0.0) is None
