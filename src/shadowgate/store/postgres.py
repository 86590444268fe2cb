"""The PostgreSQL store: an asyncpg pool, COPY for outcome batches, JSONB, LISTEN/NOTIFY.

Several replicas share one database. Outcome ids and join sequence numbers must follow
commit order or a judge's cursor could skip a row that commits late; every transaction
that creates them therefore holds one transaction-level advisory lock (``_SEQ``) while it
inserts, which serialises only those short inserts. ``?schema=NAME`` in the URL keeps the
tables in their own schema (created on open), e.g. one per test run.
"""

from __future__ import annotations

import contextlib
import hashlib
import re
import time
import urllib.parse
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any

import asyncpg

from shadowgate.errors import StoreError
from shadowgate.store import codec
from shadowgate.store.base import (
    DEFAULT_PAGE,
    AuditRecord,
    JudgeState,
    LabeledOutcome,
    LabelResult,
    PruneResult,
    Rollout,
    RolloutState,
    SchemaTooNewError,
    StaleStateError,
    StoredLabel,
    StoredOutcome,
)
from shadowgate.store.postgres_schema import MIGRATIONS
from shadowgate.store.records import OutcomeRecord

_SCHEMA_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")
_COLS = ", ".join(f'o."{c}"' for c in codec.COLUMNS)
_AUDIT_COLS = ", ".join(f'"{c}"' for c in codec.AUDIT_COLUMNS)
_DB_ERRORS = (asyncpg.PostgresError, asyncpg.InterfaceError, OSError, TimeoutError)
_JOIN_NEW_OUTCOMES = (
    "INSERT INTO joins (outcome_id, route, request_id) "
    "SELECT o.id, o.route, o.request_id FROM outcomes o "
    "JOIN labels l ON l.request_id = o.request_id WHERE o.id > $1 ORDER BY o.id "
    "ON CONFLICT (outcome_id) DO NOTHING"
)
_UPSERT_LABELS = """
WITH input AS (SELECT * FROM unnest($1::text[], $2::jsonb[]) AS t(request_id, label)),
up AS (
    INSERT INTO labels (request_id, label, revision, created_at, updated_at)
    SELECT request_id, label, 1, $3, $3 FROM input
    ON CONFLICT (request_id) DO UPDATE SET label = EXCLUDED.label,
        revision = labels.revision + 1, updated_at = EXCLUDED.updated_at
    WHERE labels.label IS DISTINCT FROM EXCLUDED.label
    RETURNING request_id, (xmax = 0) AS inserted)
SELECT i.request_id, up.inserted,
    EXISTS (SELECT 1 FROM outcomes o WHERE o.request_id = i.request_id) AS has_outcome
FROM input i LEFT JOIN up USING (request_id)
"""
_JOIN_LABELS = (
    "INSERT INTO joins (outcome_id, route, request_id) "
    "SELECT o.id, o.route, o.request_id FROM outcomes o "
    "WHERE o.request_id = ANY($1::text[]) ORDER BY o.id ON CONFLICT (outcome_id) DO NOTHING"
)


