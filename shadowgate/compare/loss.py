"""Per-row loss once a label arrives, and the paired losses of an outcome's two sides.

Which loss, by task and by the shape of the prediction:

- a vector of class probabilities (or a single probability, with ``task: classification``)
  and an integer class label: **log loss** ``-ln p[label]`` (p clipped to [1e-15, 1]), and
  correct when the argmax is the label;
- a label prediction (string, integer, boolean): **0/1 loss**, correct when equal;
- a number under ``regression`` (or a float under ``auto``): **squared error**; "correct"
  has no meaning there and is None.

Labels for a batch request are a list matched by row; a scalar label fits a one-row request.
A label that cannot be scored raises :class:`LabelError` saying what was expected.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

from shadowgate.compare.compare import Task
from shadowgate.config.model import PredictionConfig
from shadowgate.errors import InvalidDataError
from shadowgate.model.outcome import OutcomeRecord

#: probabilities are clipped to [EPS, 1] before the log, as scikit-learn's log_loss does
EPS = 1e-15


class LabelError(InvalidDataError):
    """A label cannot be scored against the stored predictions; the message says why.

    ``reason`` names the kind of misfit for metrics: ``rows`` (not one label per row),
    ``class`` (not a class the model can output), ``type`` (the wrong type of value).
    """

    def __init__(self, message: str, reason: str = "type") -> None:
        super().__init__(message)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class RowLoss:
    """One row's loss and, for classification, whether the prediction was right."""

    loss: float
    correct: bool | None


class PairedLoss(NamedTuple):
    """Losses of both sides on one request (means over its rows).

    ``*_correct`` is the share of rows predicted right (1.0 or 0.0 for a one-row request),
    None for regression. A side without predictions (it failed, or was not asked, as in
    canary mode) has None for both of its fields.
    """

    prod_loss: float | None
    cand_loss: float | None
    prod_correct: float | None
    cand_correct: float | None


def _is_number(x: Any) -> bool:
    return isinstance(x, int | float) and not isinstance(x, bool)


def _class_index(label: Any, n_classes: int) -> int:
    if isinstance(label, bool):
        label = int(label)
    if isinstance(label, float) and label.is_integer():
        label = int(label)
    if not isinstance(label, int) or not 0 <= label < n_classes:
        raise LabelError(
            f"label {label!r} must be a class index in 0..{n_classes - 1} "
            "to score a probability vector",
            "class",
        )
    return label


def _log_loss(p: float) -> float:
    return -math.log(min(1.0, max(EPS, p)))


def row_loss(prediction: Any, label: Any, task: Task = "auto") -> RowLoss:
    """The loss of one row's prediction against its label (see the module docstring)."""
    if prediction is None or label is None:
        raise LabelError("both a prediction and a label are needed")
    if isinstance(prediction, list) and prediction and all(_is_number(x) for x in prediction):
        if task == "regression":
            if len(prediction) == 1 and _is_number(label):
                label = [label]
            if not isinstance(label, list) or len(label) != len(prediction):
                raise LabelError(f"a regression label for {len(prediction)} outputs is a list")
            sq = [(float(p) - float(y)) ** 2 for p, y in zip(prediction, label, strict=True)]
            return RowLoss(math.fsum(sq) / len(sq), None)
        k = _class_index(label, len(prediction))
        best = max(range(len(prediction)), key=lambda i: (prediction[i], -i))
        return RowLoss(_log_loss(float(prediction[k])), best == k)
    if isinstance(prediction, dict | list):
        raise LabelError(f"cannot score a label against a {type(prediction).__name__} prediction")
    if _is_number(prediction) and task == "regression":
        return RowLoss((float(prediction) - _number(label)) ** 2, None)
    if task == "classification" and isinstance(prediction, float) and 0 < prediction < 1:
        k = _class_index(label, 2)  # a single float is the probability of class 1
        p = prediction if k == 1 else 1.0 - prediction
        return RowLoss(_log_loss(p), (prediction >= 0.5) == (k == 1))
    if task == "auto" and isinstance(prediction, float):
        return RowLoss((prediction - _number(label)) ** 2, None)
    correct = _labels_equal(prediction, label)
    return RowLoss(0.0 if correct else 1.0, correct)


def _number(label: Any) -> float:
    if not _is_number(label):
        raise LabelError(f"a regression label must be a number, got {label!r}")
    return float(label)


def _labels_equal(a: Any, b: Any) -> bool:
    a = int(a) if isinstance(a, bool) else a
    b = int(b) if isinstance(b, bool) else b
    if _is_number(a) and _is_number(b):
        return bool(a == b)
    return type(a) is type(b) and bool(a == b)


def labels_by_row(label: Any, rows: int) -> list[Any]:
    """Match a label to rows: a list of ``rows`` labels, or one label for a one-row request."""
    if isinstance(label, list) and len(label) == rows:
        return list(label)
    if rows <= 1:
        return [label]
    got = f"a list of {len(label)}" if isinstance(label, list) else "a single label"
    raise LabelError(
        f"a batch request of {rows} rows needs a list of {rows} labels, got {got}", "rows"
    )


