"""Turning ``OutcomeRecord`` into a database row and back, the same way for every backend.

Known fields get their own column (JSON text for lists and dicts, so PostgreSQL can store
them as JSONB); fields appended to ``OutcomeRecord`` after this codec was written are
kept in the ``more`` JSON column, so a newer record shape is never silently truncated.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import math
import time
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from shadowgate.store.base import AuditRecord, LabeledOutcome, StoredOutcome
from shadowgate.store.records import OutcomeRecord

#: outcome columns in insert order (``id`` is assigned by the database)
COLUMNS: tuple[str, ...] = (
    "route",
    "rollout_id",
    "request_id",
    "ts",
    "kind",
    "variant",
    "prod_status",
    "prod_latency",
    "prod_error",
    "cand_status",
    "cand_latency",
    "cand_error",
    "rows",
    "agree",
    "prod_pred",
    "cand_pred",
    "prob_gap",
    "segment",
    "request_body",
    "extra",
    "more",
)
JSON_COLUMNS = frozenset({"agree", "prod_pred", "cand_pred", "prob_gap", "extra", "more"})
_KNOWN = frozenset(COLUMNS) - {"more"}
#: audit columns in insert order (``id`` is assigned by the database)
AUDIT_COLUMNS: tuple[str, ...] = (
    "time",
    "route",
    "rollout_id",
    "decision",
    "check",
    "p_value",
    "estimate",
    "ci_lower",
    "ci_upper",
    "n",
    "config_digest",
    "reason",
    "actor",
)


def _finite(value: Any) -> Any:
    """Replace NaN/±inf (not valid JSON, rejected by JSONB) with None, recursively."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _finite(v) for k, v in value.items()}
    return value


#: one encoder for every call (``json.dumps`` with options builds a new one each time)
_encode = json.JSONEncoder(sort_keys=True, separators=(",", ":"), allow_nan=False).encode


def dumps(value: Any) -> str:
    """Canonical JSON text: sorted keys, no spaces, non-finite floats as null."""
    try:
        return _encode(value)
    except ValueError:
        return json.dumps(_finite(value), sort_keys=True, separators=(",", ":"), default=str)
    except TypeError:
        return json.dumps(_finite(value), sort_keys=True, separators=(",", ":"), default=str)


def dumps_or_none(value: Any) -> str | None:
    return None if value is None else dumps(value)


def loads_or_none(text: Any) -> Any:
    return None if text is None else json.loads(text)


_FIELDS: tuple[str, ...] = tuple(f.name for f in dataclasses.fields(OutcomeRecord))
_NAMES = frozenset(_FIELDS)
#: per record class, the fields without a column of their own (kept in ``more``)
_MORE: dict[type, tuple[str, ...]] = {}


def _more_fields(cls: type) -> tuple[str, ...]:
    names = _MORE.get(cls)
    if names is None:
        names = _MORE[cls] = tuple(f.name for f in dataclasses.fields(cls) if f.name not in _KNOWN)
    return names


#: (column, 0 plain / 1 JSON / 2 JSON, empty as NULL) for every column but ``more``
_PLAN: tuple[tuple[str, int], ...] = tuple(
    (c, 2 if c == "extra" else 1 if c in JSON_COLUMNS else 0) for c in COLUMNS if c != "more"
)


def to_row(rec: OutcomeRecord) -> tuple[Any, ...]:
    """One record as a tuple in ``COLUMNS`` order."""
    row: list[Any] = []
    for col, kind in _PLAN:
        value = getattr(rec, col)
        if kind and value is not None and (value or kind == 1):
            value = dumps(value)
        elif kind == 2:
            value = None
        row.append(value)
    more = {n: getattr(rec, n) for n in _more_fields(type(rec))}
    row.append(dumps(more) if more else None)
    return tuple(row)


def from_row(values: Sequence[Any]) -> OutcomeRecord:
    """The inverse of ``to_row`` for a row selected as ``COLUMNS``."""
    kw: dict[str, Any] = {}
    for (col, kind), value in zip(_PLAN, values, strict=False):
        if kind:
            decoded = None if value is None else json.loads(value)
            kw[col] = ({} if decoded is None else decoded) if kind == 2 else decoded
        elif col == "request_body" and value is not None:
            kw[col] = bytes(value)
        else:
            kw[col] = value
    if len(values) != len(COLUMNS):
        raise ValueError(f"an outcome row has {len(COLUMNS)} columns, not {len(values)}")
    more = values[-1]
    if more is not None:
        for k, v in json.loads(more).items():
            if k in _NAMES:
                kw[k] = v
    return OutcomeRecord(**kw)


def stored_from_row(r: Sequence[Any]) -> StoredOutcome:
    """A row selected as ``id, COLUMNS`` (any backend's row type)."""
    row = tuple(r)
    return StoredOutcome(row[0], from_row(row[1:]))


def labeled_from_row(r: Sequence[Any]) -> LabeledOutcome:
    """A row selected as ``seq, label, revision, id, COLUMNS``."""
    row = tuple(r)
    return LabeledOutcome(
        row[0], StoredOutcome(row[3], from_row(row[4:])), loads_or_none(row[1]), row[2]
    )


A = TypeVar("A")
B = TypeVar("B")

#: longest stretch of encoding or decoding on the event loop before it yields (s)
SLICE_SECONDS = 0.0005


async def sliced(fn: Callable[[A], B], items: Sequence[A]) -> list[B]:
    """``[fn(x) for x in items]`` on the event loop, yielding every ``SLICE_SECONDS``.

    For backends whose driver runs on the event loop (PostgreSQL): encoding or decoding a
    batch of 500 outcomes is milliseconds of Python, which in one go would stall every
    request in flight. In slices, no request waits more than a slice. (SQLite works on
    its own thread instead, in steps: ``sqlite_base.fetch_in_steps``.)
    """
    out: list[B] = []
    perf = time.perf_counter
    deadline = perf() + SLICE_SECONDS
    for x in items:
        out.append(fn(x))
        if perf() > deadline:
            await asyncio.sleep(0)
            deadline = perf() + SLICE_SECONDS
    return out


def audit_row(a: AuditRecord) -> tuple[Any, ...]:
    """An audit record as a tuple in ``AUDIT_COLUMNS`` order."""
    return tuple(getattr(a, c) for c in AUDIT_COLUMNS)
