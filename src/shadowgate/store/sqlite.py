"""The SQLite store: stdlib ``sqlite3`` in WAL mode behind one dedicated thread.

Every call runs on a single-worker executor that owns the connection, so the event loop
never blocks on disk and statements never interleave. Writes use ``BEGIN IMMEDIATE``:
with several processes on one file (``serve --workers N``), write transactions are
serialised by SQLite itself, which is what makes ids follow commit order. WAL with
``synchronous=NORMAL`` survives a killed process (kill -9) without corruption; only a
power loss can lose the last transactions.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import sqlite3
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

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
from shadowgate.store.records import OutcomeRecord
from shadowgate.store.sqlite_schema import MIGRATIONS

T = TypeVar("T")

_COLS = ", ".join(f'o."{c}"' for c in codec.COLUMNS)
_INSERT = (
    f"INSERT INTO outcomes ({', '.join(f'{chr(34)}{c}{chr(34)}' for c in codec.COLUMNS)}) "
    f"VALUES ({', '.join('?' for _ in codec.COLUMNS)})"
)
_JOIN_NEW_OUTCOMES = (
    "INSERT OR IGNORE INTO joins (outcome_id, route, request_id) "
    "SELECT o.id, o.route, o.request_id FROM outcomes o "
    "JOIN labels l ON l.request_id = o.request_id WHERE o.id > ? ORDER BY o.id"
)
_JOIN_LABEL = (
    "INSERT OR IGNORE INTO joins (outcome_id, route, request_id) "
    "SELECT o.id, o.route, o.request_id FROM outcomes o WHERE o.request_id = ? ORDER BY o.id"
)
_AUDIT_COLS = (
    'time, route, rollout_id, decision, "check", p_value, estimate, ci_lower, ci_upper, '
    "n, config_digest, reason, actor"
)


class SqliteStore:
    """A ``Store`` in one SQLite file (``":memory:"`` for a private in-memory database)."""

    def __init__(self, path: str, *, retention: float = 0.0, max_rows: int = 0) -> None:
        self.path = path
        self.retention = retention
        self.max_rows = max_rows
        self._conn: sqlite3.Connection | None = None
        self._executor: ThreadPoolExecutor | None = None

    # -- plumbing ---------------------------------------------------------------------

    async def _run(self, fn: Callable[..., T], *args: Any) -> T:
        if self._executor is None or self._conn is None:
            raise StoreError(f"SQLite store {self.path} is not open: call open() first")
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(self._executor, functools.partial(fn, *args))
        except sqlite3.Error as exc:
            raise StoreError(f"SQLite store {self.path}: {exc}") from exc

    @property
    def _db(self) -> sqlite3.Connection:
        assert self._conn is not None
        return self._conn

    @contextlib.contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        db = self._db
        db.execute("BEGIN IMMEDIATE")
        try:
            yield db
        except BaseException:
            db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")

    async def open(self) -> None:
        if self._conn is not None:
            return
        self._executor = ThreadPoolExecutor(1, thread_name_prefix="shadowgate-sqlite")
        loop = asyncio.get_running_loop()
        try:
            self._conn = await loop.run_in_executor(self._executor, self._open_sync)
        except sqlite3.Error as exc:
            self._executor.shutdown(wait=False)
            self._executor = None
            raise StoreError(
                f"cannot open SQLite store {self.path}: {exc} "
                "(check the path exists and is writable)"
            ) from exc
        except BaseException:
            self._executor.shutdown(wait=False)
            self._executor = None
            raise

    def _open_sync(self) -> sqlite3.Connection:
        db = sqlite3.connect(self.path, timeout=30.0, isolation_level=None)
        try:
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")
            self._conn = db
            self._migrate(db)
        except BaseException:
            self._conn = None
            db.close()
            raise
        return db

    def _migrate(self, db: sqlite3.Connection) -> None:
        with self._tx():
            db.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
            row = db.execute("SELECT max(version) FROM schema_version").fetchone()
            current = int(row[0] or 0)
            if current > len(MIGRATIONS):
                raise SchemaTooNewError(
                    f"SQLite store {self.path} has schema version {current}, newer than this "
                    f"shadowgate understands ({len(MIGRATIONS)}): upgrade shadowgate"
                )
            for version in range(current, len(MIGRATIONS)):
                for stmt in MIGRATIONS[version]:
                    db.execute(stmt)
                db.execute("INSERT INTO schema_version VALUES (?)", (version + 1,))

    async def close(self) -> None:
        if self._conn is None or self._executor is None:
            return
        conn, executor = self._conn, self._executor
        await asyncio.get_running_loop().run_in_executor(executor, conn.close)
        executor.shutdown(wait=True)
        self._conn = None
        self._executor = None

    async def schema_version(self) -> int:
        def q() -> int:
            return int(self._db.execute("SELECT max(version) FROM schema_version").fetchone()[0])

        return await self._run(q)

    async def integrity_check(self) -> str:
        """``PRAGMA integrity_check``: ``"ok"`` for a healthy file."""
        return await self._run(
            lambda: str(self._db.execute("PRAGMA integrity_check").fetchone()[0])
        )

    # -- outcomes ---------------------------------------------------------------------

    async def insert_outcomes(self, records: Sequence[OutcomeRecord]) -> None:
        if not records:
            return
        rows = [codec.to_row(r) for r in records]

        def ins() -> None:
            with self._tx() as db:
                before = int(db.execute("SELECT coalesce(max(id), 0) FROM outcomes").fetchone()[0])
                db.executemany(_INSERT, rows)
                db.execute(_JOIN_NEW_OUTCOMES, (before,))

        await self._run(ins)

    async def read_outcomes(
        self,
        route: str,
        after_id: int = 0,
        limit: int = DEFAULT_PAGE,
        rollout_id: str | None = None,
    ) -> list[StoredOutcome]:
        sql = f"SELECT o.id, {_COLS} FROM outcomes o WHERE o.route = ? AND o.id > ?"
        params: list[Any] = [route, after_id]
        if rollout_id is not None:
            sql += " AND o.rollout_id = ?"
            params.append(rollout_id)
        sql += " ORDER BY o.id LIMIT ?"
        params.append(limit)

        def q() -> list[StoredOutcome]:
            return [
                StoredOutcome(r[0], codec.from_row(r[1:])) for r in self._db.execute(sql, params)
            ]

        return await self._run(q)

    async def max_outcome_id(self, route: str | None = None) -> int:
        def q() -> int:
            if route is None:
                row = self._db.execute("SELECT max(id) FROM outcomes").fetchone()
            else:
                row = self._db.execute(
                    "SELECT max(id) FROM outcomes WHERE route = ?", (route,)
                ).fetchone()
            return int(row[0] or 0)

        return await self._run(q)

    # -- labels -----------------------------------------------------------------------

    async def add_labels(
        self, items: Sequence[tuple[str, Any]], now: float | None = None
    ) -> LabelResult:
        ts = time.time() if now is None else now
        latest: dict[str, str] = {}
        for request_id, label in items:  # within one call, the last label of an id wins
            latest[request_id] = codec.dumps(label)

        def add() -> LabelResult:
            res = LabelResult(accepted=list(latest))
            with self._tx() as db:
                for rid, text in latest.items():
                    row = db.execute(
                        "SELECT label FROM labels WHERE request_id = ?", (rid,)
                    ).fetchone()
                    if row is None:
                        db.execute("INSERT INTO labels VALUES (?, ?, 1, ?, ?)", (rid, text, ts, ts))
                    elif row[0] == text:
                        res.unchanged.append(rid)
                    else:
                        db.execute(
                            "UPDATE labels SET label = ?, revision = revision + 1, "
                            "updated_at = ? WHERE request_id = ?",
                            (text, ts, rid),
                        )
                        res.revised.append(rid)
                    db.execute(_JOIN_LABEL, (rid,))
                    found = db.execute(
                        "SELECT 1 FROM outcomes WHERE request_id = ? LIMIT 1", (rid,)
                    ).fetchone()
                    (res.joined if found else res.unknown).append(rid)
            return res

        return await self._run(add)

    async def read_labels(self, request_ids: Sequence[str]) -> dict[str, StoredLabel]:
        def q() -> dict[str, StoredLabel]:
            out: dict[str, StoredLabel] = {}
            for rid in dict.fromkeys(request_ids):
                row = self._db.execute(
                    "SELECT label, revision, updated_at FROM labels WHERE request_id = ?", (rid,)
                ).fetchone()
                if row is not None:
                    out[rid] = StoredLabel(rid, codec.loads_or_none(row[0]), row[1], row[2])
            return out

        return await self._run(q)

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
            "WHERE j.route = ? AND j.seq > ?"
        )
        params: list[Any] = [route, after_seq]
        if rollout_id is not None:
            sql += " AND o.rollout_id = ?"
            params.append(rollout_id)
        sql += " ORDER BY j.seq LIMIT ?"
        params.append(limit)

        def q() -> list[LabeledOutcome]:
            return [
                LabeledOutcome(
                    r[0],
                    StoredOutcome(r[3], codec.from_row(r[4:])),
                    codec.loads_or_none(r[1]),
                    r[2],
                )
                for r in self._db.execute(sql, params)
            ]

        return await self._run(q)

    # -- retention --------------------------------------------------------------------

    async def prune(self, now: float) -> PruneResult:
        def run() -> PruneResult:
            res = PruneResult()
            with self._tx() as db:
                if self.retention > 0:
                    cutoff = now - self.retention
                    res.outcomes += db.execute(
                        "DELETE FROM outcomes WHERE ts < ?", (cutoff,)
                    ).rowcount
                    res.labels += db.execute(
                        "DELETE FROM labels WHERE updated_at < ?", (cutoff,)
                    ).rowcount
                if self.max_rows > 0:
                    routes = [r[0] for r in db.execute("SELECT DISTINCT route FROM outcomes")]
                    for route in routes:
                        row = db.execute(
                            "SELECT id FROM outcomes WHERE route = ? ORDER BY id DESC "
                            "LIMIT 1 OFFSET ?",
                            (route, self.max_rows - 1),
                        ).fetchone()
                        if row is not None:
                            res.outcomes += db.execute(
                                "DELETE FROM outcomes WHERE route = ? AND id < ?", (route, row[0])
                            ).rowcount
                if res.outcomes:
                    db.execute(
                        "DELETE FROM joins WHERE outcome_id NOT IN (SELECT id FROM outcomes)"
                    )
            return res

        return await self._run(run)

    # -- rollouts, judge state, audit -------------------------------------------------

    async def start_rollout(
        self, route: str, candidate_identity: str, config_digest: str, now: float
    ) -> str:
        def run() -> str:
            with self._tx() as db:
                row = db.execute(
                    "SELECT rollout_id, number, candidate_identity FROM rollouts "
                    "WHERE route = ? ORDER BY number DESC LIMIT 1",
                    (route,),
                ).fetchone()
                if row is not None and row[2] == candidate_identity:
                    return str(row[0])
                number = 1 if row is None else int(row[1]) + 1
                rollout_id = f"{route}-{number}"
                db.execute(
                    "INSERT INTO rollouts VALUES (?, ?, ?, ?, ?, ?)",
                    (rollout_id, route, number, candidate_identity, config_digest, now),
                )
                return rollout_id

        return await self._run(run)

    async def current_rollout(self, route: str) -> Rollout | None:
        rollouts = await self.list_rollouts(route)
        return rollouts[-1] if rollouts else None

    async def list_rollouts(self, route: str) -> list[Rollout]:
        def q() -> list[Rollout]:
            return [
                Rollout(*r)
                for r in self._db.execute(
                    "SELECT rollout_id, route, number, candidate_identity, config_digest, "
                    "started_at FROM rollouts WHERE route = ? ORDER BY number",
                    (route,),
                )
            ]

        return await self._run(q)

    async def load_judge_state(self, route: str, rollout_id: str) -> JudgeState | None:
        def q() -> JudgeState | None:
            r = self._db.execute(
                "SELECT state, data, detail, outcome_cursor, label_cursor, version, updated_at "
                "FROM judge_state WHERE route = ? AND rollout_id = ?",
                (route, rollout_id),
            ).fetchone()
            if r is None:
                return None
            return JudgeState(r[0], codec.loads_or_none(r[1]), codec.loads_or_none(r[2]), *r[3:])

        return await self._run(q)

    async def commit_decision(
        self, route: str, rollout_id: str, state: JudgeState, audit: Sequence[AuditRecord]
    ) -> int:
        def run() -> int:
            with self._tx() as db:
                row = db.execute(
                    "SELECT version FROM judge_state WHERE route = ? AND rollout_id = ?",
                    (route, rollout_id),
                ).fetchone()
                stored = 0 if row is None else int(row[0])
                if stored != state.version:
                    raise StaleStateError(
                        f"judge state of {route}/{rollout_id} is at version {stored}, not "
                        f"{state.version}: another judge committed first; reload and retry"
                    )
                version = stored + 1
                db.execute(
                    "INSERT OR REPLACE INTO judge_state VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        route,
                        rollout_id,
                        state.state,
                        codec.dumps(state.data),
                        codec.dumps(state.detail),
                        state.outcome_cursor,
                        state.label_cursor,
                        version,
                        state.updated_at or time.time(),
                    ),
                )
                for a in audit:
                    db.execute(
                        f"INSERT INTO audit ({_AUDIT_COLS}) VALUES "
                        "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                        codec.audit_row(a),
                    )
                db.execute("UPDATE state_clock SET version = version + 1 WHERE id = 1")
                return version

        return await self._run(run)

    async def read_audit(self, route: str, rollout_id: str | None = None) -> list[AuditRecord]:
        sql = f"SELECT {_AUDIT_COLS}, id FROM audit WHERE route = ?"
        params: list[Any] = [route]
        if rollout_id is not None:
            sql += " AND rollout_id = ?"
            params.append(rollout_id)

        def q() -> list[AuditRecord]:
            return [AuditRecord(*r) for r in self._db.execute(sql + " ORDER BY id", params)]

        return await self._run(q)

    async def state_version(self) -> int:
        def q() -> int:
            return int(self._db.execute("SELECT version FROM state_clock").fetchone()[0])

        return await self._run(q)

    async def read_rollout_states(self) -> list[RolloutState]:
        def q() -> list[RolloutState]:
            rows = self._db.execute(
                "SELECT s.route, s.rollout_id, s.state, s.detail, s.version, s.updated_at "
                "FROM judge_state s JOIN rollouts r ON r.rollout_id = s.rollout_id "
                "WHERE r.number = (SELECT max(number) FROM rollouts WHERE route = r.route) "
                "ORDER BY s.route"
            )
            return [
                RolloutState(r[0], r[1], r[2], codec.loads_or_none(r[3]), r[4], r[5]) for r in rows
            ]

        return await self._run(q)

    async def listen_states(self, callback: Callable[[int], None]) -> None:
        """SQLite cannot push: data planes poll ``state_version()`` instead."""
