"""Loss on labels: per row by task, paired over both sides, batch labels matched by row."""

from __future__ import annotations

import math
import re
from typing import Any

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from sklearn.metrics import log_loss

from shadowgate.compare.loss import (
    LabelError,
    PairedLoss,
    labels_by_row,
    paired_loss,
    paired_row_losses,
    row_loss,
    score_outcome,
    validate_label,
)
from shadowgate.config.model import PredictionConfig
from shadowgate.model.outcome import OutcomeRecord


def test_zero_one_loss_on_labels() -> None:
    assert row_loss("cat", "cat") == row_loss(1, 1.0)
    assert row_loss("cat", "cat").loss == 0.0 and row_loss("cat", "cat").correct
    wrong = row_loss("cat", "dog")
    assert wrong.loss == 1.0 and wrong.correct is False
    assert row_loss(True, 1).correct  # booleans score as 0/1 classes


def test_log_loss_on_probability_vectors_matches_sklearn() -> None:
    probs = [[0.1, 0.7, 0.2], [0.5, 0.25, 0.25], [0.0, 0.0, 1.0]]
    labels = [1, 0, 2]
    ours = [row_loss(p, y).loss for p, y in zip(probs, labels, strict=True)]
    assert np.mean(ours) == pytest.approx(log_loss(labels, probs, labels=[0, 1, 2]))
    assert [row_loss(p, y).correct for p, y in zip(probs, labels, strict=True)] == [
        True,
        True,
        True,
    ]
    assert row_loss([1.0, 0.0], 1).loss == pytest.approx(-math.log(1e-15))  # clipped


def test_single_probability_under_classification() -> None:
    r = row_loss(0.8, 1, "classification")
    assert r.loss == pytest.approx(-math.log(0.8)) and r.correct
    r = row_loss(0.8, 0, "classification")
    assert r.loss == pytest.approx(-math.log(0.2)) and r.correct is False


def test_squared_error_for_regression() -> None:
    assert row_loss(2.5, 3, "regression") == row_loss(2.5, 3.0)
    assert row_loss(2.5, 3).loss == pytest.approx(0.25) and row_loss(2.5, 3).correct is None
    assert row_loss([1.0, 2.0], [0.0, 4.0], "regression").loss == pytest.approx(2.5)
    assert row_loss([1.0], 3.0, "regression").loss == pytest.approx(4.0)


@pytest.mark.parametrize(
    ("pred", "label", "task", "message"),
    [
        ([0.2, 0.8], 2, "auto", "class index in 0..1"),
        ([0.2, 0.8], "cat", "auto", "class index"),
        (2.0, "x", "regression", "must be a number"),
        ({"a": 1}, 1, "auto", "cannot score"),
        ([0.2, 0.8], [1.0], "regression", "is a list"),
        (None, 1, "auto", "both a prediction and a label"),
    ],
)
def test_label_errors_say_what_was_expected(
    pred: object, label: object, task: str, message: str
) -> None:
    with pytest.raises(LabelError, match=message):
        row_loss(pred, label, task)  # type: ignore[arg-type]


def test_batch_labels_match_rows() -> None:
    assert labels_by_row([1, 0, 1], 3) == [1, 0, 1]
    assert labels_by_row(1, 1) == [1]
    assert labels_by_row([0.5, 0.5], 1) == [[0.5, 0.5]]  # a vector label of a one-row request
    with pytest.raises(LabelError, match="batch request of 3 rows needs a list of 3 labels"):
        labels_by_row([1, 0], 3)
    with pytest.raises(LabelError, match="got a single label"):
        labels_by_row(1, 3)


def test_paired_loss_means_over_rows() -> None:
    prod = [[0.9, 0.1], [0.2, 0.8], [0.6, 0.4]]
    cand = [[0.8, 0.2], [0.4, 0.6], [0.3, 0.7]]
    labels = [0, 1, 1]
    got = paired_loss(prod, cand, labels)
    assert got.prod_loss == pytest.approx(log_loss(labels, prod))
    assert got.cand_loss == pytest.approx(log_loss(labels, cand))
    assert got.prod_correct == pytest.approx(2 / 3) and got.cand_correct == 1.0
    prod_l, cand_l, prod_ok, cand_ok = got  # unpacks as the documented tuple
    assert (prod_l, cand_l, prod_ok, cand_ok) == tuple(got)
    rows = paired_row_losses(prod, cand, labels)
    assert [p.correct for p, _ in rows] == [True, True, False]


