"""The reads both backends make the same way, over one primitive each backend provides.

A backend implements ``_select(sql, params, decode)`` (rows of a statement, each through
``decode``: SQLite on its thread in steps, PostgreSQL on the event loop in slices) and
``_scalar(sql, params)`` (the first column of the first row); every read of the ``Store``
protocol that is one statement of ``sql.Queries`` is written here, once.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from typing import Any, Protocol, TypeVar

from shadowgate.store import codec
from shadowgate.store.rows import (
    DEFAULT_PAGE,
    AuditRecord,
    JudgeState,
    LabeledOutcome,
    MonitorSnapshot,
    PolledState,
    Rollout,
    StoredOutcome,
)
from shadowgate.store.sql import Queries, read_params

T = TypeVar("T")


class SqlReads(Protocol):
    """Cursor reads, the rollout registry, judge state, audit and the state clock.

    A protocol with its implementation: both backends subclass it, and ``Store`` extends it
    with what each backend writes its own way.
    """

    #: the statements in this backend's dialect
    Q: Queries

    async def _select(
        self, sql: str, params: Sequence[Any], decode: Callable[[Any], T]
    ) -> list[T]: ...

    async def _scalar(self, sql: str, params: Sequence[Any] = ()) -> Any: ...

    async def schema_version(self) -> int:
        return int(await self._scalar(self.Q.schema_version))

    async def read_outcomes(
        self,
        route: str,
        after_id: int = 0,
        limit: int = DEFAULT_PAGE,
        rollout_id: str | None = None,
        *,
        fields: Collection[str] | None = None,
    ) -> list[StoredOutcome]:
        sql = self.Q.read_outcomes(fields, rollout_id is not None)
        params = read_params(route, after_id, rollout_id, limit)
        return await self._select(sql, params, codec.stored_from_row)

    async def read_outcomes_by_request(
        self, request_ids: Sequence[str], *, fields: Collection[str] | None = None
    ) -> list[StoredOutcome]:
        sql = self.Q.read_outcomes_by_request(fields)
        out: list[StoredOutcome] = []
        for rid in dict.fromkeys(request_ids):
            out += await self._select(sql, (rid,), codec.stored_from_row)
        return sorted(out, key=lambda o: o.id)

    async def max_outcome_id(self, route: str | None = None) -> int:
        if route is None:
            return int(await self._scalar(self.Q.max_id))
        return int(await self._scalar(self.Q.max_route_id, (route,)))

    async def read_labeled(
        self,
        route: str,
        after_seq: int = 0,
        limit: int = DEFAULT_PAGE,
        rollout_id: str | None = None,
        *,
        fields: Collection[str] | None = None,
    ) -> list[LabeledOutcome]:
        sql = self.Q.read_labeled(fields, rollout_id is not None)
        params = read_params(route, after_seq, rollout_id, limit)
        return await self._select(sql, params, codec.labeled_from_row)

    async def current_rollout(self, route: str) -> Rollout | None:
        rollouts = await self.list_rollouts(route)
        return rollouts[-1] if rollouts else None

    async def list_rollouts(self, route: str) -> list[Rollout]:
        return await self._select(self.Q.list_rollouts, (route,), _rollout)

    async def load_judge_state(self, route: str, rollout_id: str) -> JudgeState | None:
        rows = await self._select(self.Q.load_state, (route, rollout_id), codec.judge_state)
        return rows[0] if rows else None

    async def read_audit(self, route: str, rollout_id: str | None = None) -> list[AuditRecord]:
        if rollout_id is None:
            return await self._select(self.Q.read_audit, (route,), _audit)
        return await self._select(self.Q.read_rollout_audit, (route, rollout_id), _audit)

    async def state_version(self) -> int:
        return int(await self._scalar(self.Q.state_version))

    async def read_rollout_states(self) -> list[PolledState]:
        return await self._select(self.Q.rollout_states, (), codec.rollout_state)

    async def load_monitor(self, route: str, owner: str) -> MonitorSnapshot | None:
        rows = await self._select(self.Q.load_monitor, (route, owner), _snapshot)
        return rows[0] if rows else None

    async def load_route_monitors(self, route: str) -> list[MonitorSnapshot]:
        """Every process's latest snapshot of a route's drift monitors."""
        return await self._select(self.Q.load_route_monitors, (route,), _snapshot)


def _rollout(r: Sequence[Any]) -> Rollout:
    return Rollout(*r)


def _audit(r: Sequence[Any]) -> AuditRecord:
    return AuditRecord(*r)


def _snapshot(r: Sequence[Any]) -> MonitorSnapshot:
    return MonitorSnapshot(str(r[0]), codec.loads(r[1]), float(r[2]))
