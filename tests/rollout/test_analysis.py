"""RouteAnalysis: α spent once, tests keyed by hypothesis, the split check restartable."""

from __future__ import annotations

import json

import numpy as np

from rollout.test_policy import pairs
from shadowgate.config.model import AnalysisConfig
from shadowgate.rollout.analysis import RouteAnalysis, fingerprint
from shadowgate.rollout.evidence import CanaryBatch
from shadowgate.rollout.label_window import LabelWindow

CHECKS = [{"metric": "errors"}, {"metric": "latency", "margin": 0.1}, {"metric": "agreement"}]


def config(**over: object) -> AnalysisConfig:
    base: dict[str, object] = {"checks": CHECKS}
    base.update(over)
    return AnalysisConfig.model_validate(base)


def harm_budget(a: RouteAnalysis) -> float:
    tests = sum(len(states) for states in a.checks.values())
    return tests * a.alpha_harm_each + a.alpha_srm


def test_alpha_is_spent_once_over_both_phases() -> None:
    a = RouteAnalysis(config(alpha=0.05))
    # errors and latency in both phases, agreement in shadow only, plus the SRM guard
    assert sum(len(s) for s in a.checks.values()) == 5
    assert abs(harm_budget(a) - 0.025) < 1e-12
    old = RouteAnalysis(config(alpha=0.05), method="iid")
    assert harm_budget(old) > 0.025 * 1.4  # the earlier split, kept as a control


def test_margin_edit_restarts_only_that_check() -> None:
    a = RouteAnalysis(config())
    a.add_pairs(pairs(np.random.default_rng(1), 400))
    assert a.checks["shadow"]["latency"].n > 300
    edited = [dict(c) for c in CHECKS]
    edited[1]["margin"] = 0.2
    notes = a.reconfigure(config(checks=edited))
    assert a.checks["shadow"]["latency"].n == 0
    assert a.checks["shadow"]["latency"].harm.to_dict()["margin"] > 0.18  # log(1.2)
    assert a.checks["shadow"]["errors"].n == 400  # unchanged hypothesis: evidence kept
    assert any("latency" in n and "discarded" in n for n in notes)
    assert notes == [n for n in a.notes if "latency" in n]


def test_margin_edited_while_the_judge_was_down_restarts_on_load() -> None:
    a = RouteAnalysis(config())
    a.add_pairs(pairs(np.random.default_rng(2), 400))
    saved = json.loads(json.dumps(a.to_dict()))
    same = RouteAnalysis.from_dict(config(), saved)
    assert same.checks["shadow"]["latency"].n == a.checks["shadow"]["latency"].n
    assert same.notes == []
    edited = [dict(c) for c in CHECKS]
    edited[1]["margin"] = 0.05
    b = RouteAnalysis.from_dict(config(checks=edited), saved)
    assert b.checks["shadow"]["latency"].n == 0
    assert b.checks["shadow"]["errors"].n == 400
    assert any("latency" in n and "while the judge was down" in n for n in b.notes)
    assert (
        fingerprint(b.checks["shadow"]["latency"].check)
        != saved["fingerprints"]["shadow"]["latency"]
    )


def canary(rng: np.random.Generator, n: int, share: float) -> CanaryBatch:
    cand = rng.random(n) < share
    lat = rng.normal(-3.0, 0.3, n)
    return CanaryBatch(cand, np.zeros(n, bool), lat, np.ones(n, bool))


def test_restart_split_lets_a_resumed_canary_run_on_new_evidence() -> None:
    rng = np.random.default_rng(3)
    a = RouteAnalysis(config(), canary_weight=25.0)
    a.add_canary(canary(rng, 4_000, 0.10))  # the split was broken
    assert a.srm_rejected()
    note = a.restart_split()
    assert "4000 requests discarded" in note and note in a.notes
    assert not a.srm_rejected()
    for _ in range(30):
        a.add_canary(canary(rng, 2_000, 0.25))  # 60 000 correctly split requests
        assert not a.srm_rejected()
    a.add_canary(canary(rng, 4_000, 0.10))  # and a new break is still caught
    assert a.srm_rejected()


def test_label_window_releases_each_pair_once_in_request_order() -> None:
    req = np.arange(10, dtype=float)
    lab = np.array([1, 50, 2, np.inf, 5, 6, 30, 8, 9, 10], dtype=float)
    w = LabelWindow(window=5.0)
    assert w.due(req, lab, 4.0).size == 0
    first = w.due(req, lab, 7.0)  # pairs 0..2 are due: 1 is labelled too late
    assert first.tolist() == [0, 2] and w.evaluated == 3
    rest = w.due(req, lab, 100.0)
    assert rest.tolist() == [4, 5, 7, 8, 9]  # 3 never labelled, 6 labelled after its window
    assert w.evaluated == 10 and w.labelled == 7 and abs(w.labelled_share - 0.7) < 1e-12
