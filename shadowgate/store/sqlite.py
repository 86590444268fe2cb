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
from collections.abc import Sequence
from typing import Any

from shadowgate.model.outcome import OutcomeRecord
from shadowgate.store import codec, sqlite_base
from shadowgate.store.rows import (
    MONITOR_MAX_AGE,
    REJECTED_PREFIX,
    LabelResult,
    PruneResult,
    StoredLabel,
)
from shadowgate.store.sqlite_base import ROWS_PER_STEP, Q
from shadowgate.store.sqlite_rollouts import SqliteRollouts

# labels one id at a time (PostgreSQL does the same for a whole call with arrays)
_LABEL = "SELECT label FROM labels WHERE request_id = ?"
_NEW_LABEL = "INSERT INTO labels VALUES (?, ?, 1, ?, ?)"
_REVISE_LABEL = (
    "UPDATE labels SET label = ?, revision = revision + 1, updated_at = ? WHERE request_id = ?"
)
_JOIN_LABEL = (
    "INSERT INTO joins (outcome_id, route, request_id) "
    "SELECT o.id, o.route, o.request_id FROM outcomes o WHERE o.request_id = ? ORDER BY o.id "
    "ON CONFLICT (outcome_id) DO NOTHING"
)
_HAS_OUTCOME = "SELECT 1 FROM outcomes WHERE request_id = ? LIMIT 1"
_READ_LABEL = "SELECT label, revision, updated_at FROM labels WHERE request_id = ?"


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
                    before = int(db.execute(Q.max_id).fetchone()[0])
                    for i in range(0, len(records), ROWS_PER_STEP):
                        step = [codec.to_row(r) for r in records[i : i + ROWS_PER_STEP]]
                        db.executemany(Q.insert_outcome, step)
                        if not behind:
                            sqlite_base.offer_core()
                    db.execute(Q.join_new_outcomes, (before,))
            finally:
                self._last_insert_end = time.monotonic()

        await self._run(ins)

    # -- labels -----------------------------------------------------------------------

    async def add_labels(
        self, items: Sequence[tuple[str, Any]], now: float | None = None
    ) -> LabelResult:
        ts = time.time() if now is None else now
        latest = codec.latest_labels(items)

        def add() -> LabelResult:
            res = LabelResult(accepted=list(latest))
            with self._tx() as db:
                for rid, text in latest.items():
                    row = db.execute(_LABEL, (rid,)).fetchone()
                    if row is None:
                        db.execute(_NEW_LABEL, (rid, text, ts, ts))
                    elif row[0] == text:
                        res.unchanged.append(rid)
                    else:
                        db.execute(_REVISE_LABEL, (text, ts, rid))
                        res.revised.append(rid)
                    db.execute(_JOIN_LABEL, (rid,))
                    found = db.execute(_HAS_OUTCOME, (rid,)).fetchone()
                    (res.joined if found else res.unknown).append(rid)
            return res

        return await self._run(add)

    async def set_aside_labels(
        self, items: Sequence[tuple[str, int, Any]], now: float | None = None
    ) -> list[str]:
        ts = time.time() if now is None else now

        def run() -> list[str]:
            aside: list[str] = []
            with self._tx() as db:
                for rid, revision, record in items:
                    moved = db.execute(Q.delete_label_at, (rid, revision)).rowcount
                    db.execute(Q.delete_joins, (rid,))
                    if moved:
                        apart = (REJECTED_PREFIX + rid, codec.dumps(record), ts)
                        db.execute(Q.keep_apart, apart)
                        aside.append(rid)
                    elif db.execute(Q.has_label, (rid,)).fetchone() is not None:
                        db.execute(_JOIN_LABEL, (rid,))  # revised since: read it again
            return aside

        return await self._run(run)

    async def read_labels(self, request_ids: Sequence[str]) -> dict[str, StoredLabel]:
        def q() -> dict[str, StoredLabel]:
            out: dict[str, StoredLabel] = {}
            for rid in dict.fromkeys(request_ids):
                row = self._db.execute(_READ_LABEL, (rid,)).fetchone()
                if row is not None:
                    out[rid] = StoredLabel(rid, codec.loads_or_none(row[0]), row[1], row[2])
            return out

        return await self._run(q)

    # -- retention --------------------------------------------------------------------

    async def prune(self, now: float) -> PruneResult:
        def run() -> PruneResult:
            res = PruneResult()
            with self._tx() as db:
                if self.retention > 0:
                    cutoff = now - self.retention
                    res.outcomes += db.execute(Q.prune_outcomes_before, (cutoff,)).rowcount
                    res.labels += db.execute(Q.prune_labels_before, (cutoff,)).rowcount
                if self.max_rows > 0:
                    for (route,) in db.execute(Q.routes).fetchall():
                        keep = (route, self.max_rows - 1)
                        row = db.execute(Q.keep_from, keep).fetchone()
                        if row is not None:
                            res.outcomes += db.execute(
                                Q.prune_route_before, (route, row[0])
                            ).rowcount
                if res.outcomes:
                    db.execute(Q.prune_joins)
                db.execute(Q.prune_monitors_before, (now - MONITOR_MAX_AGE,))
            return res

        return await self._run(run)
