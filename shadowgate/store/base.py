"""The store protocol: what every backend (SQLite, PostgreSQL) promises, and its row types.

``Store`` (all methods async; a backend is used from one event loop)

Lifecycle
    ``open()`` creates the schema or migrates it forward (``schema_version`` table; a
    database newer than this code is refused with ``StoreError``); ``close()`` releases
    connections. Both are idempotent.

Outcomes
    ``insert_outcomes(records)`` writes a batch in one transaction and gives each record an
    id larger than every id committed before it. Ids are assigned in commit order (SQLite:
    one writer at a time; PostgreSQL: a transaction-level advisory lock around the insert),
    so a reader that remembers the last id it saw never misses a row that commits later.
    Ids are never reused, even after pruning.
    ``read_outcomes(route, after_id, limit, rollout_id=None)`` returns up to ``limit``
    outcomes of one route (optionally one rollout) with ``id > after_id`` in id order.
    ``fields=`` (names of ``OutcomeRecord`` fields) reads only those, for a caller that
    uses no others (the judge): the rest of each record keeps its default (None, ``{}``
    for ``extra``, 0 for ``rows``) and costs neither the database nor the decoder
    anything. ``route``, ``rollout_id``, ``request_id``, ``ts``, ``kind`` and ``variant``
    are always read; an unknown name is a ``ValueError``.
    ``max_outcome_id(route=None)`` is the newest id (0 when empty).
    ``read_outcomes_by_request(request_ids, fields=None)`` reads the outcomes of those
    request ids (any route), oldest first: what a posted label will join.

Labels
    ``add_labels(items, now)`` stores ``(request_id, label)`` pairs whether or not an
    outcome with that id exists yet. A label is any JSON value (a list for a batch request,
    one entry per row). Repeating the same label is a no-op (``unchanged``); a *different*
    label for a stored id replaces it (last write wins) and bumps its ``revision``
    (``revised``). ``joined`` lists ids with at least one stored outcome, ``unknown`` the
    others: those labels stay stored and join when their outcome is flushed.
    ``read_labels(request_ids)`` returns the current label of each known id.
    ``set_aside_labels(items, now)`` takes ``(request_id, revision, record)`` for labels
    found not to fit the outcome they joined (posted before it was recorded, so nobody
    could check them then). A label still at ``revision`` is moved to
    ``REJECTED_PREFIX + request_id`` (its value becomes ``record``) and its joins are
    deleted: the id has no label any more, so a corrected one posted later is a first
    label and joins under a new sequence number. A label revised since (a correction that
    raced the caller) keeps its value and is joined again under new sequence numbers, so a
    cursor past the old ones reads it. Returns the ids set aside.

Joins
    A join row is created exactly once per labelled outcome, when both sides exist:
    at label insert if the outcome is already stored, at outcome insert if the label
    arrived first. Each join gets a sequence number, assigned in commit order like
    outcome ids. ``read_labeled(route, after_seq, limit, rollout_id=None)`` returns
    ``LabeledOutcome(seq, outcome, label, revision)`` with ``seq > after_seq`` in order, so
    a judge's cursor sees every labelled outcome exactly once whichever side came first.
    ``fields=`` reads only those fields of each outcome, as for ``read_outcomes``.
    A label revised after its join was read is *not* re-emitted (a sequential test cannot
    un-observe a sample); it is returned with its new value by later reads and exports.

Retention
    ``prune(now)`` deletes outcomes older than ``retention`` seconds and, per route, all but
    the newest ``max_rows`` outcomes (both set at construction, 0 = off); joins of deleted
    outcomes go with them, and labels older than ``retention`` are deleted too.

Rollouts and the judge
    ``start_rollout(route, candidate_identity, config_digest, now)`` returns the route's
    current rollout id when its candidate identity is unchanged, else starts a new one
    (ids look like ``"<route>-<n>"``). Every replica calling it with the same config gets
    the same id. ``current_rollout(route)`` / ``list_rollouts(route)`` read the registry.
    ``load_judge_state(route, rollout_id)`` returns the last committed ``JudgeState`` or
    None. ``commit_decision(route, rollout_id, state, audit)`` writes the new state and
    the audit records in ONE transaction and returns the new version. It is fenced:
    ``state.version`` must equal the stored version (0 when none), else ``StaleStateError``
    is raised and nothing is written, so two judges can never both act on one rollout.
    ``read_audit(route, rollout_id=None)`` lists audit records oldest first.

State polling (data planes)
    ``state_version()`` is a cheap counter bumped by every commit; when it changes,
    ``read_rollout_states()`` returns the state of each route's current rollout.
    ``listen_states(callback)`` calls ``callback(version)`` after each commit from any
    process where the backend can push (PostgreSQL LISTEN/NOTIFY); on SQLite it does
    nothing and callers poll ``state_version()``.

Drift monitor snapshots
    ``save_monitor(route, owner, snapshot)`` keeps the latest ``MonitorSnapshot`` of one
    process's (``owner``'s) drift monitors of a route, replacing the one before;
    ``load_monitor(route, owner)`` returns it or None; ``load_route_monitors(route)``
    every process's (a judge in another process reads the workers' alarms). ``prune``
    deletes snapshots not saved for ``MONITOR_MAX_AGE`` (a process that never came back).

Errors: every backend failure surfaces as ``StoreError`` (or a subclass).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Protocol, runtime_checkable

from shadowgate.model.outcome import OutcomeRecord
from shadowgate.store.reads import SqlReads
from shadowgate.store.rows import (
    AuditRecord,
    JudgeState,
    LabelResult,
    MonitorSnapshot,
    PruneResult,
    StoredLabel,
)


@runtime_checkable
class Store(SqlReads, Protocol):
    """Outcome, label, rollout, judge-state and audit persistence (see the module doc).

    The reads that are one statement each (``read_outcomes``, ``read_outcomes_by_request``,
    ``max_outcome_id``, ``read_labeled``, ``schema_version``, ``current_rollout``,
    ``list_rollouts``, ``load_judge_state``, ``read_audit``, ``state_version``,
    ``read_rollout_states``, ``load_monitor``, ``load_route_monitors``) are declared and
    written once, in ``SqlReads``.
    """

    async def open(self) -> None: ...
    async def close(self) -> None: ...

    async def insert_outcomes(self, records: Sequence[OutcomeRecord]) -> None: ...

    async def add_labels(
        self, items: Sequence[tuple[str, Any]], now: float | None = None
    ) -> LabelResult: ...
    async def read_labels(self, request_ids: Sequence[str]) -> dict[str, StoredLabel]: ...
    async def set_aside_labels(
        self, items: Sequence[tuple[str, int, Any]], now: float | None = None
    ) -> list[str]: ...

    async def prune(self, now: float) -> PruneResult: ...

    async def start_rollout(
        self, route: str, candidate_identity: str, config_digest: str, now: float
    ) -> str: ...

    async def commit_decision(
        self, route: str, rollout_id: str, state: JudgeState, audit: Sequence[AuditRecord]
    ) -> int: ...

    async def listen_states(self, callback: Callable[[int], None]) -> None: ...

    async def save_monitor(self, route: str, owner: str, snapshot: MonitorSnapshot) -> None: ...
