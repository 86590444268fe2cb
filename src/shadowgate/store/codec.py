"""Turning ``OutcomeRecord`` into a database row and back, the same way for every backend.

Known fields get their own column (JSON text for lists and dicts, so PostgreSQL can store
them as JSONB); fields appended to ``OutcomeRecord`` after this codec was written are
kept in the ``more`` JSON column, so a newer record shape is never silently truncated.
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Sequence
from typing import Any

from shadowgate.store.base import AuditRecord
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


def dumps(value: Any) -> str:
    """Canonical JSON text: sorted keys, no spaces, non-finite floats as null."""
    try:
        return json.dumps(value, sort_keys=True, separators=(",", ":"), allow_nan=False)
    except ValueError:
        return json.dumps(_finite(value), sort_keys=True, separators=(",", ":"), default=str)
    except TypeError:
        return json.dumps(_finite(value), sort_keys=True, separators=(",", ":"), default=str)


def dumps_or_none(value: Any) -> str | None:
    return None if value is None else dumps(value)


def loads_or_none(text: Any) -> Any:
    return None if text is None else json.loads(text)


def to_row(rec: OutcomeRecord) -> tuple[Any, ...]:
    """One record as a tuple in ``COLUMNS`` order."""
    more = {f.name: getattr(rec, f.name) for f in dataclasses.fields(rec) if f.name not in _KNOWN}
    row: list[Any] = []
    for col in COLUMNS:
        if col == "more":
            row.append(dumps(more) if more else None)
        elif col in JSON_COLUMNS:
            value = getattr(rec, col)
            row.append(None if value is None or (col == "extra" and not value) else dumps(value))
        else:
            row.append(getattr(rec, col))
    return tuple(row)


def from_row(values: Sequence[Any]) -> OutcomeRecord:
    """The inverse of ``to_row`` for a row selected as ``COLUMNS``."""
    kw: dict[str, Any] = {}
    names = {f.name for f in dataclasses.fields(OutcomeRecord)}
    for col, value in zip(COLUMNS, values, strict=True):
        if col == "more":
            for k, v in (loads_or_none(value) or {}).items():
                if k in names:
                    kw[k] = v
        elif col in JSON_COLUMNS:
            decoded = loads_or_none(value)
            kw[col] = ({} if decoded is None else decoded) if col == "extra" else decoded
        elif col == "request_body" and value is not None:
            kw[col] = bytes(value)
        else:
            kw[col] = value
    return OutcomeRecord(**kw)


def audit_row(a: AuditRecord) -> tuple[Any, ...]:
    """An audit record as a tuple in ``AUDIT_COLUMNS`` order."""
    return tuple(getattr(a, c) for c in AUDIT_COLUMNS)
