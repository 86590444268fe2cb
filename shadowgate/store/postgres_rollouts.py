"""Rollout registry, judge state, audit log and LISTEN/NOTIFY of the PostgreSQL store."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

import asyncpg

from shadowgate.store import codec
from shadowgate.store.base import (
    AuditRecord,
    JudgeState,
    Rollout,
    RolloutState,
    StaleStateError,
)
from shadowgate.store.postgres_base import DB_ERRORS, PostgresBase, count_rows, lock_key

_AUDIT_COLS = ", ".join(f'"{c}"' for c in codec.AUDIT_COLUMNS)


class PostgresRollouts(PostgresBase):
    """The control-plane half of ``PostgresStore`` (see the ``Store`` protocol)."""

    # -- rollouts, judge state, audit -------------------------------------------------

    async def start_rollout(
        self, route: str, candidate_identity: str, config_digest: str, now: float
    ) -> str:
        async with self._tx() as conn:
            await conn.execute(
                "SELECT pg_advisory_xact_lock($1)", lock_key(self.schema, f"rollout:{route}")
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
            if count_rows(status) != 1:
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
        except DB_ERRORS as exc:
            raise self._error(exc) from exc