def _lock_key(schema: str, name: str) -> int:
    digest = hashlib.sha256(f"shadowgate:{schema}:{name}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


def _count(status: str) -> int:
    """Rows affected, from a command status like ``DELETE 12``."""
    return int(status.rsplit(" ", 1)[-1]) if status and status[-1].isdigit() else 0


class PostgresStore:
    """A ``Store`` in PostgreSQL, shared by every replica that names the same URL."""

    def __init__(self, url: str, *, retention: float = 0.0, max_rows: int = 0) -> None:
        parts = urllib.parse.urlsplit(url)
        query = urllib.parse.parse_qs(parts.query)
        schema = query.pop("schema", [""])[-1]
        pool_size = query.pop("pool_size", ["10"])[-1]
        if schema and not _SCHEMA_NAME.match(schema):
            raise StoreError(f"invalid schema {schema!r} in store URL: use letters, digits, _")
        self.schema = schema
        self.pool_size = int(pool_size)
        self.dsn = urllib.parse.urlunsplit(
            parts._replace(scheme="postgresql", query=urllib.parse.urlencode(query, doseq=True))
        )
        self.where = f"{parts.hostname or 'localhost'}:{parts.port or 5432}{parts.path}"
        self.retention = retention
        self.max_rows = max_rows
        self.channel = f"shadowgate_state_{schema}"[:63] if schema else "shadowgate_state"
        self._seq_key = _lock_key(schema, "seq")
        self._pool: Any = None
        self._listener: Any = None

    # -- plumbing ---------------------------------------------------------------------

    def _settings(self) -> dict[str, str]:
        return {"search_path": self.schema} if self.schema else {}

    def _error(self, exc: BaseException) -> StoreError:
        return StoreError(f"PostgreSQL store {self.where}: {exc}")

    @contextlib.asynccontextmanager
    async def _conn(self) -> AsyncIterator[Any]:
        if self._pool is None:
            raise StoreError(f"PostgreSQL store {self.where} is not open: call open() first")
        try:
            async with self._pool.acquire(timeout=30.0) as conn:
                yield conn
        except _DB_ERRORS as exc:
            raise self._error(exc) from exc

    @contextlib.asynccontextmanager
    async def _tx(self, *, seq_lock: bool = False) -> AsyncIterator[Any]:
        async with self._conn() as conn, conn.transaction():
            if seq_lock:
                await conn.execute("SELECT pg_advisory_xact_lock($1)", self._seq_key)
            yield conn

    async def open(self) -> None:
        if self._pool is not None:
            return
        try:
            conn = await asyncpg.connect(self.dsn, timeout=10.0)
            try:
                await self._migrate(conn)
            finally:
                await conn.close()
            self._pool = await asyncpg.create_pool(
                self.dsn, min_size=1, max_size=self.pool_size, server_settings=self._settings()
            )
        except _DB_ERRORS as exc:
            raise StoreError(
                f"cannot open PostgreSQL store {self.where}: {exc} "
                "(is the server running, and may this user connect to that database?)"
            ) from exc

    async def _migrate(self, conn: Any) -> None:
        async with conn.transaction():
            # one migrator at a time when several replicas start together
            await conn.execute("SELECT pg_advisory_xact_lock($1)", _lock_key(self.schema, "mig"))
            if self.schema:
                await conn.execute(f'CREATE SCHEMA IF NOT EXISTS "{self.schema}"')
                await conn.execute(f'SET LOCAL search_path TO "{self.schema}"')
            await conn.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER)")
            current = int(
                await conn.fetchval("SELECT coalesce(max(version), 0) FROM schema_version")
            )
            if current > len(MIGRATIONS):
                raise SchemaTooNewError(
                    f"PostgreSQL store {self.where} has schema version {current}, newer than "
                    f"this shadowgate understands ({len(MIGRATIONS)}): upgrade shadowgate"
                )
            for version in range(current, len(MIGRATIONS)):
                for stmt in MIGRATIONS[version]:
                    await conn.execute(stmt)
                await conn.execute("INSERT INTO schema_version VALUES ($1)", version + 1)

    async def close(self) -> None:
        if self._listener is not None:
            with contextlib.suppress(*_DB_ERRORS):
                await self._listener.close()
            self._listener = None
        if self._pool is not None:
            pool, self._pool = self._pool, None
            await pool.close()

    async def schema_version(self) -> int:
        async with self._conn() as conn:
            return int(await conn.fetchval("SELECT max(version) FROM schema_version"))

    # -- outcomes ---------------------------------------------------------------------

    async def insert_outcomes(self, records: Sequence[OutcomeRecord]) -> None:
        if not records:
            return
        rows = [codec.to_row(r) for r in records]
        async with self._tx(seq_lock=True) as conn:
            before = await conn.fetchval("SELECT coalesce(max(id), 0) FROM outcomes")
            await conn.copy_records_to_table("outcomes", records=rows, columns=codec.COLUMNS)
            await conn.execute(_JOIN_NEW_OUTCOMES, before)

    async def read_outcomes(
        self,
        route: str,
        after_id: int = 0,
        limit: int = DEFAULT_PAGE,
        rollout_id: str | None = None,
    ) -> list[StoredOutcome]:
        sql = f"SELECT o.id, {_COLS} FROM outcomes o WHERE o.route = $1 AND o.id > $2"
        params: list[Any] = [route, after_id]
        if rollout_id is not None:
            params.append(rollout_id)
            sql += f" AND o.rollout_id = ${len(params)}"
        params.append(limit)
        sql += f" ORDER BY o.id LIMIT ${len(params)}"
        async with self._conn() as conn:
            rows = await conn.fetch(sql, *params)
        return [StoredOutcome(r[0], codec.from_row(tuple(r)[1:])) for r in rows]

    async def max_outcome_id(self, route: str | None = None) -> int:
        async with self._conn() as conn:
            if route is None:
                value = await conn.fetchval("SELECT max(id) FROM outcomes")
            else:
                value = await conn.fetchval("SELECT max(id) FROM outcomes WHERE route = $1", route)
        return int(value or 0)

    # -- labels -----------------------------------------------------------------------

    async def add_labels(
        self, items: Sequence[tuple[str, Any]], now: float | None = None
    ) -> LabelResult:
        ts = time.time() if now is None else now
        latest: dict[str, str] = {}
        for request_id, label in items:  # within one call, the last label of an id wins
            latest[request_id] = codec.dumps(label)
        res = LabelResult(accepted=list(latest))
        if not latest:
            return res
        ids = list(latest)
        async with self._tx(seq_lock=True) as conn:
            rows = await conn.fetch(_UPSERT_LABELS, ids, list(latest.values()), ts)
            await conn.execute(_JOIN_LABELS, ids)
        status = {r["request_id"]: (r["inserted"], r["has_outcome"]) for r in rows}
        for rid in ids:
            inserted, has_outcome = status[rid]
            if inserted is None:
                res.unchanged.append(rid)
            elif not inserted:
                res.revised.append(rid)
            (res.joined if has_outcome else res.unknown).append(rid)
        return res

    async def read_labels(self, request_ids: Sequence[str]) -> dict[str, StoredLabel]:
        async with self._conn() as conn:
            rows = await conn.fetch(
                "SELECT request_id, label, revision, updated_at FROM labels "
                "WHERE request_id = ANY($1::text[])",
                list(dict.fromkeys(request_ids)),
            )
        return {r[0]: StoredLabel(r[0], codec.loads_or_none(r[1]), r[2], r[3]) for r in rows}

    async def read_labeled(
        self,
        route: str,
        after_seq: int = 0,
        limit: int = DEFAULT_PAGE,
        rollout_id: str | None = None,
    ) -> list[LabeledOutcome]:
        sql = (
            f"SELECT j.seq, l.label, l.revision, o.id, {_COLS} FROM joins j "
            "JOIN outcomes o ON o.id = j.outcome_id JOIN labels l ON l.request_id = j.request_id "
            "WHERE j.route = $1 AND j.seq > $2"
        )
        params: list[Any] = [route, after_seq]
        if rollout_id is not None:
            params.append(rollout_id)
            sql += f" AND o.rollout_id = ${len(params)}"
        params.append(limit)
        sql += f" ORDER BY j.seq LIMIT ${len(params)}"
        async with self._conn() as conn:
            rows = await conn.fetch(sql, *params)
        return [
            LabeledOutcome(
                r[0],
                StoredOutcome(r[3], codec.from_row(tuple(r)[4:])),
                codec.loads_or_none(r[1]),
                r[2],
            )
            for r in rows
        ]

    # -- retention --------------------------------------------------------------------

    async def prune(self, now: float) -> PruneResult:
        res = PruneResult()
        async with self._tx() as conn:
            if self.retention > 0:
                cutoff = now - self.retention
                res.outcomes += _count(
                    await conn.execute("DELETE FROM outcomes WHERE ts < $1", cutoff)
                )
                res.labels += _count(
                    await conn.execute("DELETE FROM labels WHERE updated_at < $1", cutoff)
                )
            if self.max_rows > 0:
                for (route,) in await conn.fetch("SELECT DISTINCT route FROM outcomes"):
                    keep_from = await conn.fetchval(
                        "SELECT id FROM outcomes WHERE route = $1 ORDER BY id DESC "
                        "LIMIT 1 OFFSET $2",
                        route,
                        self.max_rows - 1,
                    )
                    if keep_from is not None:
                        res.outcomes += _count(
                            await conn.execute(
                                "DELETE FROM outcomes WHERE route = $1 AND id < $2",
                                route,
                                keep_from,
                            )
                        )
            if res.outcomes:
                await conn.execute(
                    "DELETE FROM joins j WHERE NOT EXISTS "
                    "(SELECT 1 FROM outcomes o WHERE o.id = j.outcome_id)"
                )
        return res

    # -- rollouts, judge state, audit -------------------------------------------------

    async def start_rollout(
        self, route: str, candidate_identity: str, config_digest: str, now: float
    ) -> str:
        async with self._tx() as conn:
            await conn.execute(
                "SELECT pg_advisory_xact_lock($1)", _lock_key(self.schema, f"rollout:{route}")
            )
            row = await conn.fetchrow(
                "SELECT rollout_id, number, candidate_identity FROM rollouts "
                "WHERE route = $1 ORDER BY number DESC LIMIT 1",
                route,
            )
            if row is not None and row[2] == candidate_identity:
                return str(row[0])
            number = 1 if row is None else int(row[1]) + 1
            rollout_id = f"{route}-{number}"
            await conn.execute(
                "INSERT INTO rollouts VALUES ($1, $2, $3, $4, $5, $6)",
                rollout_id,
                route,
                number,
                candidate_identity,
                config_digest,
                now,
            )
            return rollout_id

    async def current_rollout(self, route: str) -> Rollout | None:
        rollouts = await self.list_rollouts(route)
        return rollouts[-1] if rollouts else None

    async def list_rollouts(self, route: str) -> list[Rollout]:
        async with self._conn() as conn:
            rows = await conn.fetch(
                "SELECT rollout_id, route, number, candidate_identity, config_digest, started_at "
                "FROM rollouts WHERE route = $1 ORDER BY number",
                route,
            )
        return [Rollout(*r) for r in rows]

    async def load_judge_state(self, route: str, rollout_id: str) -> JudgeState | None:
        async with self._conn() as conn:
            r = await conn.fetchrow(
                "SELECT state, data, detail, outcome_cursor, label_cursor, version, updated_at "
                "FROM judge_state WHERE route = $1 AND rollout_id = $2",
                route,
                rollout_id,
            )
        if r is None:
            return None
        return JudgeState(r[0], codec.loads_or_none(r[1]), codec.loads_or_none(r[2]), *r[3:])

    async def commit_decision(
        self, route: str, rollout_id: str, state: JudgeState, audit: Sequence[AuditRecord]
    ) -> int:
        stale = StaleStateError(
            f"judge state of {route}/{rollout_id} moved past version {state.version}: "
            "another judge committed first; reload and retry"
        )
        values = (
            route,
            rollout_id,
            state.state,
            codec.dumps(state.data),
            codec.dumps(state.detail),
            state.outcome_cursor,
            state.label_cursor,
            state.version + 1,
            state.updated_at or time.time(),
        )
        async with self._tx() as conn:
            if state.version == 0:
                # two first commits race on the primary key; the loser inserts nothing
                status = await conn.execute(
                    "INSERT INTO judge_state VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) "
                    "ON CONFLICT (route, rollout_id) DO NOTHING",
                    *values,
                )
            else:
                status = await conn.execute(
                    "UPDATE judge_state SET state = $3, data = $4, detail = $5, "
                    "outcome_cursor = $6, label_cursor = $7, version = $8, updated_at = $9 "
                    "WHERE route = $1 AND rollout_id = $2 AND version = $8 - 1",
                    *values,
                )
            if _count(status) != 1:
                raise stale
            if audit:
                await conn.executemany(
                    f"INSERT INTO audit ({_AUDIT_COLS}) VALUES "
                    "($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
                    [codec.audit_row(a) for a in audit],
                )
            clock = await conn.fetchval(
                "UPDATE state_clock SET version = version + 1 WHERE id = 1 RETURNING version"
            )
            await conn.execute("SELECT pg_notify($1, $2)", self.channel, str(clock))
        return state.version + 1

    async def read_audit(self, route: str, rollout_id: str | None = None) -> list[AuditRecord]:
        sql = f"SELECT {_AUDIT_COLS}, id FROM audit WHERE route = $1"
        params: list[Any] = [route]
        if rollout_id is not None:
            sql += " AND rollout_id = $2"
            params.append(rollout_id)
        async with self._conn() as conn:
            rows = await conn.fetch(sql + " ORDER BY id", *params)
        return [AuditRecord(*r) for r in rows]

    async def state_version(self) -> int:
        async with self._conn() as conn:
            return int(await conn.fetchval("SELECT version FROM state_clock"))

    async def read_rollout_states(self) -> list[RolloutState]:
        async with self._conn() as conn:
            rows = await conn.fetch(
                "SELECT s.route, s.rollout_id, s.state, s.detail, s.version, s.updated_at "
                "FROM judge_state s JOIN rollouts r ON r.rollout_id = s.rollout_id "
                "WHERE r.number = (SELECT max(number) FROM rollouts WHERE route = r.route) "
                "ORDER BY s.route"
            )
        return [RolloutState(r[0], r[1], r[2], codec.loads_or_none(r[3]), r[4], r[5]) for r in rows]

    async def listen_states(self, callback: Callable[[int], None]) -> None:
        """Call ``callback(state_version)`` after every commit, from any replica.

        Uses one dedicated connection. If it drops, notifications stop: callers keep
        polling ``state_version()`` (e.g. every second) as the fallback.
        """
        try:
            if self._listener is None:
                self._listener = await asyncpg.connect(self.dsn, timeout=10.0)

            def on_notify(_conn: Any, _pid: int, _channel: str, payload: str) -> None:
                callback(int(payload))

            await self._listener.add_listener(self.channel, on_notify)
        except _DB_ERRORS as exc:
            raise self._error(exc) from exc
