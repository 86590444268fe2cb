"""Rollout registry, judge state, audit log and state polling of the SQLite store."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from shadowgate.store import codec
from shadowgate.store.rows import AuditRecord, JudgeState, MonitorSnapshot, stale_state
from shadowgate.store.sqlite_base import Q, SqliteBase


class SqliteRollouts(SqliteBase):
    """The control-plane half of ``SqliteStore`` (see the ``Store`` protocol)."""

    # -- rollouts, judge state, audit -------------------------------------------------

    async def start_rollout(
        self, route: str, candidate_identity: str, config_digest: str, now: float
    ) -> str:
        def run() -> str:
            with self._tx() as db:
                latest = db.execute(Q.latest_rollout, (route,)).fetchone()
                current, new = codec.next_rollout(
                    route, latest, candidate_identity, config_digest, now
                )
                if new is not None:
                    db.execute(Q.insert_rollout, new)
                return current

        return await self._run(run)

    async def commit_decision(
        self, route: str, rollout_id: str, state: JudgeState, audit: Sequence[AuditRecord]
    ) -> int:
        values = codec.state_row(route, rollout_id, state)

        def run() -> int:
            with self._tx() as db:
                fenced = Q.update_state if state.version else Q.insert_state
                if db.execute(fenced, values).rowcount != 1:
                    raise stale_state(route, rollout_id, state.version)
                db.executemany(Q.insert_audit, [codec.audit_row(a) for a in audit])
                db.execute(Q.tick_clock).fetchall()
                return state.version + 1

        return await self._run(run)

    async def listen_states(self, callback: Callable[[int], None]) -> None:
        """SQLite cannot push: data planes poll ``state_version()`` instead."""

    # -- drift monitor snapshots ------------------------------------------------------

    async def save_monitor(self, route: str, owner: str, snapshot: MonitorSnapshot) -> None:
        values = (route, owner, snapshot.digest, codec.dumps(snapshot.state), snapshot.saved_at)

        def run() -> None:
            with self._tx() as db:
                db.execute(Q.save_monitor, values)

        await self._run(run)
