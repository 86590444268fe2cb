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

Errors: every backend failure surfaces as ``StoreError`` (or a subclass).
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from shadowgate.errors import StoreError
from shadowgate.model.outcome import OutcomeRecord

#: how many rows a cursor read returns when the caller names no limit
DEFAULT_PAGE = 1000


class StaleStateError(StoreError):
    """Another judge committed first: reload the state, then decide again (or step down)."""


class SchemaTooNewError(StoreError):
    """The database was migrated by a newer shadowgate; upgrade this one to use it."""


def stale_state(route: str, rollout_id: str, version: int) -> StaleStateError:
    """The error of a commit fenced out: the stored state is no longer at ``version``."""
    return StaleStateError(
        f"judge state of {route}/{rollout_id} is no longer at version {version}: "
        "another judge committed first; reload and retry"
    )


@dataclass(slots=True)
class StoredOutcome:
    """An outcome as stored: its cursor ``id`` and the record."""

    id: int
    record: OutcomeRecord


@dataclass(slots=True)
class StoredLabel:
    """The current label of a request id; ``revision`` counts replacements (1 = first)."""

    request_id: str
    label: Any
    revision: int
    updated_at: float


@dataclass(slots=True)
class LabelResult:
    """What ``add_labels`` did with each (deduplicated) request id of one call."""

    accepted: list[str] = field(default_factory=list)  # every id, in first-seen order
    joined: list[str] = field(default_factory=list)  # an outcome with this id is stored
    unknown: list[str] = field(default_factory=list)  # stored, waiting for its outcome
    unchanged: list[str] = field(default_factory=list)  # same label seen before: no-op
    revised: list[str] = field(default_factory=list)  # a different label replaced it


@dataclass(slots=True)
class LabeledOutcome:
    """One row of ``read_labeled``: join sequence number, outcome and its current label."""

    seq: int
    outcome: StoredOutcome
    label: Any
    revision: int
    #: when the label first arrived (``analysis.label_window`` counts it only if in time)
    labelled_at: float = 0.0


@dataclass(slots=True)
class PruneResult:
    outcomes: int = 0
    labels: int = 0


@dataclass(slots=True)
class Rollout:
    """One candidate's rollout on one route."""

    rollout_id: str
    route: str
    number: int
    candidate_identity: str
    config_digest: str
    started_at: float


@dataclass(slots=True)
class JudgeState:
    """What the judge persists per rollout.

    ``state`` is the rollout state name (shadow, canary, promoted, ...); ``detail`` is the
    small part data planes need (e.g. canary weight and step); ``data`` is opaque to the
    store (test states, policy state); the cursors are where the judge stopped reading.
    ``version`` is the fencing token: 0 before the first commit, set by the store.
    """

    state: str
    data: dict[str, Any] = field(default_factory=dict)
    detail: dict[str, Any] = field(default_factory=dict)
    outcome_cursor: int = 0
    label_cursor: int = 0
    version: int = 0
    updated_at: float = 0.0


@dataclass(slots=True)
class RolloutState:
    """A route's current rollout state, as data planes poll it."""

    route: str
    rollout_id: str
    state: str
    detail: dict[str, Any]
    version: int
    updated_at: float


@dataclass(slots=True)
class AuditRecord:
    """One decision or manual action, with the evidence it was based on."""

    time: float
    route: str
    rollout_id: str
    decision: str
    check: str | None = None
    p_value: float | None = None
    estimate: float | None = None
    ci_lower: float | None = None
    ci_upper: float | None = None
    n: int | None = None
    config_digest: str | None = None
    reason: str = ""
    actor: str = "judge"
    id: int = 0  # assigned by the store


@runtime_checkable
class Store(Protocol):
    """Outcome, label, rollout, judge-state and audit persistence (see the module doc)."""

    async def open(self) -> None: ...
    async def close(self) -> None: ...
    async def schema_version(self) -> int: ...

    async def insert_outcomes(self, records: Sequence[OutcomeRecord]) -> None: ...
    async def read_outcomes(
        self,
        route: str,
        after_id: int = 0,
        limit: int = DEFAULT_PAGE,
        rollout_id: str | None = None,
        *,
        fields: Collection[str] | None = None,
    ) -> list[StoredOutcome]: ...
    async def max_outcome_id(self, route: str | None = None) -> int: ...
    async def read_outcomes_by_request(
        self, request_ids: Sequence[str], *, fields: Collection[str] | None = None
    ) -> list[StoredOutcome]: ...

    async def add_labels(
        self, items: Sequence[tuple[str, Any]], now: float | None = None
    ) -> LabelResult: ...
    async def read_labels(self, request_ids: Sequence[str]) -> dict[str, StoredLabel]: ...
    async def read_labeled(
        self,
        route: str,
        after_seq: int = 0,
        limit: int = DEFAULT_PAGE,
        rollout_id: str | None = None,
        *,
        fields: Collection[str] | None = None,
    ) -> list[LabeledOutcome]: ...

    async def prune(self, now: float) -> PruneResult: ...

    async def start_rollout(
        self, route: str, candidate_identity: str, config_digest: str, now: float
    ) -> str: ...
    async def current_rollout(self, route: str) -> Rollout | None: ...
    async def list_rollouts(self, route: str) -> list[Rollout]: ...

    async def load_judge_state(self, route: str, rollout_id: str) -> JudgeState | None: ...
    async def commit_decision(
        self, route: str, rollout_id: str, state: JudgeState, audit: Sequence[AuditRecord]
    ) -> int: ...
    async def read_audit(self, route: str, rollout_id: str | None = None) -> list[AuditRecord]: ...

    async def state_version(self) -> int: ...
    async def read_rollout_states(self) -> list[RolloutState]: ...
    async def listen_states(self, callback: Callable[[int], None]) -> None: ...
