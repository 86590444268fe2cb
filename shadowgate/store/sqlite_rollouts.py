"""Rollout registry, judge state, audit log and state polling of the SQLite store."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from shadowgate.store import codec
from shadowgate.store.base import AuditRecord, JudgeState, Rollout, RolloutState, stale_state
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

    async def current_rollout(self, route: str) -> Rollout | None:
        rollouts = await self.list_rollouts(route)
        return rollouts[-1] if rollouts else None

    async def list_rollouts(self, route: str) -> list[Rollout]:
        def q() -> list[Rollout]:
            return [Rollout(*r) for r in self._db.execute(Q.list_rollouts, (route,))]

        return await self._run(q)

    async def load_judge_state(self, route: str, rollout_id: str) -> JudgeState | None:
        def q() -> JudgeState | None:
            r = self._db.execute(Q.load_state, (route, rollout_id)).fetchone()
            return None if r is None else codec.judge_state(r)

        return await self._run(q)

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

    async def read_audit(self, route: str, rollout_id: str | None = None) -> list[AuditRecord]:
        def q() -> list[AuditRecord]:
            if rollout_id is None:
                rows = self._db.execute(Q.read_audit, (route,))
            else:
                rows = self._db.execute(Q.read_rollout_audit, (route, rollout_id))
            return [AuditRecord(*r) for r in rows]

        return await self._run(q)

    async def state_version(self) -> int:
        def q() -> int:
            return int(self._db.execute(Q.state_version).fetchone()[0])

        return await self._run(q)

    async def read_rollout_states(self) -> list[RolloutState]:
        def q() -> list[RolloutState]:
            return [codec.rollout_state(r) for r in self._db.execute(Q.rollout_states)]

        return await self._run(q)

    async def listen_states(self, callback: Callable[[int], None]) -> None:
        """SQLite cannot push: data planes poll ``state_version()`` instead."""
