"""Every SQL statement of the store, written once and rendered for each backend's dialect.

Statements are written with numbered placeholders (``$1``, ``$2``, ...: PostgreSQL's
style; a number may be used twice) and type names in braces (``{real}``, ``{json}``, ...).
A ``Dialect`` renders both: SQLite gets ``?1``, ``?2`` (its own numbered style) and its
column types. Upserts are ``INSERT ... ON CONFLICT``, which both backends accept, and
``RETURNING`` works on both (SQLite 3.35 and later). ``Queries(dialect)`` holds the
rendered texts; each backend executes them with its own driver. The few statements
that only one backend runs (SQLite's row-by-row label upsert, PostgreSQL's array forms
of it and its COPY) live with that backend.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from shadowgate.store import codec

_PLACEHOLDER = re.compile(r"\$(\d+)")


@dataclass(frozen=True, eq=False)
class Dialect:
    """How one backend spells placeholders and column types."""

    name: str
    #: placeholder prefix: ``$`` renders ``$1`` as is, ``?`` as ``?1``
    prefix: str
    #: ``{name}`` in statement texts → this backend's type
    types: Mapping[str, str]

    def __call__(self, text: str) -> str:
        """``text`` with its placeholders and type names in this dialect."""
        if self.prefix != "$":
            text = _PLACEHOLDER.sub(lambda m: f"{self.prefix}{m.group(1)}", text)
        return text.format_map(self.types) if "{" in text else text


SQLITE = Dialect(
    "sqlite",
    "?",
    {
        "serial": "INTEGER PRIMARY KEY AUTOINCREMENT",
        "bigint": "INTEGER",
        "real": "REAL",
        "json": "TEXT",
        "blob": "BLOB",
    },
)
POSTGRES = Dialect(
    "postgres",
    "$",
    {
        "serial": "BIGSERIAL PRIMARY KEY",
        "bigint": "BIGINT",
        "real": "DOUBLE PRECISION",
        "json": "JSONB",
        "blob": "BYTEA",
    },
)


def _quoted(columns: Collection[str]) -> str:
    return ", ".join(f'"{c}"' for c in columns)


def _values(n: int) -> str:
    return ", ".join(f"${i}" for i in range(1, n + 1))


_OUTCOME_COLUMNS = _quoted(codec.COLUMNS)
_AUDIT_COLUMNS = _quoted(codec.AUDIT_COLUMNS)
_STATE = "state, data, detail, outcome_cursor, label_cursor, version, updated_at"
_ROLLOUT = "rollout_id, route, number, candidate_identity, config_digest, started_at"


class Queries:
    """The store's statements in one dialect (see the module doc for the conventions)."""

    def __init__(self, d: Dialect) -> None:
        self.dialect = d
        # -- schema ----------------------------------------------------------------------
        self.create_schema_version = (
            "CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)"
        )
        self.schema_version = "SELECT coalesce(max(version), 0) FROM schema_version"
        self.add_schema_version = d("INSERT INTO schema_version VALUES ($1)")
        # -- outcomes --------------------------------------------------------------------
        self.insert_outcome = d(
            f"INSERT INTO outcomes ({_OUTCOME_COLUMNS}) VALUES ({_values(len(codec.COLUMNS))})"
        )
        self.max_id = "SELECT coalesce(max(id), 0) FROM outcomes"
        self.max_route_id = d("SELECT coalesce(max(id), 0) FROM outcomes WHERE route = $1")
        #: joins for outcomes inserted after id $1 whose label is already stored
        self.join_new_outcomes = d(
            "INSERT INTO joins (outcome_id, route, request_id) "
            "SELECT o.id, o.route, o.request_id FROM outcomes o "
            "JOIN labels l ON l.request_id = o.request_id WHERE o.id > $1 ORDER BY o.id "
            "ON CONFLICT (outcome_id) DO NOTHING"
        )
        # -- labels that do not fit (``set_aside_labels``) --------------------------------
        self.delete_label_at = d("DELETE FROM labels WHERE request_id = $1 AND revision = $2")
        self.delete_joins = d("DELETE FROM joins WHERE request_id = $1")
        self.has_label = d("SELECT 1 FROM labels WHERE request_id = $1")
        #: a label kept apart ($1 = the prefixed id): a first one, or replacing the last
        self.keep_apart = d(
            "INSERT INTO labels (request_id, label, revision, created_at, updated_at) "
            "VALUES ($1, $2, 1, $3, $3) ON CONFLICT (request_id) DO UPDATE SET "
            "label = EXCLUDED.label, revision = labels.revision + 1, "
            "updated_at = EXCLUDED.updated_at"
        )
        # -- retention -------------------------------------------------------------------
        self.prune_outcomes_before = d("DELETE FROM outcomes WHERE ts < $1")
        self.prune_labels_before = d("DELETE FROM labels WHERE updated_at < $1")
        self.routes = "SELECT DISTINCT route FROM outcomes"
        #: the id of a route's ($1) newest outcome but $2 (the oldest one to keep)
        self.keep_from = d(
            "SELECT id FROM outcomes WHERE route = $1 ORDER BY id DESC LIMIT 1 OFFSET $2"
        )
        self.prune_route_before = d("DELETE FROM outcomes WHERE route = $1 AND id < $2")
        self.prune_joins = (
            "DELETE FROM joins WHERE NOT EXISTS "
            "(SELECT 1 FROM outcomes o WHERE o.id = joins.outcome_id)"
        )
        # -- rollouts, judge state, audit ------------------------------------------------
        self.latest_rollout = d(
            "SELECT rollout_id, number, candidate_identity FROM rollouts "
            "WHERE route = $1 ORDER BY number DESC LIMIT 1"
        )
        self.insert_rollout = d(f"INSERT INTO rollouts ({_ROLLOUT}) VALUES ({_values(6)})")
        self.list_rollouts = d(f"SELECT {_ROLLOUT} FROM rollouts WHERE route = $1 ORDER BY number")
        self.load_state = d(
            f"SELECT {_STATE} FROM judge_state WHERE route = $1 AND rollout_id = $2"
        )
        # a judge's first commit: two first commits race on the key; the loser inserts nothing
        self.insert_state = d(
            f"INSERT INTO judge_state (route, rollout_id, {_STATE}) VALUES ({_values(9)}) "
            "ON CONFLICT (route, rollout_id) DO NOTHING"
        )
        # every later commit is fenced: it changes the row only at the version it read
        self.update_state = d(
            "UPDATE judge_state SET state = $3, data = $4, detail = $5, "
            "outcome_cursor = $6, label_cursor = $7, version = $8, updated_at = $9 "
            "WHERE route = $1 AND rollout_id = $2 AND version = $8 - 1"
        )
        self.insert_audit = d(
            f"INSERT INTO audit ({_AUDIT_COLUMNS}) VALUES ({_values(len(codec.AUDIT_COLUMNS))})"
        )
        self.read_audit = d(f"SELECT {_AUDIT_COLUMNS}, id FROM audit WHERE route = $1 ORDER BY id")
        self.read_rollout_audit = d(
            f"SELECT {_AUDIT_COLUMNS}, id FROM audit WHERE route = $1 AND rollout_id = $2 "
            "ORDER BY id"
        )
        self.tick_clock = (
            "UPDATE state_clock SET version = version + 1 WHERE id = 1 RETURNING version"
        )
        self.state_version = "SELECT version FROM state_clock"
        self.rollout_states = (
            "SELECT s.route, s.rollout_id, s.state, s.detail, s.version, s.updated_at "
            "FROM judge_state s JOIN rollouts r ON r.rollout_id = s.rollout_id "
            "WHERE r.number = (SELECT max(number) FROM rollouts WHERE route = r.route) "
            "ORDER BY s.route"
        )

        # -- drift monitor snapshots ---------------------------------------------------
        self.save_monitor = d(
            "INSERT INTO input_monitors (route, owner, digest, state, updated_at) "
            "VALUES ($1, $2, $3, $4, $5) ON CONFLICT (route, owner) DO UPDATE SET "
            "digest = excluded.digest, state = excluded.state, updated_at = excluded.updated_at"
        )
        self.load_monitor = d(
            "SELECT digest, state, updated_at FROM input_monitors WHERE route = $1 AND owner = $2"
        )
        self.load_route_monitors = d(
            "SELECT digest, state, updated_at FROM input_monitors WHERE route = $1 ORDER BY owner"
        )
        self.prune_monitors_before = d("DELETE FROM input_monitors WHERE updated_at < $1")

    def read_outcomes(self, fields: Collection[str] | None, by_rollout: bool) -> str:
        """``read_outcomes``: parameters route, after id, [rollout id,] limit."""
        return _read(self.dialect, "outcomes", _key(fields), by_rollout)

    def read_outcomes_by_request(self, fields: Collection[str] | None) -> str:
        """``read_outcomes_by_request``: parameter one request id (any route)."""
        cols = codec.select_list(_key(fields))
        return self.dialect(f"SELECT o.id, {cols} FROM outcomes o WHERE o.request_id = $1")

    def read_labeled(self, fields: Collection[str] | None, by_rollout: bool) -> str:
        """``read_labeled``: parameters route, after seq, [rollout id,] limit."""
        return _read(self.dialect, "labeled", _key(fields), by_rollout)


