"""A check's ``burst``: the betting pass test of errors, accuracy and bounded losses made
valid for outcomes that come in bursts, at the cost the data set; a new burst is a new
hypothesis."""

from __future__ import annotations

import json

import numpy as np
import pytest
from pydantic import ValidationError

from shadowgate.config.model import AnalysisConfig, CheckConfig
from shadowgate.rollout.analysis import RouteAnalysis, fingerprint
from shadowgate.rollout.evidence import PairBatch
from shadowgate.stats import BoundedMeanCS, InterleavedMeanTest, PairedMeanTest, TwoSampleMeanTest
from shadowgate.stats.datagen import errors
from shadowgate.stats.interleaved_two_sample import InterleavedTwoSampleTest


def config(burst: int = 1, metric: str = "errors") -> AnalysisConfig:
    check: dict[str, object] = {"metric": metric}
    if burst != 1:
        check["burst"] = burst
    return AnalysisConfig.model_validate({"checks": [check], "min_samples": 20})


def pairs(prod_fail: np.ndarray, cand_fail: np.ndarray) -> PairBatch:
    n = len(prod_fail)
    return PairBatch(prod_fail, cand_fail, np.zeros(n), np.full(n, np.nan), [None] * n)


def test_burst_is_for_the_betting_checks_only() -> None:
    for metric in ("errors", "accuracy"):
        assert CheckConfig.model_validate({"metric": metric, "burst": 100}).burst == 100
    assert CheckConfig.model_validate({"metric": "loss", "bound": 5, "burst": 10}).burst == 10
    with pytest.raises(ValidationError, match="burst applies to metrics errors, accuracy"):
        CheckConfig.model_validate({"metric": "latency", "burst": 20})
    with pytest.raises(ValidationError, match="not loss without a bound"):
        CheckConfig.model_validate({"metric": "loss", "burst": 20})
    with pytest.raises(ValidationError, match="greater than or equal to 1"):
        CheckConfig.model_validate({"metric": "errors", "burst": 0})
    with pytest.raises(ValidationError, match="integer"):
        CheckConfig.model_validate({"metric": "errors", "burst": 2.5})


def test_burst_changes_only_the_pass_test() -> None:
    plain = RouteAnalysis(config()).checks["shadow"]["errors"]
    bursty = RouteAnalysis(config(burst=250)).checks["shadow"]["errors"]
    assert isinstance(plain.pass_, BoundedMeanCS)
    assert isinstance(bursty.pass_, InterleavedMeanTest) and bursty.pass_.spacing == 250
    assert isinstance(bursty.harm, PairedMeanTest)  # harm is long-run already
    assert type(bursty.display) is type(plain.display)
    # the status shows the declared burst; a check without one looks as before
    assert bursty.results(0.05)[0].to_dict()["burst"] == 250
    assert "burst" not in plain.results(0.05)[0].to_dict()


def test_a_worse_candidate_in_bursts_passes_only_without_a_burst() -> None:
    """1 % vs 2 % errors in bursts of ~50, through the route's analysis, a look every 50."""
    rng = np.random.default_rng(21)
    passed = {1: 0, 250: 0}
    runs = 30
    for _ in range(runs):
        pf, cf = errors(rng, 20_000, 0.01, 50.0), errors(rng, 20_000, 0.02, 50.0)
        for burst in passed:
            a = RouteAnalysis(config(burst=burst))
            for i in range(0, 20_000, 50):
                a.add_pairs(pairs(pf[i : i + 50], cf[i : i + 50]))
                if a.results("shadow")[0].verdict == "passed":
                    passed[burst] += 1
                    break
    assert passed[1] >= 0.25 * runs, passed  # the negative control must fail
    assert passed[250] == 0, passed


def test_bursty_state_is_the_same_in_chunks_and_through_a_restart() -> None:
    rng = np.random.default_rng(4)
    pf, cf = errors(rng, 3_000, 0.01, 20.0), errors(rng, 3_000, 0.01, 20.0)
    whole = RouteAnalysis(config(burst=7))
    whole.add_pairs(pairs(pf, cf))
    split = RouteAnalysis(config(burst=7))
    for i in range(0, 1_500, 13):
        split.add_pairs(pairs(pf[i : min(i + 13, 1_500)], cf[i : min(i + 13, 1_500)]))
    restored = RouteAnalysis.from_dict(config(burst=7), json.loads(json.dumps(split.to_dict())))
    restored.add_pairs(pairs(pf[1_500:], cf[1_500:]))
    a, b = whole.results("shadow")[0], restored.results("shadow")[0]
    assert a.n == b.n == 3_000
    assert a.p_pass == b.p_pass and a.p_harm == pytest.approx(b.p_harm, rel=1e-12)


def test_a_new_burst_is_a_new_hypothesis() -> None:
    assert fingerprint(config().checks[0]) == "errors margin=0.001 goal=non_inferior"
    assert fingerprint(config(burst=100).checks[0]) == (
        "errors margin=0.001 burst=100 goal=non_inferior"
    )
    a = RouteAnalysis(config(burst=100))
    z = np.zeros(300, bool)
    a.add_pairs(pairs(z, z))
    notes = a.reconfigure(config(burst=200))
    assert a.checks["shadow"]["errors"].n == 0
    assert any("burst=100" in n and "burst=200" in n and "300" in n for n in notes)
    # and through a restart: the saved state was gathered under burst 100
    b = RouteAnalysis(config(burst=100))
    b.add_pairs(pairs(z, z))
    again = RouteAnalysis.from_dict(config(), json.loads(json.dumps(b.to_dict())))
    assert again.checks["shadow"]["errors"].n == 0
    assert isinstance(again.checks["shadow"]["errors"].pass_, BoundedMeanCS)


def test_a_canary_check_with_burst_passes_by_interleaved_pairs() -> None:
    """In a canary, ``burst`` makes the pass test the interleaved paired one (the harm
    test keeps the long-run variance); it shows in the result, survives a restart, and a
    new burst restarts the check's tests."""
    cfg = config(burst=100)
    assert fingerprint(cfg.checks[0], "canary") == "errors margin=0.001 burst=100 goal=non_inferior"
    a = RouteAnalysis(cfg, canary_weight=0.5)
    canary = a.checks["canary"]["errors"]
    assert isinstance(canary.pass_, InterleavedTwoSampleTest) and canary.pass_.spacing == 100
    assert isinstance(canary.harm, TwoSampleMeanTest)
    assert isinstance(
        RouteAnalysis(config(), canary_weight=0.5).checks["canary"]["errors"].pass_,
        TwoSampleMeanTest,
    )
    n = 400
    rng = np.random.default_rng(6)
    canary.update(np.zeros(n), (rng.random(n) < 0.5).astype(float), [None] * n)
    assert canary.results(0.05)[0].to_dict()["burst"] == 100
    again = RouteAnalysis.from_dict(cfg, json.loads(json.dumps(a.to_dict())))
    kept = again.checks["canary"]["errors"]
    assert kept.n == n and kept.pass_.to_dict() == canary.pass_.to_dict()
    notes = a.reconfigure(config(burst=200))
    assert a.checks["canary"]["errors"].n == 0  # a new hypothesis: restarted
    assert any("burst=100" in x and "burst=200" in x for x in notes)
