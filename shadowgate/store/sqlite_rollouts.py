"""Rollout registry, judge state, audit log and state polling of the SQLite store."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

from shadowgate.store import codec
from shadowgate.store.base import (
    AuditRecord,
    JudgeState,
    Rollout,
    RolloutState,
    StaleStateError,
)
from shadowgate.store.sqlite_base import SqliteBase

_AUDIT_COLS = (
    'time, route, rollout_id, decision, "check", p_value, estimate, ci_lower, ci_upper, '
    "n, config_digest, reason, actor"
)


class SqliteRollouts(SqliteBase):
    """The control-plane half of ``SqliteStore`` (see the ``Store`` protocol)."""

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
