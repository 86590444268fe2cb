"""The judge's side of a bake: its clock through outages, drift, and what it waits for.

The pure rules live in ``rollout.bake``. Here:

- **the clock**: while the production-outage gate is active during a bake (the reference,
  the former production, is failing), nothing is decided and the bake's clock stops; the
  stopped seconds are kept with the rollout, so a restart resumes the same clock;
- **drift**: the promotion a bake watches was already held for drift and confirmed before
  the bake began, so ``confirm_promotion`` is not asked again when it ends. A drift alarm
  raised or still on during the bake is audited once (``drift_alarm:baking``) and shown in
  the bake's status; with ``drift.on_drift: block_promotion`` it also holds the bake's end
  (the rollout stays ``baking``: the candidate keeps serving, the former production stays
  mirrored and a harm still reverts) until the alarm clears or an operator promotes; with
  ``alert`` the promotion's reason names it;
- **waiting**: a bake whose time is up but whose reference answered too few pairs says so
  in ``pending``.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

from shadowgate.config.model import RouteConfig
from shadowgate.rollout.analysis import RouteAnalysis
from shadowgate.rollout.bake import bake_elapsed, bake_waiting, decide_bake
from shadowgate.rollout.machine import Event, State
from shadowgate.rollout.outage import OutageChange
from shadowgate.rollout.policy import Decision
from shadowgate.store.rows import AuditRecord

if TYPE_CHECKING:
    from shadowgate.judge.context import RouteContext
    from shadowgate.judge.judge import Judge


def clock(ctx: RouteContext, now: float) -> float:
    """Seconds of the bake with a working reference (see ``rollout.bake.bake_elapsed``)."""
    open_since = ctx.outage.since if ctx.outage.active else None
    return bake_elapsed(ctx.rollout, now, ctx.bake_stopped, open_since)


def outage_switched(
    ctx: RouteContext, change: OutageChange, began: float | None, now: float
) -> None:
    """An outage that ``began`` (the gate's ``since`` before it switched) has ended while
    baking: its seconds since the bake began no longer count on the bake's clock."""
    if ctx.rollout.state is State.BAKING and change.event == "resumed" and began is not None:
        ctx.bake_stopped += max(0.0, now - max(began, ctx.rollout.since))


def entered(ctx: RouteContext, route: RouteConfig) -> None:
    """The rollout (re)enters the bake: its clock starts afresh. The bake's tests are made
    once per rollout: a promotion pulled back by an edit that bakes again continues them
    (its α is spent once, and ``min_samples`` counts the pairs of both bakes)."""
    if ctx.bake is None:
        ctx.bake = RouteAnalysis(route.analysis)
    ctx.bake_stopped = 0.0
    ctx.bake_note = None
    ctx.bake_since = ctx.rollout.since


def pulled_back(ctx: RouteContext) -> str:
    """What an edit that pulls a promotion back leaves of the bake, for its audit reason."""
    bake = ctx.bake
    n = 0 if bake is None else bake.pairs
    return f"the bake stops after {n} pairs (its tests go on if the rollout bakes again)"


def _drift(judge: Judge, route: RouteConfig) -> tuple[str | None, str | None]:
    held = next((r for h in judge.holds if (r := h(route)) is not None), None)
    notice = next((r for h in judge.notices if (r := h(route)) is not None), None)
    return held, notice


async def decide(
    judge: Judge, route: RouteConfig, ctx: RouteContext, now: float
) -> Decision | None:
    """The bake's decision at this look, with drift said and holding as described above."""
    held, notice = _drift(judge, route)
    note = held or notice
    if note is not None and note != ctx.bake_note:
        ctx.bake_note = note
        await judge._commit(route, ctx, now, [_drift_audit(judge, route, ctx, note, now)])
    elif note is None:
        ctx.bake_note = None
    elapsed = clock(ctx, now)
    decision = decide_bake(
        route, ctx.rollout, ctx.bake, now=now, complete=judge.complete(route.name), elapsed=elapsed
    )
    if decision is None:
        ctx.pending_event = bake_waiting(route, ctx.bake, elapsed)
        return None
    if decision.event is Event.PASSED and route.after_promotion is not None:
        if held is not None:
            ctx.pending_event = f"bake done, but {held}; an operator's promote ends it"
            return None
        if notice is not None:
            decision = replace(decision, reason=f"{decision.reason}; {notice}")
    return decision


def _drift_audit(
    judge: Judge, route: RouteConfig, ctx: RouteContext, note: str, now: float
) -> AuditRecord:
    bake = ctx.bake
    return AuditRecord(
        time=now,
        route=route.name,
        rollout_id=ctx.rollout_id,
        decision="drift_alarm:baking",
        n=0 if bake is None else bake.pairs,
        config_digest=judge.holder.current.digest(),
        reason=f"inputs in drift alarm while baking: {note}",
        actor="judge",
    )
