"""The judge: reads new evidence by cursor, updates the tests, decides, commits atomically.

One judge acts at a time (``is_leader``); every commit is fenced by the store's state
version, so a judge that lost leadership mid-decision cannot write. Test state, rollout
state, cursors and the audit record of a decision go to the store in ONE transaction, so
after any crash (kill -9 included) the judge resumes from exactly what it had decided:
outcomes read after the last commit are read again, never counted twice.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from shadowgate.compare.noise import NoiseFloor
from shadowgate.config.model import RouteConfig
from shadowgate.config.reload import ConfigHolder
from shadowgate.judge import evidence
from shadowgate.judge.outage import OutageHook, current_gate, switched
from shadowgate.rollout.analysis import RouteAnalysis
from shadowgate.rollout.checks import CheckResult
from shadowgate.rollout.machine import (
    Event,
    RolloutState,
    State,
    TransitionError,
    initial_state,
    routing_for,
    transition,
)
from shadowgate.rollout.outage import OutageGate
from shadowgate.rollout.policy import Decision, decide
from shadowgate.store.base import AuditRecord, JudgeState, StaleStateError, Store
from shadowgate.store.pages import pages

log = logging.getLogger("shadowgate.judge")

#: at most this many outcomes/labels are read per route per look (the rest next look)
PAGE = 5000
#: outcomes folded into the tests between two yields to the event loop
CHUNK = 250
MAX_PAGES = 20


@dataclass
class RouteContext:
    """The judge's in-memory picture of one route's current rollout."""

    route: str
    rollout_id: str
    rollout: RolloutState
    analysis: RouteAnalysis
    started_at: float
    began_in_shadow: bool
    outcome_cursor: int = 0
    label_cursor: int = 0
    version: int = 0
    last_decision: dict[str, Any] | None = None
    pending_event: str | None = None  # e.g. waiting for confirm_promotion
    noise: NoiseFloor = field(default_factory=NoiseFloor)
    #: production failures: left out of the checks, and decisions paused while they last
    outage: OutageGate = field(default_factory=OutageGate)

    def detail(self, route: RouteConfig) -> dict[str, Any]:
        r = routing_for(
            self.rollout,
            mode=route.mode,
            weight=route.canary.weight,
            steps=route.canary.steps,
        )
        return {
            "step": self.rollout.step,
            "mode": r.mode,
            "weight": r.weight,
            "mirror": r.mirror,
            "reason": self.rollout.reason,
            "since": self.rollout.since,
            "paused_from": self.rollout.paused_from.value if self.rollout.paused_from else None,
            "paused_step": self.rollout.paused_step,
        }

    def results(self) -> list[CheckResult]:
        """Shadow results, plus canary results once the canary has data."""
        out = self.analysis.results("shadow")
        if self.analysis.canary != [0, 0]:
            out += self.analysis.results("canary")
        return out

    def to_state(self, route: RouteConfig, now: float) -> JudgeState:
        return JudgeState(
            state=self.rollout.state.value,
            data={
                "rollout": self.rollout.to_dict(),
                "analysis": self.analysis.to_dict(),
                "started_at": self.started_at,
                "began_in_shadow": self.began_in_shadow,
                "last_decision": self.last_decision,
                "results": [r.to_dict() for r in self.results()],
                "noise": self.noise.to_dict(),
                "outage": self.outage.to_dict(),
            },
            detail=self.detail(route),
            outcome_cursor=self.outcome_cursor,
            label_cursor=self.label_cursor,
            version=self.version,
            updated_at=now,
        )


Listener = Callable[[str, "RouteContext", Decision | None, str], Awaitable[None] | None]


class Judge:
    """Looks at every route every ``analysis.interval`` and acts on what it sees."""

    def __init__(
        self,
        store: Store,
        holder: ConfigHolder,
        *,
        is_leader: Callable[[], bool] = lambda: True,
        complete: Callable[[str], bool] = lambda route: True,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.holder = holder
        self.is_leader = is_leader
        self.complete = complete
        self.clock = clock
        self.contexts: dict[str, RouteContext] = {}
        self.listeners: list[Listener] = []
        #: called after every look with the route and its context (e.g. to set gauges)
        self.on_look: list[Callable[[RouteConfig, RouteContext], None]] = []
        self.confirm: Callable[[RouteConfig, RouteContext], Awaitable[bool]] | None = None
        self.on_outage: list[OutageHook] = []
        #: reasons to hold a passing rollout (e.g. inputs drifting): a non-None reason wins
        self.holds: list[Callable[[RouteConfig], str | None]] = []
        self._locks: dict[str, asyncio.Lock] = {}
        self._next: dict[str, float] = {}
        self.last_tick: float = 0.0
        self.errors = 0

    def _lock(self, route: str) -> asyncio.Lock:
        lock = self._locks.get(route)
        if lock is None:
            lock = self._locks[route] = asyncio.Lock()
        return lock

    # --- loading --------------------------------------------------------------------

    async def context(self, route: RouteConfig) -> RouteContext:
        """The route's current rollout context, starting a rollout or resuming from the store."""
        now = self.clock()
        rollout_id = await self.store.start_rollout(
            route.name, route.candidate_identity, self.holder.current.digest(), now
        )
        ctx = self.contexts.get(route.name)
        if ctx is not None and ctx.rollout_id == rollout_id:
            if ctx.analysis.config != route.analysis:  # an edited check gets fresh tests
                ctx.analysis.reconfigure(route.analysis)
            return ctx
        saved = await self.store.load_judge_state(route.name, rollout_id)
        if saved is None:
            rollout = initial_state(route.mode, route.canary.steps, now)
            w = routing_for(
                rollout, mode=route.mode, weight=route.canary.weight, steps=route.canary.steps
            ).weight
            ctx = RouteContext(
                route.name,
                rollout_id,
                rollout,
                RouteAnalysis(route.analysis, canary_weight=w if route.mode == "canary" else 0),
                started_at=now,
                began_in_shadow=route.mode == "shadow",
                outage=OutageGate(route.analysis.production_outage),
            )
        else:
            d = saved.data
            ctx = RouteContext(
                route.name,
                rollout_id,
                RolloutState.from_dict(d["rollout"]),
                RouteAnalysis.from_dict(route.analysis, d["analysis"]),
                started_at=float(d["started_at"]),
                began_in_shadow=bool(d.get("began_in_shadow", True)),
                outcome_cursor=saved.outcome_cursor,
                label_cursor=saved.label_cursor,
                version=saved.version,
                last_decision=d.get("last_decision"),
                noise=NoiseFloor.from_dict(d["noise"]) if d.get("noise") else NoiseFloor(),
                outage=OutageGate.from_dict(route.analysis.production_outage, d.get("outage", {})),
            )
        self.contexts[route.name] = ctx
        return ctx

    # --- the loop -------------------------------------------------------------------

    async def run(self) -> None:
        """Forever: look at each route when its interval has passed."""
        while True:
            await self.tick()
            routes = self.holder.current.routes
            interval = min((r.analysis.interval for r in routes), default=1.0)
            await asyncio.sleep(min(interval, 1.0))

    async def tick(self, force: bool = False) -> None:
        self.last_tick = self.clock()
        if not self.is_leader():
            self.contexts.clear()  # another judge acts; reload from the store if we lead again
            return
        try:
            # what others committed (an operator's action on another replica, a judge that
            # led before us): a context older than the store's is reloaded before deciding
            stored = {st.route: st for st in await self.store.read_rollout_states()}
        except Exception:
            log.exception("judge cannot read rollout states; will retry")
            return
        for route in self.holder.current.routes:
            now = self.clock()
            if not force and now < self._next.get(route.name, 0.0):
                continue
            self._next[route.name] = now + route.analysis.interval
            ctx = self.contexts.get(route.name)
            st = stored.get(route.name)
            same = ctx is not None and st is not None and st.rollout_id == ctx.rollout_id
            if same and st is not None and ctx is not None and st.version != ctx.version:
                self.contexts.pop(route.name, None)
            try:
                async with self._lock(route.name):
                    await self.look(route)
            except StaleStateError:
                log.warning("route %s: another judge committed first; reloading", route.name)
                self.contexts.pop(route.name, None)
            except Exception:
                self.errors += 1
                log.exception("judge failed on route %s; will retry", route.name)
                self.contexts.pop(route.name, None)

    async def look(self, route: RouteConfig) -> Decision | None:
        """Read what is new, update the tests, decide, commit. Returns the decision made."""
        ctx = await self.context(route)
        terminal = ctx.rollout.state in (State.PROMOTED, State.ROLLED_BACK, State.INCONCLUSIVE)
        read = 0 if terminal else await self._read(route, ctx)
        now = self.clock()
        decision = None
        ctx.outage = current_gate(ctx.outage, route)
        outage = None if terminal else ctx.outage.evaluate(now)
        if outage is not None:
            await switched(self, route, ctx, outage, now)
        if not terminal and ctx.rollout.state is not State.PAUSED and not ctx.outage.active:
            decision = decide(
                route,
                ctx.rollout,
                ctx.analysis,
                now=now,
                started_at=ctx.started_at,
                complete=self.complete(route.name),
                began_in_shadow=ctx.began_in_shadow,
            )
        if decision is not None and decision.event is Event.PASSED:
            held = next((r for h in self.holds if (r := h(route)) is not None), None)
            if held is not None:
                ctx.pending_event = held
                decision = None
        if decision is not None and decision.event is Event.PASSED and self.confirm is not None:
            final = ctx.rollout.state is State.CANARY or not route.canary.steps
            if (
                final
                and route.confirm_promotion is not None
                and route.analysis.on_success != "await_approval"
            ) and not await self.confirm(route, ctx):
                ctx.pending_event = "promotion not confirmed by the confirm_promotion hook"
                decision = None
        if decision is None:
            if (read or ctx.version == 0) and outage is None:
                await self._commit(route, ctx, now, [])
        else:
            await self._apply(route, ctx, decision, now, actor="judge")
        for hook in self.on_look:
            hook(route, ctx)
        return decision

    async def _read(self, route: RouteConfig, ctx: RouteContext) -> int:
        total = 0
        async for rows in pages(
            self.store.read_outcomes,
            route.name,
            ctx.outcome_cursor,
            page=PAGE,
            rollout_id=ctx.rollout_id,
            fields=evidence.outcome_fields(route),
            max_pages=MAX_PAGES,
        ):
            ctx.outcome_cursor = rows[-1].id
            total += len(rows)
            # in chunks, yielding in between: a page of thousands of outcomes is
            # milliseconds of Python that would otherwise stall every client request
            for i in range(0, len(rows), CHUNK):
                chunk = rows[i : i + CHUNK]
                outage = ctx.outage.observe(*evidence.production_health(chunk))
                classes = evidence.wants_classes(route)
                ctx.analysis.add_pairs(evidence.pairs_from(chunk, outage, classes))
                ctx.noise.update(o.record for o in chunk)
                ctx.analysis.add_canary(evidence.canary_from(chunk))
                await asyncio.sleep(0)
        async for labeled in pages(
            self.store.read_labeled,
            route.name,
            ctx.label_cursor,
            page=PAGE,
            rollout_id=ctx.rollout_id,
            fields=evidence.LABEL_FIELDS,
            max_pages=MAX_PAGES,
        ):
            ctx.label_cursor = labeled[-1].seq
            total += len(labeled)
            for i in range(0, len(labeled), CHUNK):
                part = labeled[i : i + CHUNK]
                ctx.analysis.add_labels(evidence.labels_from(route, part))
                ctx.analysis.add_canary_labels(evidence.canary_labels_from(route, part))
                await asyncio.sleep(0)
        return total

    async def _apply(
        self, route: RouteConfig, ctx: RouteContext, decision: Decision, now: float, actor: str
    ) -> None:
        before = ctx.rollout
        after = transition(
            before,
            decision.event,
            n_steps=len(route.canary.steps),
            await_approval=route.analysis.on_success == "await_approval",
            now=now,
            reason=decision.reason,
        )
        ctx.rollout = after
        if after.state is State.CANARY and (before.state, before.step) != (
            State.CANARY,
            after.step,
        ):
            w = routing_for(
                after, mode=route.mode, weight=route.canary.weight, steps=route.canary.steps
            ).weight
            ctx.analysis.set_canary_weight(w)
        ctx.pending_event = None
        r = decision.result
        ctx.last_decision = {
            "time": now,
            "event": decision.event.value,
            "from": before.state.value,
            "to": after.state.value,
            "step": after.step,
            "reason": decision.reason,
            "check": r.check if r else None,
            "actor": actor,
        }
        audit = AuditRecord(
            time=now,
            route=route.name,
            rollout_id=ctx.rollout_id,
            decision=f"{decision.event.value}:{after.state.value}",
            check=r.check if r else None,
            p_value=r.p_value if r else None,
            estimate=r.estimate if r else None,
            ci_lower=r.ci_lower if r else None,
            ci_upper=r.ci_upper if r else None,
            n=r.n if r else ctx.analysis.pairs + sum(ctx.analysis.canary),
            config_digest=self.holder.current.digest(),
            reason=decision.reason,
            actor=actor,
        )
        await self._commit(route, ctx, now, [audit])
        log.info(
            "route %s: %s → %s (%s)",
            route.name,
            before.state.value,
            after.state.value,
            decision.reason,
        )
        for listener in self.listeners:
            res = listener(route.name, ctx, decision, before.state.value)
            if res is not None:
                await res

    async def _commit(
        self, route: RouteConfig, ctx: RouteContext, now: float, audit: list[AuditRecord]
    ) -> None:
        ctx.version = await self.store.commit_decision(
            route.name, ctx.rollout_id, ctx.to_state(route, now), audit
        )

    # --- operators ------------------------------------------------------------------

    async def act(self, route_name: str, action: str, actor: str = "operator") -> RouteContext:
        """Apply an operator's promote/rollback/approve/pause/resume; audited like decisions."""
        route = self.holder.current.route(route_name)
        if route is None:
            raise KeyError(route_name)
        event = Event(action)
        if event not in (Event.PROMOTE, Event.ROLLBACK, Event.APPROVE, Event.PAUSE, Event.RESUME):
            raise TransitionError(f"unknown action {action!r}")
        for attempt in range(3):
            async with self._lock(route_name):
                # always act on the newest committed state (another replica may lead)
                self.contexts.pop(route_name, None)
                ctx = await self.context(route)
                why = f"{action} by {actor}"
                if event is Event.RESUME and ctx.rollout.paused_from is State.CANARY:
                    why += "; " + ctx.analysis.restart_split()  # new evidence for the split
                try:
                    await self._apply(route, ctx, Decision(event, why), self.clock(), actor)
                    return ctx
                except StaleStateError:
                    self.contexts.pop(route_name, None)
                    if attempt == 2:
                        raise
        raise AssertionError("unreachable")

    def status(self, route: RouteConfig) -> dict[str, Any]:
        """Per-route decision status for /api/status (empty before the first look)."""
        ctx = self.contexts.get(route.name)
        if ctx is None:
            return {}
        phase = "canary" if ctx.rollout.state is State.CANARY else "shadow"
        results = ctx.results()
        detail = ctx.detail(route)
        return {
            "rollout_id": ctx.rollout_id,
            "state": ctx.rollout.state.value,
            "step": ctx.rollout.step if ctx.rollout.state is State.CANARY else None,
            "phase": phase,
            "effective": {k: detail[k] for k in ("mode", "weight", "mirror")},
            "samples": {
                "pairs": ctx.analysis.pairs,
                "labels": ctx.analysis.labels,
                "canary_production": ctx.analysis.canary[0],
                "canary_candidate": ctx.analysis.canary[1],
                "canary_labels": ctx.analysis.canary_labels,
            },
            "checks": [r.to_dict() for r in results],
            "srm_p_value": ctx.analysis.srm_p_value(),
            "noise_floor": ctx.noise.to_dict() if ctx.noise.pairs else None,
            **ctx.outage.status(),
            "last_decision": ctx.last_decision,
            "pending": ctx.pending_event,
            "started_at": ctx.started_at,
        }
