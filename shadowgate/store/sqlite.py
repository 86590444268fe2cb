"""The SQLite store: stdlib ``sqlite3`` in WAL mode behind one dedicated thread.

Every call runs on a single-worker executor that owns the connection, so the event loop
never blocks on disk and statements never interleave. Writes use ``BEGIN IMMEDIATE``:
with several processes on one file (``serve --workers N``), write transactions are
serialised by SQLite itself, which is what makes ids follow commit order. WAL with
``synchronous=NORMAL`` survives a killed process (kill -9) without corruption; only a
power loss can lose the last transactions.
"""

from __future__ import annotations

import time
from collections.abc import Collection, Sequence
from typing import Any

from shadowgate.model.outcome import OutcomeRecord
from shadowgate.store import codec, sqlite_base
from shadowgate.store.base import (
    DEFAULT_PAGE,
    LabeledOutcome,
    LabelResult,
    PruneResult,
    StoredLabel,
    StoredOutcome,
)
from shadowgate.store.sqlite_base import ROWS_PER_STEP, fetch_in_steps
from shadowgate.store.sqlite_rollouts import SqliteRollouts

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


#: an insert that starts within this long of the previous one's end means a backlog (s)
BEHIND_GAP = 0.1


class SqliteStore(SqliteRollouts):
    """A ``Store`` in one SQLite file (``":memory:"`` for a private in-memory database)."""

    _last_insert_end = 0.0

    # -- outcomes ---------------------------------------------------------------------

    async def insert_outcomes(self, records: Sequence[OutcomeRecord]) -> None:
        if not records:
            return

        def ins() -> None:
            # on the store's thread (nice 10: the kernel favours the event loop), in steps
            # of a few rows: encode, insert, and offer the core, so that no step holds the
            # GIL or the core for more than a fraction of a millisecond. When the writer
            # comes straight back with the next batch it is behind (a saturated core): then
            # it does not offer the core, or its backlog would only grow
            behind = time.monotonic() - self._last_insert_end < BEHIND_GAP
            try:
                with self._tx() as db:
                    row = db.execute("SELECT coalesce(max(id), 0) FROM outcomes").fetchone()
                    before = int(row[0])
                    for i in range(0, len(records), ROWS_PER_STEP):
                        step = [codec.to_row(r) for r in records[i : i + ROWS_PER_STEP]]
                        db.executemany(_INSERT, step)
                        if not behind:
                            sqlite_base.offer_core()
                    db.execute(_JOIN_NEW_OUTCOMES, (before,))
            finally:
                self._last_insert_end = time.monotonic()

        await self._run(ins)

    async def read_outcomes(
        self,
        route: str,
        after_id: int = 0,
        limit: int = DEFAULT_PAGE,
        rollout_id: str | None = None,
        *,
        fields: Collection[str] | None = None,
    ) -> list[StoredOutcome]:
        sql = (
            f"SELECT o.id, {codec.select_list(fields)} FROM outcomes o "
            "WHERE o.route = ? AND o.id > ?"
        )
        params: list[Any] = [route, after_id]
        if rollout_id is not None:
            sql += " AND o.rollout_id = ?"
            params.append(rollout_id)
        sql += " ORDER BY o.id LIMIT ?"
        params.append(limit)

        def q() -> list[StoredOutcome]:
            return fetch_in_steps(self._db.execute(sql, params), codec.stored_from_row)

        return await self._run(q)

    async def read_outcomes_by_request(
        self, request_ids: Sequence[str], *, fields: Collection[str] | None = None
    ) -> list[StoredOutcome]:
        sql = f"SELECT o.id, {codec.select_list(fields)} FROM outcomes o WHERE o.request_id = ?"

        def q() -> list[StoredOutcome]:
            out: list[StoredOutcome] = []
            for rid in dict.fromkeys(request_ids):
                out += fetch_in_steps(self._db.execute(sql, (rid,)), codec.stored_from_row)
            return sorted(out, key=lambda o: o.id)

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
        *,
        fields: Collection[str] | None = None,
    ) -> list[LabeledOutcome]:
        sql = (
            f"SELECT j.seq, l.label, l.revision, o.id, {codec.select_list(fields)} "
            "FROM joins j JOIN outcomes o ON o.id = j.outcome_id "
            "JOIN labels l ON l.request_id = j.request_id "
            "WHERE j.route = ? AND j.seq > ?"
        )
        params: list[Any] = [route, after_seq]
        if rollout_id is not None:
            sql += " AND o.rollout_id = ?"
            params.append(rollout_id)
        sql += " ORDER BY j.seq LIMIT ?"
        params.append(limit)

        def q() -> list[LabeledOutcome]:
            return fetch_in_steps(self._db.execute(sql, params), codec.labeled_from_row)

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
