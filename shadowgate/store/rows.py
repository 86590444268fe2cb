"""The store's row types and errors (the protocol that returns them: ``store.base``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from shadowgate.errors import StoreError
from shadowgate.model.outcome import OutcomeRecord

#: how many rows a cursor read returns when the caller names no limit
DEFAULT_PAGE = 1000
#: where a label that does not fit its outcome is kept: an id no outcome has, so it never
#: joins (``POST /api/feedback`` keeps the ones it rejects there too)
REJECTED_PREFIX = "rejected:"
#: a drift monitor snapshot not saved for this long (seconds) is pruned
MONITOR_MAX_AGE = 7 * 86400.0


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
class PolledState:
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


@dataclass(slots=True)
class MonitorSnapshot:
    """A process's drift monitors of one route: ``state`` is ``DriftMonitor.to_dict()``,
    valid for the config and features ``digest`` names."""

    digest: str
    state: dict[str, Any]
    saved_at: float
