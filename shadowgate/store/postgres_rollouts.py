"""Rollout registry, judge state, audit log and LISTEN/NOTIFY of the PostgreSQL store."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import asyncpg

from shadowgate.store import codec
from shadowgate.store.postgres_base import DB_ERRORS, PostgresBase, Q, count_rows, lock_key
from shadowgate.store.rows import AuditRecord, JudgeState, MonitorSnapshot, stale_state


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
            latest = await conn.fetchrow(Q.latest_rollout, route)
            current, new = codec.next_rollout(route, latest, candidate_identity, config_digest, now)
            if new is not None:
                await conn.execute(Q.insert_rollout, *new)
            return current

    async def commit_decision(
        self, route: str, rollout_id: str, state: JudgeState, audit: Sequence[AuditRecord]
    ) -> int:
        values = codec.state_row(route, rollout_id, state)
        async with self._tx() as conn:
            fenced = Q.update_state if state.version else Q.insert_state
            if count_rows(await conn.execute(fenced, *values)) != 1:
                raise stale_state(route, rollout_id, state.version)
            if audit:
                await conn.executemany(Q.insert_audit, [codec.audit_row(a) for a in audit])
            clock = await conn.fetchval(Q.tick_clock)
            await conn.execute("SELECT pg_notify($1, $2)", self.channel, str(clock))
        return state.version + 1

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

    # -- drift monitor snapshots ------------------------------------------------------

    async def save_monitor(self, route: str, owner: str, snapshot: MonitorSnapshot) -> None:
        values = (route, owner, snapshot.digest, codec.dumps(snapshot.state), snapshot.saved_at)
        async with self._tx() as conn:
            await conn.execute(Q.save_monitor, *values)
