"""The prediction_shift check: config, evidence from outcomes, verdicts and its α share."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from pydantic import ValidationError

from shadowgate.compare.classes import paired_classes, predicted_class, row_classes
from shadowgate.config.model import AnalysisConfig, CheckConfig, RouteConfig
from shadowgate.judge import evidence
from shadowgate.model.outcome import OutcomeRecord
from shadowgate.rollout.analysis import RouteAnalysis, fingerprint
from shadowgate.rollout.evidence import PairBatch
from shadowgate.store import StoredOutcome, open_store

SHIFT = {"metric": "prediction_shift", "max_shift": "5%"}
ROUTE = {
    "name": "r",
    "match": {"path_prefix": "/r"},
    "production": {"url": "http://p:1"},
    "candidate": {"url": "http://c:1"},
}


def analysis(*checks: dict[str, object], alpha: float = 0.05) -> RouteAnalysis:
    cfg = AnalysisConfig.model_validate({"alpha": alpha, "checks": list(checks)})
    return RouteAnalysis(cfg)


def class_pairs(
    rng: np.random.Generator, n: int, cand_ones: float | None, segment: str | None = None
) -> PairBatch:
    """n requests of one row; production predicts 1 for half of them. ``cand_ones``: the
    candidate's share of class 1, drawn independently; None: the candidate copies production."""
    prod = (rng.random(n) < 0.5).astype(int)
    cand = prod if cand_ones is None else (rng.random(n) < cand_ones).astype(int)
    b = PairBatch(np.zeros(n, bool), np.zeros(n, bool), np.zeros(n), np.ones(n), [segment] * n)
    b.prod_class = np.array([str(x) for x in prod], dtype=object)
    b.cand_class = np.array([str(x) for x in cand], dtype=object)
    b.class_segment = [segment] * n
    return b


def shift_result(a: RouteAnalysis) -> object:
    (r,) = [r for r in a.results("shadow") if r.metric == "prediction_shift"]
    return r


def test_max_shift_is_a_fraction_or_percent() -> None:
    assert CheckConfig.model_validate(SHIFT).max_shift == pytest.approx(0.05)
    assert CheckConfig.model_validate({**SHIFT, "max_shift": 0.1}).effective_margin == 0.1


