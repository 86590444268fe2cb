"""Turning ``OutcomeRecord`` into a database row and back, the same way for every backend.

Known fields get their own column: the per-row predictions (``PACKED``) as compact
binary (``packed``: numeric arrays, JSON text for anything else, and JSON text of older
rows still read), ``extra`` as JSON text (JSONB on PostgreSQL); fields appended to
``OutcomeRecord`` after this codec was written are kept in the ``more`` JSON column, so a
newer record shape is never silently truncated.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import json.encoder
import json.scanner
import math
import time
from collections.abc import Callable, Collection, Sequence
from typing import Any, TypeVar

from shadowgate.model.outcome import OutcomeRecord
from shadowgate.store import packed
from shadowgate.store.rows import (
    AuditRecord,
    JudgeState,
    LabeledOutcome,
    PolledState,
    StoredOutcome,
)

#: each side's answer: what a failed side and a latency ratio are computed from
SIDE_COLUMNS: tuple[str, ...] = (
    "prod_status",
    "prod_latency",
    "prod_error",
    "cand_status",
    "cand_latency",
    "cand_error",
)
#: outcome columns in insert order (``id`` is assigned by the database)
COLUMNS: tuple[str, ...] = (
    "route",
    "rollout_id",
    "request_id",
    "ts",
    "kind",
    "variant",
    *SIDE_COLUMNS,
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
#: the per-row prediction columns, stored as ``packed`` binary
PACKED: tuple[str, ...] = ("agree", "prod_pred", "cand_pred", "prob_gap")
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


def _unserialisable(value: Any) -> Any:
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


#: ``json``'s C encoder, made once with the options of ``dumps``: ``JSONEncoder.encode``
#: would build a new one for every call, which costs more than encoding a short list.
#: Without circular-reference markers a cyclic value recurses until ``RecursionError``,
#: as the fallback of ``dumps`` always did for one.
_c_make_encoder = getattr(json.encoder, "c_make_encoder", None)
_encode: Callable[[Any], str]
if _c_make_encoder is not None:
    _chunks = _c_make_encoder(
        markers=None,
        default=_unserialisable,
        encoder=json.encoder.encode_basestring_ascii,
        indent=None,
        key_separator=":",
        item_separator=",",
        sort_keys=True,
        skipkeys=False,
        allow_nan=False,
    )

    def _encode(value: Any) -> str:
        return "".join(_chunks(value, 0))

else:  # an interpreter without the C accelerator: the same output, more slowly
    _encode = json.JSONEncoder(sort_keys=True, separators=(",", ":"), allow_nan=False).encode


def dumps(value: Any) -> str:
    """Canonical JSON text: sorted keys, no spaces, non-finite floats as null."""
    try:
        return _encode(value)
    except ValueError:
        return json.dumps(_finite(value), sort_keys=True, separators=(",", ":"), default=str)
    except TypeError:
        return json.dumps(_finite(value), sort_keys=True, separators=(",", ":"), default=str)


#: ``json``'s scanner of one value (typeshed wants a scanner as its context, which is not
#: what ``json.decoder`` passes it: a decoder's parse options)
_scan: Callable[[str, int], tuple[Any, int]] = json.scanner.make_scanner(
    json.JSONDecoder()  # type: ignore[arg-type]
)


def loads(text: Any) -> Any:
    """``json.loads(text)``, without its per-call overhead for the common case.

    Stored JSON (ours, or PostgreSQL's JSONB output) is one value with nothing around it,
    which ``json``'s scanner reads at once; anything else (surrounding whitespace, bytes,
    invalid text) goes to ``json.loads``, which accepts or rejects it as it always did.
    """
    try:
        value, end = _scan(text, 0)
    except (StopIteration, TypeError):
        return json.loads(text)
    if end != len(text):
        return json.loads(text)
    return value


def loads_or_none(text: Any) -> Any:
    return None if text is None else loads(text)


_pack = packed.pack
_unpack = packed.unpack

_FIELDS: tuple[str, ...] = tuple(f.name for f in dataclasses.fields(OutcomeRecord))
_NAMES = frozenset(_FIELDS)
if _FIELDS[: len(COLUMNS) - 1] != COLUMNS[:-1]:  # from_row builds records by position
    raise RuntimeError("OutcomeRecord's fields must begin with codec.COLUMNS, in that order")
#: per record class, the fields without a column of their own (kept in ``more``)
_MORE: dict[type, tuple[str, ...]] = {}


def _more_fields(cls: type) -> tuple[str, ...]:
    names = _MORE.get(cls)
    if names is None:
        names = _MORE[cls] = tuple(f.name for f in dataclasses.fields(cls) if f.name not in _KNOWN)
    return names


def to_row(rec: OutcomeRecord) -> tuple[Any, ...]:
    """One record as a tuple in ``COLUMNS`` order.

    ``PACKED`` columns hold ``packed`` bytes, ``extra`` and ``more`` canonical JSON text
    (``None`` stays NULL; an empty ``extra`` is NULL too); fields of a record class that
    have no column go to ``more``.
    """
    extra = rec.extra
    names = _more_fields(type(rec))
    more = {n: getattr(rec, n) for n in names} if names else None
    return (
        rec.route,
        rec.rollout_id,
        rec.request_id,
        rec.ts,
        rec.kind,
        rec.variant,
        rec.prod_status,
        rec.prod_latency,
        rec.prod_error,
        rec.cand_status,
        rec.cand_latency,
        rec.cand_error,
        rec.rows,
        _pack(rec.agree, dumps),
        _pack(rec.prod_pred, dumps),
        _pack(rec.cand_pred, dumps),
        _pack(rec.prob_gap, dumps),
        rec.segment,
        rec.request_body,
        dumps(extra) if extra else None,
        dumps(more) if more else None,
    )


def from_row(values: Sequence[Any]) -> OutcomeRecord:
    """The inverse of ``to_row`` for a row selected as ``COLUMNS`` (or ``select_list``)."""
    if len(values) != len(COLUMNS):
        raise ValueError(f"an outcome row has {len(COLUMNS)} columns, not {len(values)}")
    v = values
    agree, prod_pred, cand_pred, prob_gap = v[13:17]
    body, extra, more = v[18:21]
    if extra is not None:
        extra = loads(extra)
    rec = OutcomeRecord(
        v[0],
        v[1],
        v[2],
        v[3],
        v[4],
        v[5],
        v[6],
        v[7],
        v[8],
        v[9],
        v[10],
        v[11],
        v[12],
        None if agree is None else _unpack(agree, loads),
        None if prod_pred is None else _unpack(prod_pred, loads),
        None if cand_pred is None else _unpack(cand_pred, loads),
        None if prob_gap is None else _unpack(prob_gap, loads),
        v[17],
        None if body is None else bytes(body),
        {} if extra is None else extra,
    )
    if more is not None:
        for k, value in loads(more).items():
            if k in _NAMES:
                setattr(rec, k, value)
    return rec


def stored_from_row(r: Sequence[Any]) -> StoredOutcome:
    """A row selected as ``id, COLUMNS`` (any backend's row type)."""
    row = tuple(r)
    return StoredOutcome(row[0], from_row(row[1:]))


def labeled_from_row(r: Sequence[Any]) -> LabeledOutcome:
    """A row selected as ``seq, label, revision, created_at, id, COLUMNS``."""
    row = tuple(r)
    outcome = StoredOutcome(row[4], from_row(row[5:]))
    return LabeledOutcome(row[0], outcome, loads_or_none(row[1]), row[2], float(row[3]))


#: the fields every read returns, whatever the caller asks for: a record needs them
ALWAYS_READ: tuple[str, ...] = COLUMNS[:6]


def columns(*names: str) -> tuple[str, ...]:
    """``names``, checked to be columns of this codec: a reader's ``fields=`` list.

    A name that is not a column (a typo, or a field that was renamed) is a ``ValueError``
    where the list is made, rather than a field that silently reads as its default.
    """
    unknown = [n for n in names if n not in _KNOWN]
    if unknown:
        raise ValueError(f"not outcome columns: {', '.join(unknown)}")
    return names


#: the value selected in place of a column that a read leaves out: its field's default
_LEFT_OUT = {c: "0" if c == "rows" else "NULL" for c in COLUMNS}
_SELECT_LISTS: dict[tuple[frozenset[str] | None, str], str] = {}


def select_list(fields: Collection[str] | None, alias: str = "o") -> str:
    """The SQL select list of ``COLUMNS`` for a read of ``fields`` of each outcome.

    ``fields`` names ``OutcomeRecord`` fields (None: all of them). Every column stays in
    its place, so one decoder (``from_row``) serves every read, but a column the caller did
    not ask for is selected as its field's default (NULL, or 0 for ``rows``): the database
    does not read or send it and the codec decodes nothing. ``ALWAYS_READ`` is always
    read. ``more`` is read when a field without a column of its own is asked for.
    """
    key = None if fields is None else frozenset(fields)
    sql = _SELECT_LISTS.get((key, alias))
    if sql is not None:
        return sql
    if key is None:
        wanted = set(COLUMNS)
    else:
        unknown = key - _NAMES
        if unknown:
            raise ValueError(f"not fields of an outcome: {', '.join(sorted(unknown))}")
        wanted = set(ALWAYS_READ) | (key & _KNOWN)
        if key - _KNOWN:
            wanted.add("more")
    sql = ", ".join(f'{alias}."{c}"' if c in wanted else _LEFT_OUT[c] for c in COLUMNS)
    if len(_SELECT_LISTS) < 64:  # callers use a few fixed sets; never grow without bound
        _SELECT_LISTS[key, alias] = sql
    return sql


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


def latest_labels(items: Sequence[tuple[str, Any]]) -> dict[str, str]:
    """``(request_id, label)`` pairs as JSON text per id; within one call the last wins."""
    return {request_id: dumps(label) for request_id, label in items}


def audit_row(a: AuditRecord) -> tuple[Any, ...]:
    """An audit record as a tuple in ``AUDIT_COLUMNS`` order."""
    return tuple(getattr(a, c) for c in AUDIT_COLUMNS)


def state_row(route: str, rollout_id: str, state: JudgeState) -> tuple[Any, ...]:
    """A judge state as committed (``sql.Queries.insert_state``/``update_state``): its
    version is the next one."""
    return (
        route,
        rollout_id,
        state.state,
        dumps(state.data),
        dumps(state.detail),
        state.outcome_cursor,
        state.label_cursor,
        state.version + 1,
        state.updated_at or time.time(),
    )


def judge_state(r: Sequence[Any]) -> JudgeState:
    """A row of ``sql.Queries.load_state``."""
    return JudgeState(r[0], loads_or_none(r[1]), loads_or_none(r[2]), *r[3:])


def rollout_state(r: Sequence[Any]) -> PolledState:
    """A row of ``sql.Queries.rollout_states``."""
    return PolledState(r[0], r[1], r[2], loads_or_none(r[3]), r[4], r[5])


def next_rollout(
    route: str, latest: Sequence[Any] | None, identity: str, digest: str, now: float
) -> tuple[str, tuple[Any, ...] | None]:
    """The route's rollout id for a candidate ``identity``, and the row to insert if new.

    ``latest`` is the route's newest rollout (``sql.Queries.latest_rollout``) or None:
    the same identity keeps its rollout, another one starts the next number.
    """
    if latest is not None and latest[2] == identity:
        return str(latest[0]), None
    number = 1 if latest is None else int(latest[1]) + 1
    rollout_id = f"{route}-{number}"
    return rollout_id, (rollout_id, route, number, identity, digest, now)
