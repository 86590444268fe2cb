"""The plan's simulation is the judge's procedure: its checks, α split, policy and steps."""

from __future__ import annotations

from typing import Any

import numpy as np

from shadowgate.config.model import RouteConfig
from shadowgate.rollout import planning
from shadowgate.rollout.planning import Scenario, plan, simulate_run


def route(checks: list[dict[str, Any]], **extra: Any) -> RouteConfig:
    return RouteConfig.model_validate(
        {
            "name": "m",
            "match": {"path_prefix": "/m"},
            "production": {"url": "http://p:1"},
            "candidate": {"url": "http://c:1"},
            "analysis": {"checks": checks, "min_samples": 100},
            **extra,
        }
    )


def test_a_canary_route_walks_its_steps_to_promotion() -> None:
    r = route(
        [{"metric": "errors", "margin": 0.05}],
        mode="canary",
        canary={"steps": [10, 50], "step_min_samples": 50},
    )
    run = simulate_run(r, Scenario("errors", 0.0), 100.0, np.random.default_rng(3))
    assert run.outcome == "promote"
    assert run.samples >= 100 and run.requests == run.samples


def test_the_judges_analysis_is_what_decides(monkeypatch: Any) -> None:
    """Swap the analysis for one whose checks never pass: the plan must then never
    promote, which shows it asks RouteAnalysis rather than a test of its own."""
    real = planning.RouteAnalysis

    class Never(real):  # type: ignore[misc, valid-type]
        def results(self, phase: Any) -> Any:
            return [
                r.__class__(**{**r.__dict__, "verdict": "pending"}) for r in super().results(phase)
            ]

    r = route(
        [{"metric": "errors", "margin": 0.05}],
        analysis={
            "checks": [{"metric": "errors", "margin": 0.05}],
            "min_samples": 100,
            "max_samples": 2000,
        },
    )
    assert plan(r, Scenario("errors", 0.0), 50.0, runs=2).share["promote"] == 1.0
    monkeypatch.setattr(planning, "RouteAnalysis", Never)
    summary = plan(r, Scenario("errors", 0.0), 50.0, runs=2)
    assert summary.share["inconclusive"] == 1.0
    assert summary.samples["inconclusive"]["median"] >= 2000


def test_the_mirror_share_turns_pairs_into_requests() -> None:
    r = route([{"metric": "latency", "margin": 0.1}], mirror={"percent": 25})
    run = simulate_run(r, Scenario("latency", 1.0), 10.0, np.random.default_rng(1))
    assert run.outcome == "rollback" and run.requests == run.samples * 4


def test_a_prediction_shift_check_is_simulated_with_classes() -> None:
    """Pairs get predicted classes of equal shares, so an identical candidate can pass
    the check (without classes it would stay pending and the plan never promote)."""
    r = route(
        [{"metric": "errors", "margin": 0.05}, {"metric": "prediction_shift", "max_shift": 0.05}]
    )
    run = simulate_run(r, Scenario("errors", 0.0), 100.0, np.random.default_rng(4))
    assert run.outcome == "promote"