def _side(preds: Sequence[Any] | None, labels: list[Any], task: Task) -> tuple[Any, Any]:
    if preds is None or len(preds) != len(labels):
        return None, None  # failed, not asked, or answered a different number of rows
    # a null entry marks a row without a label: the mean is over the labelled rows
    losses = [row_loss(p, y, task) for p, y in zip(preds, labels, strict=True) if y is not None]
    if not losses:
        return None, None
    mean = math.fsum(r.loss for r in losses) / len(losses)
    if any(r.correct is None for r in losses):
        return mean, None
    return mean, sum(1 for r in losses if r.correct) / len(losses)


def paired_loss(
    prod_pred: Sequence[Any] | None,
    cand_pred: Sequence[Any] | None,
    label: Any,
    task: Task = "auto",
) -> PairedLoss:
    """Both sides' mean loss and share correct for one outcome, given its label.

    ``prod_pred``/``cand_pred`` are an :class:`OutcomeRecord`'s stored per-row predictions;
    ``label`` is a scalar for a one-row request or a list matched by row. Raises
    :class:`LabelError` when the label does not fit the predictions.
    """
    if prod_pred is None and cand_pred is None:
        return PairedLoss(None, None, None, None)
    rows = len(prod_pred) if prod_pred is not None else len(cand_pred or [])
    if isinstance(label, list) and cand_pred is not None and len(label) == len(cand_pred):
        rows = len(cand_pred)
    labels = labels_by_row(label, rows)
    p_loss, p_ok = _side(prod_pred, labels, task)
    c_loss, c_ok = _side(cand_pred, labels, task)
    return PairedLoss(p_loss, c_loss, p_ok, c_ok)


def paired_row_losses(
    prod_pred: Sequence[Any], cand_pred: Sequence[Any], label: Any, task: Task = "auto"
) -> list[tuple[RowLoss, RowLoss]]:
    """Row-by-row losses of both sides, for judges that treat each row as its own pair."""
    if len(prod_pred) != len(cand_pred):
        raise LabelError(f"sides have {len(prod_pred)} and {len(cand_pred)} rows")
    labels = labels_by_row(label, len(prod_pred))
    return [
        (row_loss(p, y, task), row_loss(c, y, task))
        for p, c, y in zip(prod_pred, cand_pred, labels, strict=True)
    ]


def _label_kind(value: Any) -> str:
    if isinstance(value, str):
        return "string"
    if isinstance(value, bool | int) or (isinstance(value, float) and value.is_integer()):
        return "integer"
    return type(value).__name__


def _check_row(prediction: Any, label: Any, task: Task, row: int) -> None:
    where = f"row {row}: " if row >= 0 else ""
    if isinstance(prediction, str | bool | int) and not isinstance(prediction, float):
        want, got = _label_kind(prediction), _label_kind(label)
        if want != got:
            raise LabelError(
                f"{where}the model answers {want} labels (e.g. {prediction!r}); "
                f"expected a {want} label, got {label!r}",
                "type",
            )
    try:
        row_loss(prediction, label, task)
    except LabelError as exc:
        raise LabelError(f"{where}{exc}", exc.reason) from None
    except (TypeError, ValueError, OverflowError) as exc:
        raise LabelError(f"{where}label {label!r} cannot be scored: {exc}", "type") from None


def validate_label(record: OutcomeRecord, label: Any, task: Task = "auto") -> None:
    """Check that ``label`` fits the outcome it joins, or raise :class:`LabelError`.

    One label per row of the request (a list for a batch, ``null`` for unlabelled rows),
    each a class the model can output (an index below the number of probabilities it
    answers) or of the same type as its label predictions. The message says what was
    expected. An outcome without predictions (both sides failed) accepts any label.
    """
    for preds in (record.prod_pred, record.cand_pred):
        if preds is None:
            continue
        labels = labels_by_row(label, len(preds))
        batch = len(preds) > 1
        for i, (p, y) in enumerate(zip(preds, labels, strict=True)):
            if y is not None and p is not None:
                _check_row(p, y, task, i if batch else -1)
        return  # production's predictions decide; the candidate's are checked only alone


def score_outcome(cfg: PredictionConfig, record: OutcomeRecord, label: Any) -> dict[str, float]:
    """``prod_loss``, ``cand_loss``, ``prod_correct``, ``cand_correct`` of one labelled outcome.

    The judge's view of :func:`paired_loss`: every key is present, NaN where it cannot be
    computed (a side failed or was not asked, regression has no "correct", or the label does
    not fit the predictions), so columns can be built without branching. Never raises.
    """
    try:
        scores = paired_loss(record.prod_pred, record.cand_pred, label, cfg.task)
    except (LabelError, TypeError, ValueError, OverflowError):
        scores = PairedLoss(None, None, None, None)
    return {k: math.nan if v is None else float(v) for k, v in scores._asdict().items()}