def read_params(route: str, after: int, rollout_id: str | None, limit: int) -> tuple[Any, ...]:
    """The parameters of ``Queries.read_outcomes`` / ``read_labeled``, in order."""
    if rollout_id is None:
        return (route, after, limit)
    return (route, after, rollout_id, limit)


def _key(fields: Collection[str] | None) -> frozenset[str] | None:
    return None if fields is None else frozenset(fields)


@lru_cache(maxsize=128)  # callers read a few fixed field sets
def _read(d: Dialect, what: str, fields: frozenset[str] | None, by_rollout: bool) -> str:
    cols = codec.select_list(fields)
    if what == "outcomes":
        head = f"SELECT o.id, {cols} FROM outcomes o WHERE o.route = $1 AND o.id > $2"
        order = "o.id"
    else:
        head = (
            f"SELECT j.seq, l.label, l.revision, l.created_at, o.id, {cols} "
            "FROM joins j JOIN outcomes o ON o.id = j.outcome_id "
            "JOIN labels l ON l.request_id = j.request_id "
            "WHERE j.route = $1 AND j.seq > $2"
        )
        order = "j.seq"
    if by_rollout:
        return d(f"{head} AND o.rollout_id = $3 ORDER BY {order} LIMIT $4")
    return d(f"{head} ORDER BY {order} LIMIT $3")