def test_paired_loss_with_a_missing_side() -> None:
    assert paired_loss(None, [1], 1) == PairedLoss(None, 0.0, None, 1.0)
    assert paired_loss([2.0], None, 3.0) == PairedLoss(1.0, None, None, None)
    assert paired_loss(None, None, 1) == PairedLoss(None, None, None, None)
    # a side that answered a different number of rows cannot be scored
    assert paired_loss([1, 0], [1], [1, 0]) == PairedLoss(0.0, None, 1.0, None)


def test_score_outcome_is_the_judges_nan_filled_view() -> None:
    rec = OutcomeRecord("r", "x", "q", 0.0, "shadow", "production", rows=2)
    rec.prod_pred, rec.cand_pred = [1, 0], [1, 1]
    s = score_outcome(PredictionConfig(), rec, [1, 0])
    assert s == {"prod_loss": 0.0, "cand_loss": 0.5, "prod_correct": 1.0, "cand_correct": 0.5}
    bad = score_outcome(PredictionConfig(), rec, [1, 0, 1])
    assert set(bad) == {"prod_loss", "cand_loss", "prod_correct", "cand_correct"}
    assert all(math.isnan(v) for v in bad.values())


@given(
    st.lists(
        st.tuples(st.lists(st.floats(0.01, 1.0), min_size=2, max_size=5), st.integers(0, 4)),
        min_size=1,
        max_size=6,
    )
)
def test_identical_sides_have_equal_losses(rows: list[tuple[list[float], int]]) -> None:
    preds = [[p / sum(v) for p in v] for v, _ in rows]
    labels = [y % len(v) for v, y in rows]
    got = paired_loss(preds, preds, labels)
    assert got.prod_loss == got.cand_loss and got.prod_loss is not None and got.prod_loss >= 0
    assert got.prod_correct == got.cand_correct


# ------------------------------------------------------------------------ label validation


def _outcome(pred: list[Any]) -> OutcomeRecord:
    return OutcomeRecord("r", "r-1", "q", 0.0, "shadow", "production", prod_pred=pred,
                         cand_pred=pred)  # fmt: skip


@pytest.mark.parametrize(
    ("pred", "label", "reason", "says"),
    [
        ([[0.4, 0.6]], "malignant", "class", "class index in 0..1"),
        ([[0.4, 0.6]], 5, "class", "label 5 must be a class index in 0..1"),
        ([[0.4, 0.6], [0.5, 0.5]], [0], "rows", "needs a list of 2 labels, got a list of 1"),
        ([[0.4, 0.6], [0.5, 0.5]], 1, "rows", "got a single label"),
        (["benign", "benign"], ["benign", 3], "type", "row 1: the model answers string labels"),
        ([0, 1], [0, "malignant"], "type", "expected a integer label"),
        ([1.5], "x", "type", "a regression label must be a number"),
    ],
)
def test_validate_label_says_what_was_expected(
    pred: list[Any], label: Any, reason: str, says: str
) -> None:
    with pytest.raises(LabelError, match=re.escape(says)) as info:
        validate_label(_outcome(pred), label)
    assert info.value.reason == reason


@pytest.mark.parametrize(
    ("pred", "label"),
    [
        ([[0.4, 0.6]], 1),
        ([[0.4, 0.6], [0.9, 0.1]], [1, None]),
        (["benign"], "malignant"),  # a class not seen yet is still a string label
        ([0, 1], [True, 1.0]),
        ([0.3], 0.25),
    ],
)
def test_validate_label_accepts_labels_that_fit(pred: list[Any], label: Any) -> None:
    validate_label(_outcome(pred), label)
    validate_label(OutcomeRecord("r", "r-1", "q", 0.0, "shadow", "production"), label)


def test_null_rows_are_left_out_of_the_mean() -> None:
    pl = paired_loss([[0.9, 0.1], [0.2, 0.8]], None, [None, 1])
    assert pl.prod_correct == 1.0
    assert pl.prod_loss == pytest.approx(-math.log(0.8))
