"""``analysis.label_window``: labels wait for their pair's window and count only if in time."""

from __future__ import annotations

import json

import numpy as np
import pytest
from pydantic import ValidationError

from shadowgate.config.model import AnalysisConfig
from shadowgate.rollout.analysis import RouteAnalysis
from shadowgate.rollout.evidence import LabelBatch, PairBatch

CHECKS = [{"metric": "accuracy", "margin": 0.01}]


def config(window: float | None = 10.0) -> AnalysisConfig:
    return AnalysisConfig.model_validate({"checks": CHECKS, "label_window": window})


def pairs(ts: np.ndarray) -> PairBatch:
    n = len(ts)
    f = np.zeros(n, bool)
    return PairBatch(f, f, np.zeros(n), np.full(n, np.nan), [None] * n, ts.astype(float))


def labels(ts: np.ndarray, at: np.ndarray, cand: np.ndarray) -> LabelBatch:
    n = len(ts)
    one = np.ones(n)
    return LabelBatch(one, cand.astype(float), one, one, [None] * n, ts.astype(float), at)


def test_label_window_is_parsed_as_a_duration() -> None:
    assert AnalysisConfig.model_validate({"label_window": "10m"}).label_window == 600.0
    assert AnalysisConfig().label_window is None
    with pytest.raises(ValidationError, match="label_window must be greater than 0"):
        AnalysisConfig.model_validate({"label_window": 0})


def test_labels_wait_for_the_window_and_late_ones_never_count() -> None:
    a = RouteAnalysis(config(window=10.0))
    ts = np.arange(100, dtype=float)  # one request a second
    a.add_pairs(pairs(ts))
    # pairs 0..49 labelled 2 s after their request; 50..99 labelled 15 s after (late)
    at = np.where(ts < 50, ts + 2.0, ts + 15.0)
    a.add_labels(labels(ts, at, np.ones(100)))
    st = a.checks["shadow"]["accuracy"]
    assert st.n == 0  # nothing is due yet at time 0
    assert a.release_labels(30.0) > 0
    first = st.n
    assert 0 < first < 30  # only pairs whose window has passed (requests before ~20 s)
    a.release_labels(200.0)
    s = a.label_window_status()
    assert s is not None
    assert st.n == 50 and s["labelled"] == 50 and s["late"] == 50
    assert s["evaluated"] == 100 and s["labelled_share"] == pytest.approx(0.5)
    assert s["window"] == 10.0 and s["waiting"] == 0
    # a label arriving after its pair was evaluated is late too
    a.add_labels(labels(np.array([3.0]), np.array([4.0]), np.ones(1)))
    a.release_labels(300.0)
    assert st.n == 50 and a.label_window_status()["late"] == 51  # type: ignore[index]


def test_without_a_window_labels_count_as_they_arrive() -> None:
    a = RouteAnalysis(config(window=None))
    ts = np.arange(10, dtype=float)
    a.add_labels(labels(ts, ts + 99.0, np.ones(10)))
    assert a.checks["shadow"]["accuracy"].n == 10
    assert a.label_window_status() is None


def test_released_in_request_order_batch_equals_one_by_one_and_restart() -> None:
    rng = np.random.default_rng(5)
    ts = np.sort(rng.uniform(0, 100, 400))
    at = ts + rng.exponential(4.0, 400)  # some late, read out of request order
    order = np.argsort(at)
    cand = rng.random(400) < 0.9
    whole = RouteAnalysis(config())
    whole.add_pairs(pairs(ts))
    whole.add_labels(labels(ts[order], at[order], cand[order]))
    whole.release_labels(500.0)
    step = RouteAnalysis(config())
    for i in range(400):
        if i == 200:  # a restart mid-stream: held labels and counts survive
            step = RouteAnalysis.from_dict(config(), json.loads(json.dumps(step.to_dict())))
        step.add_pairs(pairs(ts[i : i + 1]))
        j = order[i]
        step.add_labels(labels(ts[j : j + 1], at[j : j + 1], cand[j : j + 1]))
        step.release_labels(float(at[j]))
    step.release_labels(500.0)
    a, b = whole.results("shadow")[0], step.results("shadow")[0]
    assert a.n == b.n and a.n == int(np.count_nonzero(at <= ts + 10.0))
    assert a.p_pass == pytest.approx(b.p_pass, rel=1e-9)
    assert a.p_harm == pytest.approx(b.p_harm, rel=1e-9)
    assert whole.label_window_status() == step.label_window_status()


def test_a_window_edit_is_followed_and_noted() -> None:
    a = RouteAnalysis(config(window=10.0))
    ts = np.arange(20, dtype=float)
    a.add_pairs(pairs(ts))
    a.add_labels(labels(ts, ts + 1.0, np.ones(20)))
    notes = a.reconfigure(config(window=None))
    assert any("removed: 20 held labels counted" in n for n in notes)
    assert a.checks["shadow"]["accuracy"].n == 20
    notes = a.reconfigure(config(window=5.0))
    assert any("label window of 5s set" in n for n in notes)
    assert a.label_window_status() is not None
