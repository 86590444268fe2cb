"""The judge's field lists are exactly the outcome fields its evidence functions read."""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any, cast

import numpy as np
import pytest

from shadowgate.compare.kind_tally import KindTally
from shadowgate.compare.noise import NoiseFloor
from shadowgate.config.model import ShadowgateConfig
from shadowgate.judge import evidence
from shadowgate.model.outcome import OutcomeRecord
from shadowgate.store import LabeledOutcome, StoredOutcome, codec, open_store

ROUTE = ShadowgateConfig.model_validate(
    {
        "routes": [
            {
                "name": "r",
                "match": {"path_prefix": "/r"},
                "production": {"url": "http://127.0.0.1:1"},
                "candidate": {"url": "http://127.0.0.1:2", "version": "v1"},
            }
        ]
    }
).routes[0]


class Spy:
    """An ``OutcomeRecord`` that notes the name of every field read from it."""

    __slots__ = ("_rec", "_seen")

    def __init__(self, rec: OutcomeRecord, seen: set[str]) -> None:
        object.__setattr__(self, "_rec", rec)
        object.__setattr__(self, "_seen", seen)

    def __getattr__(self, name: str) -> Any:
        self._seen.add(name)
        return getattr(self._rec, name)


def records() -> list[OutcomeRecord]:
    """Outcomes of every kind and variant, failed and not, so that every branch reads."""
    out = []
    shapes = itertools.product(
        ("shadow", "canary", "noise"),
        ("production", "candidate"),
        (None, "timeout", "client_closed"),
        (200, 503, None),
    )
    for i, (kind, variant, error, status) in enumerate(shapes):
        rec = OutcomeRecord("r", "r-1", f"q{i}", float(i), kind, variant, rows=2)
        rec.prod_status, rec.cand_status = status, 200
        rec.prod_error, rec.cand_error = error, None if i % 2 else error
        rec.prod_latency, rec.cand_latency = 0.01 + i / 1000, 0.02
        rec.agree = [True, i % 3 == 0]
        rec.prod_pred, rec.cand_pred = [0, 1], [0, i % 2]
        rec.prob_gap = [0.0, 0.1]
        rec.segment = ("eu", "us")[i % 2]
        rec.extra = {"forced": True} if i % 4 == 0 else {}
        if i % 5 == 0:
            rec.extra["kind_mismatch"] = "production: labels [2]; candidate: scores [2,3]"
        out.append(rec)
    return out


def outcome_reads(rows: list[StoredOutcome]) -> tuple[Any, ...]:
    return (
        evidence.pairs_from(rows),
        evidence.pairs_from(rows, exclude_production_failed=True),
        evidence.production_health(rows),
        evidence.canary_from(rows),
        NoiseFloor().update(o.record for o in rows),
        KindTally().update(o.record for o in rows),
    )


def label_reads(rows: list[LabeledOutcome]) -> tuple[Any, ...]:
    return evidence.labels_from(ROUTE, rows), evidence.canary_labels_from(ROUTE, rows)


def test_outcome_fields_are_what_the_outcome_evidence_reads() -> None:
    seen: set[str] = set()
    spied = [StoredOutcome(i, cast(OutcomeRecord, Spy(r, seen))) for i, r in enumerate(records())]
    outcome_reads(spied)
    assert seen == set(evidence.OUTCOME_FIELDS)


def test_label_fields_are_what_the_label_evidence_reads() -> None:
    seen: set[str] = set()
    spied = [
        LabeledOutcome(i, StoredOutcome(i, cast(OutcomeRecord, Spy(r, seen))), [0, 1], 1)
        for i, r in enumerate(records())
    ]
    label_reads(spied)
    assert seen == set(evidence.LABEL_FIELDS)


def test_field_lists_name_codec_columns_only() -> None:
    with pytest.raises(ValueError, match="prod_latncy"):
        codec.columns("kind", "prod_latncy")
    assert set(evidence.OUTCOME_FIELDS) | set(evidence.LABEL_FIELDS) <= set(codec.COLUMNS)


def _same(a: Any, b: Any) -> bool:
    """Evidence batches equal field by field (NaN equal to NaN)."""
    if isinstance(a, NoiseFloor | KindTally):
        return a == b
    if isinstance(a, tuple):  # production_health: arrays and a count
        return all(
            np.array_equal(x, y) if isinstance(x, np.ndarray) else x == y
            for x, y in zip(a, b, strict=True)
        )
    for name in a.__dataclass_fields__:
        x, y = getattr(a, name), getattr(b, name)
        if isinstance(x, np.ndarray):
            if not np.array_equal(x, y, equal_nan=x.dtype.kind == "f"):
                return False
        elif x != y:
            return False
    return True


async def test_lean_reads_give_the_judge_the_same_evidence_as_full_ones(tmp_path: Path) -> None:
    store = open_store(f"sqlite:///{tmp_path}/s.db")
    await store.open()
    try:
        recs = records()
        await store.insert_outcomes(recs)
        await store.add_labels([(r.request_id, [0, 1]) for r in recs])
        full = await store.read_outcomes("r", 0, 1000)
        lean = await store.read_outcomes("r", 0, 1000, fields=evidence.OUTCOME_FIELDS)
        for a, b in zip(outcome_reads(full), outcome_reads(lean), strict=True):
            assert _same(a, b)
        full_l = await store.read_labeled("r", 0, 1000)
        lean_l = await store.read_labeled("r", 0, 1000, fields=evidence.LABEL_FIELDS)
        for a, b in zip(label_reads(full_l), label_reads(lean_l), strict=True):
            assert _same(a, b)
    finally:
        await store.close()
