"""PredictionShiftTest: harm when a class share moves, pass when shares match, state."""

from __future__ import annotations

import json

import numpy as np
import pytest

from shadowgate.inputs import PredictionShiftTest


def _classes(rng: np.random.Generator, n: int, p: list[float]) -> list[str]:
    return rng.choice(["a", "b", "c"], n, p=p).tolist()


def test_collapsed_candidate_is_caught_and_identical_one_passes() -> None:
    rng = np.random.default_rng(0)
    prod = _classes(rng, 4000, [0.5, 0.3, 0.2])
    collapsed = ["a" if rng.random() < 0.5 else v for v in prod]  # a grows by ~25 points
    bad = PredictionShiftTest(max_shift=0.05, alpha=0.05)
    bad.update(prod, collapsed)
    assert bad.p_value < 0.05 and not bad.passes()
    assert bad.shifts()["a"]["ci_lower"] > 0.05
    same = PredictionShiftTest(max_shift=0.05, alpha=0.05)
    same.update(prod, prod)
    assert same.p_value == 1.0 and same.passes() and same.estimate == 0.0


def test_batches_equal_one_by_one_and_state_round_trips() -> None:
    rng = np.random.default_rng(1)
    prod, cand = _classes(rng, 300, [0.4, 0.4, 0.2]), _classes(rng, 300, [0.2, 0.4, 0.4])
    whole = PredictionShiftTest(max_shift=0.1)
    whole.update(prod, cand)
    parts = PredictionShiftTest(max_shift=0.1)
    for i in range(0, 300, 7):
        parts.update(prod[i : i + 7], cand[i : i + 7])
        parts = PredictionShiftTest.from_dict(json.loads(json.dumps(parts.to_dict())))
    assert parts.p_value == pytest.approx(whole.p_value)
    for label, got in parts.shifts().items():
        assert got == pytest.approx(whole.shifts()[label])


def test_lengths_must_match_and_classes_are_capped() -> None:
    t = PredictionShiftTest(max_classes=3)
    with pytest.raises(ValueError, match="2 production and 1 candidate"):
        t.update(["a", "b"], ["a"])
    t.update(["a", "b", "c", "d"], ["a", "b", "c", "d"])
    assert set(t.shifts()) == {"a", "b", "(other)"}


def test_pass_question_proves_every_class_inside_the_margin() -> None:
    rng = np.random.default_rng(2)
    prod = _classes(rng, 3000, [0.5, 0.3, 0.2])
    same = PredictionShiftTest(max_shift=0.05, alpha=0.025, question="pass")
    same.update(prod, prod)
    assert same.p_value <= 0.025 and same.question == "pass"
    moved = PredictionShiftTest(max_shift=0.05, alpha=0.025, question="pass")
    moved.update(prod, _classes(rng, 3000, [0.3, 0.3, 0.4]))
    assert moved.p_value > 0.5  # some class is 20 points away: nothing to pass
    back = PredictionShiftTest.from_dict(json.loads(json.dumps(same.to_dict())))
    assert back.question == "pass" and back.p_value == same.p_value
    with pytest.raises(ValueError, match="question must be harm or pass"):
        PredictionShiftTest(question="maybe")  # type: ignore[arg-type]


def test_interval_of_the_largest_shift_covers_every_class() -> None:
    rng = np.random.default_rng(3)
    prod = _classes(rng, 2000, [0.5, 0.5, 0.0])
    t = PredictionShiftTest(max_shift=0.05)
    assert t.confidence_interval(0.05) == (0.0, 1.0)  # before data
    t.update(prod, _classes(rng, 2000, [0.2, 0.8, 0.0]))
    lo, hi = t.confidence_interval(0.05)
    assert lo <= t.estimate <= hi and 0.2 < lo < 0.3 < hi < 0.4
    for v in t.shifts(0.05).values():
        assert max(abs(v["ci_lower"]), abs(v["ci_upper"])) <= hi
