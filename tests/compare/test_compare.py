"""Per-row comparison: rules by task, tolerances, ignored fields, and its properties."""

from __future__ import annotations

import math
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shadowgate.compare.batch import compare_rows
from shadowgate.compare.compare import compare_values
from shadowgate.config.model import PredictionConfig

AUTO = PredictionConfig()
CLS = PredictionConfig(task="classification")
REG = PredictionConfig(task="regression", tolerance=0.01, rel_tolerance=0.1)

json_leaf = (
    st.none()
    | st.booleans()
    | st.integers(-(10**6), 10**6)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=5)
)
json_value = st.recursive(
    json_leaf,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=4), inner, max_size=4)
    ),
    max_leaves=12,
)
configs = st.sampled_from([AUTO, CLS, REG, PredictionConfig(task="regression")])


@given(json_value, configs)
def test_a_prediction_always_agrees_with_itself(v: Any, cfg: PredictionConfig) -> None:
    assert compare_values(v, v, cfg).agree


@given(json_value, json_value, configs)
def test_agreement_and_gap_are_symmetric(a: Any, b: Any, cfg: PredictionConfig) -> None:
    ab, ba = compare_values(a, b, cfg), compare_values(b, a, cfg)
    assert ab.agree == ba.agree
    assert ab.prob_gap == ba.prob_gap or (
        ab.prob_gap is not None
        and ba.prob_gap is not None
        and math.isclose(ab.prob_gap, ba.prob_gap)
    )


@given(
    json_value,
    st.text(min_size=1, max_size=8),
    st.text(min_size=1, max_size=8),
    st.sampled_from(["id", "model_version", "timestamp"]),
)
def test_ignored_fields_never_matter(v: Any, x: str, y: str, field: str) -> None:
    a = {"prediction": v, field: x, "meta": {field: x}}
    b = {"prediction": v, field: y, "meta": {field: y}}
    assert compare_values(a, b, AUTO).agree
    # the field counts once it is no longer ignored
    strict = PredictionConfig(ignore_fields=())
    assert compare_values(a, b, strict).agree == (x == y)


@given(st.lists(json_value, max_size=8), configs)
def test_rows_compare_pairwise_and_self_agrees(rows: list[Any], cfg: PredictionConfig) -> None:
    verdicts = compare_rows(rows, rows, cfg)
    assert len(verdicts) == len(rows)
    assert all(v.agree for v in verdicts)


@given(
    st.lists(st.floats(0, 1, allow_nan=False), min_size=2, max_size=6),
    st.lists(st.floats(0, 1, allow_nan=False), min_size=2, max_size=6),
)
def test_classification_scores_agree_iff_argmax_matches(a: list[float], b: list[float]) -> None:
    r = compare_values(a, b, CLS)
    if len(a) != len(b):
        assert not r.agree
        return
    first_max = lambda v: v.index(max(v))  # noqa: E731
    assert r.agree == (first_max(a) == first_max(b))
    assert r.prob_gap == pytest.approx(max(abs(x - y) for x, y in zip(a, b, strict=True)))


def test_classification_labels() -> None:
    assert compare_values("cat", "cat", CLS).agree
    assert not compare_values("cat", "dog", CLS).agree
    assert compare_values(1, 1.0, CLS).agree
    assert not compare_values(1, 2, CLS).agree
    assert not compare_values(True, 1, AUTO).agree  # a boolean is not the integer 1


def test_probability_vectors_under_auto() -> None:
    r = compare_values([0.3, 0.7], [0.45, 0.55], AUTO)
    assert r.agree and r.prob_gap == pytest.approx(0.15)
    r = compare_values([0.6, 0.4], [0.4, 0.6], AUTO)
    assert not r.agree and r.prob_gap == pytest.approx(0.2)
    # not probabilities (sum != 1): compared value by value with the tolerance
    assert not compare_values([0.3, 0.9], [0.31, 0.9], AUTO).agree
    assert compare_values([3.0, 4.0], [3.0, 4.0000001], AUTO).agree


def test_single_probability_under_classification_thresholds_at_half() -> None:
    r = compare_values(0.7, 0.55, CLS)
    assert r.agree and r.prob_gap == pytest.approx(0.15)
    assert not compare_values(0.45, 0.55, CLS).agree


def test_regression_tolerances() -> None:
    assert compare_values(100.0, 109.0, REG).agree  # within 10% of the larger magnitude
    assert not compare_values(100.0, 112.0, REG).agree
    assert compare_values(0.0, 0.009, REG).agree  # within the absolute tolerance
    assert not compare_values(0.0, 0.02, REG).agree
    assert compare_values(math.inf, math.inf, REG).agree
    assert not compare_values(math.inf, -math.inf, REG).agree
    assert compare_values(math.nan, math.nan, REG).agree
    assert not compare_values(math.nan, 1.0, REG).agree
    # integers under auto are labels: exact
    assert not compare_values(100, 101, AUTO).agree


def test_containers() -> None:
    assert not compare_values([1, 2], [1, 2, 3], AUTO).agree
    assert not compare_values({"a": 1}, {"b": 1}, AUTO).agree
    assert not compare_values({"a": 1}, [1], AUTO).agree
    r = compare_values({"p": [0.2, 0.8], "label": "b"}, {"p": [0.3, 0.7], "label": "b"}, AUTO)
    assert r.agree and r.prob_gap == pytest.approx(0.1)


def test_rows_only_one_side_answered_disagree() -> None:
    verdicts = compare_rows([1, 2, 3], [1, 2], AUTO)
    assert [v.agree for v in verdicts] == [True, True, False]
    assert [v.agree for v in compare_rows([], [5], AUTO)] == [False]
