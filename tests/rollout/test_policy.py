"""Playbooks for the decision policy: evidence in, expected decisions out (no I/O)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from shadowgate.config.model import RouteConfig
from shadowgate.rollout.analysis import RouteAnalysis
from shadowgate.rollout.evidence import CanaryBatch, LabelBatch, PairBatch
from shadowgate.rollout.machine import Event, RolloutState, State, transition
from shadowgate.rollout.policy import decide


def route(**over: object) -> RouteConfig:
    base: dict[str, object] = {
        "name": "m",
        "match": {"path_prefix": "/m"},
        "production": {"url": "http://127.0.0.1:1"},
        "candidate": {"url": "http://127.0.0.1:2"},
        "analysis": {
            "min_samples": 200,
            "checks": [{"metric": "errors", "margin": 0.01}, {"metric": "latency", "margin": 0.1}],
        },
    }
    base.update(over)
    return RouteConfig.model_validate(base)


def pairs(
    rng: np.random.Generator,
    n: int,
    *,
    slow: float = 1.0,
    p_err: float = 0.01,
    c_err: float = 0.01,
    segments: list[str | None] | None = None,
) -> PairBatch:
    base = rng.lognormal(math.log(0.02), 0.5, n)
    noise = rng.lognormal(0.0, 0.1, n)
    prod_lat = base
    cand_lat = base * noise * slow
    pf = rng.random(n) < p_err
    cf = rng.random(n) < c_err
    ratio = np.where(pf | cf, np.nan, np.log(cand_lat / prod_lat))
    agree = np.where(pf | cf, np.nan, 1.0)
    return PairBatch(pf, cf, ratio, agree, segments or [None] * n)


def run(
    r: RouteConfig, batches: int, batch: int, seed: int, **kw: float
) -> tuple[Event | None, int]:
    rng = np.random.default_rng(seed)
    a = RouteAnalysis(r.analysis)
    st = RolloutState(State.SHADOW)
    for i in range(batches):
        a.add_pairs(pairs(rng, batch, **kw))  # type: ignore[arg-type]
        d = decide(r, st, a, now=float(i), started_at=0.0)
        if d is not None:
            return d.event, a.pairs
    return None, a.pairs


def test_thirty_percent_slower_is_rolled_back() -> None:
    event, _n = run(route(), 100, 50, seed=1, slow=1.3)
    assert event is Event.HARM


def test_three_points_more_errors_is_rolled_back() -> None:
    event, _ = run(route(), 200, 50, seed=2, c_err=0.04)
    assert event is Event.HARM


def test_identical_candidate_passes_noninferiority_and_is_never_rolled_back() -> None:
    harms = 0
    passes = 0
    for seed in range(30):
        event, n = run(route(), 200, 50, seed=100 + seed)
        harms += event is Event.HARM
        passes += event is Event.PASSED
        if event is Event.PASSED:
            assert n >= 200  # never before min_samples
    assert harms == 0
    assert passes >= 25


def test_decides_nothing_when_evidence_is_known_incomplete() -> None:
    r = route()
    a = RouteAnalysis(r.analysis)
    a.add_pairs(pairs(np.random.default_rng(3), 3000, slow=2.0))
    st = RolloutState(State.SHADOW)
    assert decide(r, st, a, now=1.0, started_at=0.0, complete=False) is None
    d = decide(r, st, a, now=1.0, started_at=0.0)
    assert d is not None and d.event is Event.HARM and d.result is not None
    assert d.result.check == "latency" and "latency" in d.reason


def test_limits_make_it_inconclusive() -> None:
    r = route(analysis={"min_samples": 10, "max_samples": 100, "deadline": "1h"})
    a = RouteAnalysis(r.analysis)
    a.add_pairs(pairs(np.random.default_rng(4), 100, slow=1.1))  # right at the margin
    d = decide(r, RolloutState(State.SHADOW), a, now=1.0, started_at=0.0)
    assert d is not None and d.event is Event.LIMIT
    a2 = RouteAnalysis(r.analysis)
    d = decide(r, RolloutState(State.SHADOW), a2, now=3601.0, started_at=0.0)
    assert d is not None and d.event is Event.LIMIT and "deadline" in d.reason


def test_accuracy_check_waits_for_labels_then_passes_a_better_model() -> None:
    r = route(analysis={"min_samples": 50, "checks": [{"metric": "accuracy", "margin": 0.01}]})
    a = RouteAnalysis(r.analysis)
    rng = np.random.default_rng(5)
    a.add_pairs(pairs(rng, 500))
    st = RolloutState(State.SHADOW)
    assert decide(r, st, a, now=1.0, started_at=0.0) is None  # no labels yet: pending
    for _ in range(40):
        n = 50
        pc = (rng.random(n) < 0.85).astype(float)
        cc = (rng.random(n) < 0.93).astype(float)
        a.add_labels(LabelBatch(pc, cc, 1 - pc, 1 - cc, [None] * n))
        d = decide(r, st, a, now=1.0, started_at=0.0)
        if d is not None:
            break
    assert d is not None and d.event is Event.PASSED


def test_per_segment_guardrail_catches_harm_in_one_segment() -> None:
    r = route(
        segment={"header": "x-country"},
        analysis={"checks": [{"metric": "latency", "margin": 0.1, "per_segment": True}]},
    )
    a = RouteAnalysis(r.analysis)
    rng = np.random.default_rng(6)
    for _ in range(60):
        good = pairs(rng, 45, segments=["fr"] * 45)
        bad = pairs(rng, 5, slow=3.0, segments=["de"] * 5)
        for b in (good, bad):
            a.add_pairs(b)
    d = decide(r, RolloutState(State.SHADOW), a, now=1.0, started_at=0.0)
    assert d is not None and d.event is Event.HARM
    assert d.result is not None and d.result.segment == "de"


def canary(rng: np.random.Generator, n: int, w: float, fail_c: float = 0.0) -> CanaryBatch:
    cand = rng.random(n) < w
    failed = np.where(cand, rng.random(n) < fail_c, rng.random(n) < 0.001)
    lat = np.where(failed, np.nan, np.log(rng.lognormal(math.log(0.02), 0.3, n)))
    return CanaryBatch(cand, failed, lat, np.ones(n, bool), [None] * n)


@pytest.mark.parametrize("steps", [[10, 50], [5, 25, 50, 100]])
def test_canary_walks_its_steps_then_promotes(steps: list[float]) -> None:
    """Including a last step of 100 %, where production serves nothing: its step counts
    only the candidate's samples (the example config's steps)."""
    r = route(canary={"steps": steps, "step_min_samples": 100})
    a = RouteAnalysis(r.analysis)
    st = RolloutState(State.CANARY, 0)
    a.set_canary_weight(steps[0])
    rng = np.random.default_rng(7)
    seen = []
    for _ in range(400):
        w = r.canary.steps[st.step] / 100
        a.add_canary(canary(rng, 100, w))
        d = decide(r, st, a, now=1.0, started_at=0.0, began_in_shadow=True)
        if d is None:
            continue
        seen.append(d.event)
        st = transition(
            st, d.event, n_steps=len(steps), await_approval=False, now=1.0, reason=d.reason
        )
        if st.state is State.CANARY:
            a.set_canary_weight(r.canary.steps[st.step])
        else:
            break
    assert seen == [Event.STEP_PASSED] * (len(steps) - 1) + [Event.PASSED]
    assert st.state is State.PROMOTED


def test_canary_with_a_failing_candidate_rolls_back() -> None:
    r = route(mode="canary", canary={"weight": 20, "step_min_samples": 10_000})
    a = RouteAnalysis(r.analysis, canary_weight=20)
    rng = np.random.default_rng(8)
    for _ in range(100):
        a.add_canary(canary(rng, 100, 0.2, fail_c=0.08))
        d = decide(r, RolloutState(State.CANARY), a, now=1.0, started_at=0.0)
        if d is not None:
            break
    assert d is not None and d.event is Event.HARM and d.result is not None
    assert d.result.check == "errors"


def test_broken_split_pauses_the_canary() -> None:
    r = route(mode="canary", canary={"weight": 10, "step_min_samples": 10_000})
    a = RouteAnalysis(r.analysis, canary_weight=10)
    rng = np.random.default_rng(9)
    for _ in range(100):
        a.add_canary(canary(rng, 100, 0.2))  # twice the configured share
        d = decide(r, RolloutState(State.CANARY), a, now=1.0, started_at=0.0)
        if d is not None:
            break
    assert d is not None and d.event is Event.SRM and "sample-ratio" in d.reason


@pytest.mark.parametrize("cut", [1, 7, 33])
def test_serialised_analysis_resumes_identically(cut: int) -> None:
    r = route(
        segment={"header": "s"},
        analysis={
            "checks": [
                {"metric": "errors"},
                {"metric": "latency", "per_segment": True},
                {"metric": "agreement"},
            ]
        },
    )
    rng = np.random.default_rng(10)
    data = [pairs(rng, 20, slow=1.05, segments=["a", "b"] * 10) for _ in range(50)]
    whole = RouteAnalysis(r.analysis)
    split = RouteAnalysis(r.analysis)
    for i, b in enumerate(data):
        whole.add_pairs(b)
        split.add_pairs(b)
        if i == cut:
            split = RouteAnalysis.from_dict(r.analysis, split.to_dict())
    assert [x.to_dict() for x in whole.results("shadow")] == [
        x.to_dict() for x in split.results("shadow")
    ]
