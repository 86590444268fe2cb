"""Stored outcomes and labels → the columnar batches the rollout checks consume."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from shadowgate.compare.classes import paired_classes
from shadowgate.compare.loss import LabelError, paired_loss
from shadowgate.config.model import RouteConfig
from shadowgate.model.outcome import OutcomeRecord, side_failed
from shadowgate.rollout.evidence import CanaryBatch, CanaryLabelBatch, LabelBatch, PairBatch
from shadowgate.rollout.outage import production_failed
from shadowgate.store import codec
from shadowgate.store.rows import LabeledOutcome, StoredOutcome

#: the outcome fields read by ``pairs_from``, ``canary_from`` and ``NoiseFloor.add``: all the
#: judge asks the store for (``read_outcomes(fields=...)``); a field used there and not
#: listed here would reach them as its default. Checked against the codec's columns here
#: and against what those functions read by ``tests/judge/test_evidence_fields.py``
OUTCOME_FIELDS: tuple[str, ...] = codec.columns(
    "ts",  # the outage gate, and the split check's settling window
    "kind",
    "variant",
    *codec.SIDE_COLUMNS,
    "agree",
    "segment",
    "extra",
)
#: read as well for a route that checks prediction_shift (``pairs_from(classes=True)``):
#: decoding every row's predictions costs more than all the other fields together
CLASS_FIELDS: tuple[str, ...] = codec.columns("prod_pred", "cand_pred")


def wants_classes(route: RouteConfig) -> bool:
    """Whether the route's checks need each row's predicted classes."""
    return any(c.metric == "prediction_shift" for c in route.analysis.checks)


def outcome_fields(route: RouteConfig) -> tuple[str, ...]:
    """The outcome fields the judge reads for ``route``."""
    return OUTCOME_FIELDS + CLASS_FIELDS if wants_classes(route) else OUTCOME_FIELDS


#: the outcome fields read by ``labels_from`` and ``canary_labels_from``
LABEL_FIELDS: tuple[str, ...] = codec.columns(
    "ts", "kind", "variant", "prod_pred", "cand_pred", "segment"
)

_failed = side_failed  # what counts as a failed side is defined once, in ``model.outcome``


def _log_ratio(a: float | None, b: float | None) -> float:
    if a is None or b is None or a <= 0 or b <= 0:
        return math.nan
    return math.log(a / b)


def _agreement(r: OutcomeRecord) -> float:
    if not r.agree:
        return math.nan
    return sum(1.0 for x in r.agree if x) / len(r.agree)


def production_health(
    outcomes: Sequence[StoredOutcome],
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.bool_], int]:
    """For the outage gate: request time and "production failed" of every outcome production
    answered (shadow pairs, canary requests it served), and how many of them are shadow
    pairs production failed (left out of the checks during an outage)."""
    rows = [
        o.record
        for o in outcomes
        if o.record.kind == "shadow"
        or (o.record.kind == "canary" and o.record.variant == "production")
    ]
    ts = np.fromiter((r.ts for r in rows), np.float64, len(rows))
    failed = np.fromiter(
        (production_failed(r.prod_error, r.prod_status) for r in rows), bool, len(rows)
    )
    kinds = [r.kind == "shadow" for r in rows]
    excluded = int(np.count_nonzero(failed & np.array(kinds, dtype=bool)))
    return ts, failed, excluded


def _never(error: str | None, status: int | None) -> bool:
    return False


def pairs_from(
    outcomes: Sequence[StoredOutcome],
    exclude_production_failed: bool = False,
    classes: bool = False,
) -> PairBatch:
    """Shadow outcomes (noise and canary rows are skipped; during a production outage, so
    are pairs production failed: see ``rollout.outage``). With ``classes``, also each row's
    predicted classes where both sides answered (read ``CLASS_FIELDS`` for them)."""
    skip = production_failed if exclude_production_failed else _never
    shadow = (o.record for o in outcomes if o.record.kind == "shadow")
    rows = [r for r in shadow if not skip(r.prod_error, r.prod_status)]
    pf = np.fromiter((_failed(r.prod_error, r.prod_status) for r in rows), bool, len(rows))
    cf = np.fromiter((_failed(r.cand_error, r.cand_status) for r in rows), bool, len(rows))
    lat = np.fromiter(
        (
            _log_ratio(r.cand_latency, r.prod_latency) if not (p or c) else math.nan
            for r, p, c in zip(rows, pf.tolist(), cf.tolist(), strict=True)
        ),
        np.float64,
        len(rows),
    )
    agree = np.fromiter(
        (
            _agreement(r) if not (p or c) else math.nan
            for r, p, c in zip(rows, pf.tolist(), cf.tolist(), strict=True)
        ),
        np.float64,
        len(rows),
    )
    ts = np.fromiter((r.ts for r in rows), np.float64, len(rows))
    batch = PairBatch(pf, cf, lat, agree, [r.segment for r in rows], request_at=ts)
    if classes:
        both = [r for r, p, c in zip(rows, pf.tolist(), cf.tolist(), strict=True) if not (p or c)]
        _add_classes(batch, both)
    return batch


def _add_classes(batch: PairBatch, rows: Sequence[OutcomeRecord]) -> None:
    prod: list[str] = []
    cand: list[str] = []
    for r in rows:
        pairs = paired_classes(r.prod_pred, r.cand_pred)
        prod.extend(p for p, _ in pairs)
        cand.extend(c for _, c in pairs)
        batch.class_segment.extend([r.segment] * len(pairs))
    batch.prod_class = np.array(prod, dtype=object)
    batch.cand_class = np.array(cand, dtype=object)


def canary_from(
    outcomes: Sequence[StoredOutcome], settle: tuple[float, float] | None = None
) -> CanaryBatch:
    """Canary outcomes. Forced variants, and requests that arrived within ``settle`` (while
    the split was changing), are not "assigned": the sample-ratio check skips them."""
    rows = [o.record for o in outcomes if o.record.kind == "canary"]
    cand = np.fromiter((r.variant == "candidate" for r in rows), bool, len(rows))
    failed = np.fromiter(
        (
            _failed(r.cand_error, r.cand_status) if c else _failed(r.prod_error, r.prod_status)
            for r, c in zip(rows, cand.tolist(), strict=True)
        ),
        bool,
        len(rows),
    )
    lat = np.fromiter(
        (
            math.nan if f else _log((r.cand_latency if c else r.prod_latency))
            for r, c, f in zip(rows, cand.tolist(), failed.tolist(), strict=True)
        ),
        np.float64,
        len(rows),
    )
    lo, hi = settle if settle is not None else (math.inf, -math.inf)
    assigned = np.fromiter(
        (not r.extra.get("forced") and not lo <= r.ts < hi for r in rows), bool, len(rows)
    )
    ts = np.fromiter((r.ts for r in rows), np.float64, len(rows))
    return CanaryBatch(cand, failed, lat, assigned, [r.segment for r in rows], ts)


def _log(x: float | None) -> float:
    return math.log(x) if x is not None and x > 0 else math.nan


def label_scores(route: RouteConfig, r: OutcomeRecord, label: Any) -> dict[str, float]:
    """Accuracy and loss of each side on one labelled outcome (NaN when not computable).

    Labels that do not fit the outcome were set aside before (``judge.labels``); one that
    fits production's predictions but not the candidate's (outputs of another kind, say)
    scores nothing: the pair is skipped by the label checks rather than guessed at.
    """
    try:
        pl = paired_loss(r.prod_pred, r.cand_pred, label, route.prediction.task)
    except LabelError:
        return {}
    return {k: math.nan if v is None else float(v) for k, v in pl._asdict().items()}


def labels_from(route: RouteConfig, rows: Sequence[LabeledOutcome]) -> LabelBatch:
    shadow = [x for x in rows if x.outcome.record.kind == "shadow"]
    scores = [label_scores(route, x.outcome.record, x.label) for x in shadow]
    nan = math.nan
    return LabelBatch(
        np.array([s.get("prod_correct", nan) for s in scores], dtype=np.float64),
        np.array([s.get("cand_correct", nan) for s in scores], dtype=np.float64),
        np.array([s.get("prod_loss", nan) for s in scores], dtype=np.float64),
        np.array([s.get("cand_loss", nan) for s in scores], dtype=np.float64),
        [x.outcome.record.segment for x in shadow],
        *_times(shadow),
    )


def canary_labels_from(route: RouteConfig, rows: Sequence[LabeledOutcome]) -> CanaryLabelBatch:
    canary = [x for x in rows if x.outcome.record.kind == "canary"]
    cand = np.fromiter((x.outcome.record.variant == "candidate" for x in canary), bool, len(canary))
    scores = [label_scores(route, x.outcome.record, x.label) for x in canary]
    side = ["cand" if c else "prod" for c in cand.tolist()]
    nan = math.nan
    return CanaryLabelBatch(
        cand,
        np.array([s.get(f"{p}_correct", nan) for s, p in zip(scores, side, strict=True)]),
        np.array([s.get(f"{p}_loss", nan) for s, p in zip(scores, side, strict=True)]),
        [x.outcome.record.segment for x in canary],
        *_times(canary),
    )


def _times(rows: Sequence[LabeledOutcome]) -> tuple[npt.NDArray[np.float64], ...]:
    """Request times and label arrival times, for ``analysis.label_window``."""
    ts = np.fromiter((x.outcome.record.ts for x in rows), np.float64, len(rows))
    return ts, np.fromiter((x.labelled_at for x in rows), np.float64, len(rows))