@pytest.mark.parametrize(
    ("check", "message"),
    [
        ({"metric": "prediction_shift"}, "metric prediction_shift needs max_shift"),
        ({"metric": "errors", "max_shift": "5%"}, "max_shift applies to metric prediction_shift"),
        ({**SHIFT, "margin": 0.01}, "prediction_shift takes max_shift, not margin"),
        ({**SHIFT, "goal": "superior"}, "prediction_shift has no superiority goal"),
        ({**SHIFT, "max_shift": "150%"}, "less than 1"),
    ],
)
def test_bad_prediction_shift_checks_are_refused(check: dict[str, object], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        AnalysisConfig.model_validate({"checks": [check]})


def test_predicted_class_of_vectors_labels_and_values() -> None:
    assert predicted_class([0.1, 0.7, 0.2]) == "1"
    assert predicted_class(2) == "2" and predicted_class("cat") == "cat"
    assert predicted_class(True) == "true"
    for none in (0.37, None, [], [0.1, float("nan")], {"a": 1}, ["a", "b"]):
        assert predicted_class(none) is None
    # rows where one side names no class are left out; unequal row counts give nothing
    assert paired_classes([[0.9, 0.1], 1, 0.5], [1, None, 0.5]) == [("0", "1")]
    assert paired_classes([1, 0], [1]) == []


def test_pair_evidence_carries_each_rows_classes_from_the_outcomes() -> None:
    def rec(i: int, prod: list[object], cand: list[object], **kw: object) -> StoredOutcome:
        r = OutcomeRecord("r", "r-1", f"q{i}", float(i), "shadow", "production", rows=len(prod))
        r.prod_status = r.cand_status = 200
        r.prod_latency = r.cand_latency = 0.01
        r.prod_pred, r.cand_pred, r.segment = prod, cand, f"s{i}"
        for k, v in kw.items():
            setattr(r, k, v)
        return StoredOutcome(i, r)

    rows = [
        rec(0, [[0.2, 0.8], [0.6, 0.4]], [1, 1]),
        rec(1, ["a", None], ["b", "c"]),
        rec(2, [0], [1], cand_status=503),  # a failed side: no pair of classes
        rec(3, [0.4], [0.5]),  # regression values: no class
    ]
    b = evidence.pairs_from(rows, classes=True)
    assert len(b) == 4
    assert b.prod_class.tolist() == ["1", "0", "a"]
    assert b.cand_class.tolist() == ["1", "1", "b"]
    assert b.class_segment == ["s0", "s0", "s1"]
    # a route without the check does not pay for decoding predictions
    assert len(evidence.pairs_from(rows).prod_class) == 0
    plain = RouteConfig.model_validate(ROUTE)
    shift = RouteConfig.model_validate({**ROUTE, "analysis": {"checks": [SHIFT]}})
    assert not set(evidence.CLASS_FIELDS) & set(evidence.outcome_fields(plain))
    assert set(evidence.CLASS_FIELDS) <= set(evidence.outcome_fields(shift))


def test_score_matrices_and_rows_one_by_one_give_the_same_classes() -> None:
    rng = np.random.default_rng(8)
    m = rng.random((50, 4)).tolist()
    m[3] = [0.1, float("nan"), 0.2, 0.3]
    assert row_classes(m) == [predicted_class(x) for x in m]
    assert row_classes(m)[3] is None and row_classes(m)[0] == str(int(np.argmax(m[0])))
    assert row_classes([[0.5, True], [0.2, 0.1]]) == [None, "0"]  # booleans are no scores
    assert row_classes([[0.1, 0.2], [0.3]]) == [predicted_class(x) for x in ([0.1, 0.2], [0.3])]


async def test_lean_reads_give_the_classes_of_full_ones(tmp_path: Path) -> None:
    shift = RouteConfig.model_validate({**ROUTE, "analysis": {"checks": [SHIFT]}})
    store = open_store(f"sqlite:///{tmp_path}/s.db")
    await store.open()
    try:
        recs = []
        for i in range(20):
            r = OutcomeRecord("r", "r-1", f"q{i}", float(i), "shadow", "production", rows=2)
            r.prod_status = r.cand_status = 200
            r.prod_pred, r.cand_pred = [[0.2, 0.8], i % 3], [[0.9, 0.1], 1]
            recs.append(r)
        await store.insert_outcomes(recs)
        full = await store.read_outcomes("r", 0, 100)
        lean = await store.read_outcomes("r", 0, 100, fields=evidence.outcome_fields(shift))
    finally:
        await store.close()
    a, b = evidence.pairs_from(full, classes=True), evidence.pairs_from(lean, classes=True)
    assert len(a.prod_class) == 40 and a.prod_class.tolist() == b.prod_class.tolist()
    assert a.cand_class.tolist() == b.cand_class.tolist()


def test_candidate_collapsing_onto_one_class_is_harm() -> None:
    a = analysis(SHIFT)
    rng = np.random.default_rng(3)
    for _ in range(10):
        a.add_pairs(class_pairs(rng, 200, cand_ones=0.9))
    r = shift_result(a)
    assert r.verdict == "harm"  # type: ignore[attr-defined]
    assert r.margin == pytest.approx(0.05)  # type: ignore[attr-defined]
    assert 0.3 < r.estimate < 0.5  # type: ignore[attr-defined]
    assert r.ci_lower > 0.05  # type: ignore[attr-defined]


def test_identical_candidate_passes_and_a_small_shift_never_harms() -> None:
    a = analysis(SHIFT)
    rng = np.random.default_rng(4)
    for _ in range(20):
        a.add_pairs(class_pairs(rng, 200, cand_ones=None))
    r = shift_result(a)
    assert r.verdict == "passed" and r.estimate == 0.0  # type: ignore[attr-defined]
    assert r.ci_upper < 0.05  # type: ignore[attr-defined]
    b = analysis(SHIFT)
    for _ in range(20):
        b.add_pairs(class_pairs(rng, 200, cand_ones=0.51))
    assert shift_result(b).verdict != "harm"  # type: ignore[attr-defined]


def test_alpha_split_counts_the_shift_check_in_shadow_only() -> None:
    a = analysis({"metric": "errors"}, SHIFT, alpha=0.05)
    without = analysis({"metric": "errors"}, alpha=0.05)
    assert set(a.checks["shadow"]) == {"errors", "prediction_shift"}
    assert "prediction_shift" not in a.checks["canary"]  # no pairs in canary
    # errors in both phases, prediction_shift in shadow, and the split guard
    assert a.alpha_harm_each == pytest.approx(0.025 / 4)
    assert without.alpha_harm_each == pytest.approx(0.025 / 3)
    st = a.checks["shadow"]["prediction_shift"]
    assert st.alpha_harm == a.alpha_harm_each and st.alpha_pass == 0.025


def test_harm_is_read_at_its_alpha_share() -> None:
    """A shift whose harm p-value lies between the check's share and the full α/2 is not
    yet harm: the share, not α/2, decides."""
    rng = np.random.default_rng(5)
    many = analysis(SHIFT, *({"metric": "errors", "name": f"e{i}"} for i in range(8)))
    for _ in range(2000):
        many.add_pairs(class_pairs(rng, 5, cand_ones=0.7))
        st = many.checks["shadow"]["prediction_shift"]
        if st.harm.p_value <= many.alpha_pass:
            break
    p = st.harm.p_value
    assert many.alpha_harm_each < p <= many.alpha_pass
    assert shift_result(many).verdict != "harm"  # type: ignore[attr-defined]


def test_state_round_trips_and_max_shift_is_the_hypothesis() -> None:
    a = analysis(SHIFT)
    a.add_pairs(class_pairs(np.random.default_rng(6), 300, cand_ones=0.7))
    cfg = a.config
    b = RouteAnalysis.from_dict(cfg, json.loads(json.dumps(a.to_dict())))
    assert shift_result(b) == shift_result(a)
    assert b.checks["shadow"]["prediction_shift"].pass_.question == "pass"  # type: ignore[attr-defined]
    assert fingerprint(cfg.checks[0]) == "prediction_shift margin=0.05 goal=non_inferior"
    notes = a.reconfigure(AnalysisConfig.model_validate({"checks": [{**SHIFT, "max_shift": 0.1}]}))
    assert a.checks["shadow"]["prediction_shift"].n == 0 and notes


def test_per_segment_harm_names_the_segment_that_shifted() -> None:
    a = analysis({**SHIFT, "per_segment": True})
    rng = np.random.default_rng(7)
    for _ in range(10):
        a.add_pairs(class_pairs(rng, 200, cand_ones=None, segment="eu"))
        a.add_pairs(class_pairs(rng, 40, cand_ones=1.0, segment="us"))
    harmed = [r.segment for r in a.results("shadow") if r.verdict == "harm"]
    assert "us" in harmed and "eu" not in harmed
