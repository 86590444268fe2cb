"""Which rollout of a route is current, and ``restart``: a new rollout of the same candidate.

A rollout is identified in the store by the candidate's identity (``url#version``): a new
candidate starts a new rollout. ``restart`` starts one for the same candidate by storing
the identity with a generation suffix (``url#version~restart2``); the current rollout is
the newest one whose identity, suffix aside, is the candidate the file names. Older
rollouts keep their state and audit, queryable as before.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from shadowgate.config.model import RouteConfig
from shadowgate.judge.records import transition_records
from shadowgate.rollout.machine import Event
from shadowgate.store.base import Store
from shadowgate.store.rows import AuditRecord

if TYPE_CHECKING:
    from shadowgate.judge.context import RouteContext

_SUFFIX = "~restart"


def _split(identity: str) -> tuple[str, int]:
    base, sep, n = identity.rpartition(_SUFFIX)
    if sep and n.isdigit():
        return base, int(n)
    return identity, 0


async def current_rollout_id(store: Store, route: RouteConfig, digest: str, now: float) -> str:
    """The route's current rollout for the file's candidate (started when there is none)."""
    identity = route.candidate_identity
    cur = await store.current_rollout(route.name)
    if cur is not None and _split(cur.candidate_identity)[0] == identity:
        identity = cur.candidate_identity
    return await store.start_rollout(route.name, identity, digest, now)


async def restart_rollout(store: Store, route: RouteConfig, digest: str, now: float) -> str:
    """Start a new rollout of the file's candidate; returns its id."""
    identity = route.candidate_identity
    cur = await store.current_rollout(route.name)
    n = 0
    if cur is not None:
        base, n = _split(cur.candidate_identity)
        if base != identity:
            n = 0
    return await store.start_rollout(route.name, f"{identity}{_SUFFIX}{n + 1}", digest, now)


def restart_record(
    old: RouteContext, new: RouteContext, actor: str, now: float, digest: str
) -> tuple[str, dict[str, Any], AuditRecord]:
    """The reason, last decision and audit record of a restart (kept on the new rollout)."""
    reason = (
        f"restart by {actor}: a new rollout of the same candidate after "
        f"{old.rollout_id} ({old.rollout.state.value})"
    )
    last, audit = transition_records(
        now=now,
        route=new.route,
        rollout_id=new.rollout_id,
        event=Event.RESTART,
        before=old.rollout.state,
        after=new.rollout,
        reason=reason,
        actor=actor,
        digest=digest,
    )
    return reason, last, audit
