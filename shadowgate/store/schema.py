"""Schema migrations of both backends: ``migrations(dialect)[i]`` brings a database from
version i to i + 1.

Append new migrations, never edit applied ones: a database records its version in
``schema_version`` and replays only what it has not seen. Both backends have the same
tables, written once here in the dialect's types (``sql.Dialect``): SQLite's
``AUTOINCREMENT`` and PostgreSQL's sequences never hand out an id twice, even after
pruning, which the judge's cursors rely on; JSON values are JSONB on PostgreSQL and
text on SQLite.

Version 2 stores the prediction columns (``agree``, ``prod_pred``, ``cand_pred``,
``prob_gap``) as compact binary (``codec.pack``). PostgreSQL's JSONB columns become
BYTEA holding each old value's JSON text, which ``codec.unpack`` still reads (that
rewrites the table once, on the first open by this version). SQLite keeps whatever type
a value was written with (a TEXT column stores a BLOB as is), so it needs no change:
old rows read back as JSON text, new ones as binary.

Version 3 adds ``input_monitors``: each process's last snapshot of a route's drift
monitors (binnings and e-process state), so that a restart resumes them.
"""

from __future__ import annotations

from shadowgate.store.rows import SchemaTooNewError
from shadowgate.store.sql import Dialect

PREDICTION_COLUMNS: tuple[str, ...] = ("agree", "prod_pred", "cand_pred", "prob_gap")

_V1: list[str] = [
    """CREATE TABLE outcomes (
        id {serial},
        route TEXT NOT NULL, rollout_id TEXT NOT NULL, request_id TEXT NOT NULL,
        ts {real} NOT NULL, kind TEXT NOT NULL, variant TEXT NOT NULL,
        prod_status INTEGER, prod_latency {real}, prod_error TEXT,
        cand_status INTEGER, cand_latency {real}, cand_error TEXT,
        "rows" INTEGER NOT NULL DEFAULT 0,
        agree {json}, prod_pred {json}, cand_pred {json}, prob_gap {json},
        segment TEXT, request_body {blob}, extra {json}, more {json})""",
    "CREATE INDEX outcomes_route_id ON outcomes (route, id)",
    "CREATE INDEX outcomes_route_rollout_id ON outcomes (route, rollout_id, id)",
    "CREATE INDEX outcomes_request_id ON outcomes (request_id)",
    "CREATE INDEX outcomes_ts ON outcomes (ts)",
    """CREATE TABLE labels (
        request_id TEXT PRIMARY KEY, label {json} NOT NULL, revision INTEGER NOT NULL,
        created_at {real} NOT NULL, updated_at {real} NOT NULL)""",
    "CREATE INDEX labels_updated_at ON labels (updated_at)",
    """CREATE TABLE joins (
        seq {serial},
        outcome_id {bigint} NOT NULL UNIQUE, route TEXT NOT NULL, request_id TEXT NOT NULL)""",
    "CREATE INDEX joins_route_seq ON joins (route, seq)",
    """CREATE TABLE rollouts (
        rollout_id TEXT PRIMARY KEY, route TEXT NOT NULL, number INTEGER NOT NULL,
        candidate_identity TEXT NOT NULL, config_digest TEXT NOT NULL,
        started_at {real} NOT NULL, UNIQUE (route, number))""",
    """CREATE TABLE judge_state (
        route TEXT NOT NULL, rollout_id TEXT NOT NULL, state TEXT NOT NULL,
        data {json} NOT NULL, detail {json} NOT NULL,
        outcome_cursor {bigint} NOT NULL, label_cursor {bigint} NOT NULL,
        version {bigint} NOT NULL, updated_at {real} NOT NULL,
        PRIMARY KEY (route, rollout_id))""",
    """CREATE TABLE audit (
        id {serial}, time {real} NOT NULL, route TEXT NOT NULL,
        rollout_id TEXT NOT NULL, decision TEXT NOT NULL, "check" TEXT,
        p_value {real}, estimate {real}, ci_lower {real}, ci_upper {real}, n {bigint},
        config_digest TEXT, reason TEXT NOT NULL, actor TEXT NOT NULL)""",
    "CREATE INDEX audit_route ON audit (route, rollout_id, id)",
    """CREATE TABLE state_clock (
        id INTEGER PRIMARY KEY CHECK (id = 1), version {bigint} NOT NULL)""",
    "INSERT INTO state_clock VALUES (1, 0)",
]


def _compact_predictions(d: Dialect) -> list[str]:
    if d.name == "sqlite":
        return []
    return [
        f"ALTER TABLE outcomes ALTER COLUMN {c} TYPE {{blob}} USING convert_to({c}::text, 'UTF8')"
        for c in PREDICTION_COLUMNS
    ]


_MONITORS: list[str] = [
    """CREATE TABLE input_monitors (
        route TEXT NOT NULL, owner TEXT NOT NULL, digest TEXT NOT NULL,
        state {json} NOT NULL, updated_at {real} NOT NULL,
        PRIMARY KEY (route, owner))""",
]


def migrations(d: Dialect) -> list[list[str]]:
    """Every migration, in ``d``'s dialect."""
    return [[d(s) for s in step] for step in (_V1, _compact_predictions(d), _MONITORS)]


def pending(steps: list[list[str]], current: int, where: str) -> list[tuple[int, list[str]]]:
    """``(version, statements)`` of each migration a database at ``current`` has not seen.

    A database newer than ``steps`` is refused (``SchemaTooNewError``): this code would
    misread it.
    """
    if current > len(steps):
        raise SchemaTooNewError(
            f"{where} has schema version {current}, newer than this shadowgate understands "
            f"({len(steps)}): upgrade shadowgate"
        )
    return [(v + 1, steps[v]) for v in range(current, len(steps))]
