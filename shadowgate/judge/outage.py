"""The judge's side of production outages: the gate per route, its audit record, its webhook.

The pure logic lives in ``rollout.outage``; this module keeps the route's gate in step with
reloaded thresholds and turns a switch of the gate into what operators see.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from shadowgate.config.model import RouteConfig
from shadowgate.config.reload import ConfigHolder
from shadowgate.judge.notify import Notifier
from shadowgate.metrics import Metrics
from shadowgate.rollout.machine import State
from shadowgate.rollout.outage import OutageChange, OutageGate
from shadowgate.store.rows import AuditRecord

if TYPE_CHECKING:
    from shadowgate.judge.context import RouteContext
    from shadowgate.judge.judge import Judge

log = logging.getLogger("shadowgate.judge")

OutageHook = Callable[[RouteConfig, "RouteContext", OutageChange], None]


def current_gate(gate: OutageGate, route: RouteConfig) -> OutageGate:
    """``gate`` under the route's current thresholds (a reload may have changed them)."""
    cfg = route.analysis.production_outage
    return gate if gate.config == cfg else OutageGate.from_dict(cfg, gate.to_dict())


def outage_audit(
    route: RouteConfig, rollout_id: str, state: str, change: OutageChange, now: float, digest: str
) -> AuditRecord:
    """The audit record of a pause or resume (``outage_paused:shadow``, ...)."""
    return AuditRecord(
        time=now,
        route=route.name,
        rollout_id=rollout_id,
        decision=f"outage_{change.event}:{state}",
        estimate=change.error_rate,
        n=change.pairs,
        config_digest=digest,
        reason=change.reason,
        actor="judge",
    )


def outage_event(
    route: RouteConfig, rollout_id: str, state: str, change: OutageChange, now: float
) -> dict[str, Any]:
    """The webhook body: ``shadowgate.outage_paused`` or ``shadowgate.outage_resumed``."""
    return {
        "type": f"shadowgate.outage_{change.event}",
        "route": route.name,
        "rollout_id": rollout_id,
        "state": state,
        "time": now,
        "reason": change.reason,
        "production_error_rate": change.error_rate,
        "window_pairs": change.pairs,
    }


async def switched(
    judge: Judge, route: RouteConfig, ctx: RouteContext, change: OutageChange, now: float
) -> None:
    """Production started or stopped failing: audited, committed, logged, announced."""
    if ctx.rollout.state is State.BAKING:  # production is the former one, the reference
        stops = "stops" if change.event == "paused" else "runs again"
        why = f"{change.reason}; while baking it is the reference, and the bake's clock {stops}"
        change = replace(change, reason=why)
    ctx.pending_event = change.reason if change.event == "paused" else None
    state, digest = ctx.rollout.state.value, judge.holder.current.digest()
    audit = outage_audit(route, ctx.rollout_id, state, change, now, digest)
    await judge._commit(route, ctx, now, [audit])
    log.warning("route %s: %s", route.name, change.reason)
    for hook in judge.on_outage:
        hook(route, ctx, change)


def outage_webhooks(holder: ConfigHolder, notifier: Notifier) -> OutageHook:
    """Send ``shadowgate.outage_paused`` / ``outage_resumed`` to the route's webhooks."""

    def hook(route: RouteConfig, ctx: RouteContext, change: OutageChange) -> None:
        current = holder.current.route(route.name) or route
        if current.webhooks:
            state = ctx.rollout.state.value
            notifier.send(
                current.webhooks,
                outage_event(current, ctx.rollout_id, state, change, ctx.outage.since or 0.0),
            )

    return hook


def excluded_metric(metrics: Metrics) -> Callable[[RouteConfig, RouteContext], None]:
    """After each look: ``shadowgate_pairs_excluded_total`` += what the judge left out since.

    Only the acting judge counts, and a judge resuming from the store does not count again
    what its predecessor counted (``OutageGate.reported``).
    """
    counter = metrics.pairs_excluded_total

    def hook(route: RouteConfig, ctx: RouteContext) -> None:
        for reason, n in ctx.outage.unreported().items():
            counter.labels(route=route.name, reason=reason).inc(n)

    return hook
