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
from dataclasses import replace
from typing import Any

from shadowgate.compare.kind_tally import KindTally
from shadowgate.compare.noise import NoiseFloor
from shadowgate.config.model import RouteConfig
from shadowgate.config.reload import ConfigHolder
from shadowgate.judge import baking, evidence
from shadowgate.judge.context import RouteContext
from shadowgate.judge.labels import RejectedHook, fitting
from shadowgate.judge.notes import kind_audit, kind_reason, note_audit
from shadowgate.judge.outage import OutageHook, current_gate, switched
from shadowgate.judge.records import transition_records
from shadowgate.judge.rollouts import current_rollout_id, restart_record, restart_rollout
from shadowgate.judge.walk import chunks
from shadowgate.rollout.analysis import RouteAnalysis
from shadowgate.rollout.machine import (
    Event,
    RolloutState,
    State,
    TransitionError,
    from_detail,
    initial_state,
    is_final,
    routing_of,
    transition,
)
from shadowgate.rollout.outage import OutageGate
from shadowgate.rollout.policy import Decision, decide
from shadowgate.rollout.steering import Steering, steer
from shadowgate.store.base import Store
from shadowgate.store.rows import AuditRecord, LabeledOutcome, StaleStateError, StoredOutcome

log = logging.getLogger("shadowgate.judge")

#: seconds either side of a change of the split whose canary outcomes are kept out of the
#: sample-ratio check: served while replicas switched, they belong to neither split
SETTLE = 2.0


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
        self.on_labels_rejected: list[RejectedHook] = []
        #: reasons to hold a passing rollout (e.g. inputs drifting): a non-None reason wins
        self.holds: list[Callable[[RouteConfig], str | None]] = []
        #: what to say while baking without holding (e.g. a drift alarm under ``alert``)
        self.notices: list[Callable[[RouteConfig], str | None]] = []
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
        rollout_id = await current_rollout_id(self.store, route, self.holder.current.digest(), now)
        ctx = self.contexts.get(route.name)
        if ctx is not None and ctx.rollout_id == rollout_id:
            if ctx.analysis.config != route.analysis:  # an edited check gets fresh tests
                ctx.analysis.reconfigure(route.analysis)
            return ctx
        saved = await self.store.load_judge_state(route.name, rollout_id)
        if saved is None:
            rollout = initial_state(route.mode, route.canary.steps, now)
            w = routing_of(rollout, route).weight
            ctx = RouteContext(
                route.name,
                rollout_id,
                rollout,
                RouteAnalysis(route.analysis, canary_weight=w if route.mode == "canary" else 0),
                started_at=now,
                began_in_shadow=route.mode == "shadow",
                outage=OutageGate(route.analysis.production_outage),
                steering=Steering.of(route),
            )
        else:
            d = saved.data
            # the rollout state is stored once, with the split it implies; states committed
            # before that kept it in ``data``
            detail = saved.detail if "rollout" in saved.detail else {"rollout": d["rollout"]}
            rollout, committed = from_detail(detail, route, rollout_id)
            ctx = RouteContext(
                route.name,
                rollout_id,
                rollout,
                RouteAnalysis.from_dict(route.analysis, d["analysis"]),
                started_at=float(d["started_at"]),
                began_in_shadow=bool(d.get("began_in_shadow", True)),
                outcome_cursor=saved.outcome_cursor,
                label_cursor=saved.label_cursor,
                version=saved.version,
                last_decision=d.get("last_decision"),
                noise=NoiseFloor.from_dict(d["noise"]) if d.get("noise") else NoiseFloor(),
                kinds=KindTally.from_dict(d.get("kinds") or {}),
                labels_rejected={k: int(v) for k, v in (d.get("labels_rejected") or {}).items()},
                outage=OutageGate.from_dict(route.analysis.production_outage, d.get("outage", {})),
                committed=committed,
                steering=Steering.from_dict(d["steering"], route) if d.get("steering") else None,
                settle=(float(d["settle"][0]), float(d["settle"][1])) if d.get("settle") else None,
                bake=RouteAnalysis.from_dict(route.analysis, d["bake"]) if d.get("bake") else None,
                bake_stopped=float(d.get("bake_stopped") or 0.0),
                bake_note=d.get("bake_note"),
                bake_since=float(d["bake_since"]) if d.get("bake_since") is not None else None,
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
            if route.candidate is None:
                continue  # a steady state: production alone, no rollout to judge
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
        terminal = is_final(ctx.rollout.state)
        read = 0 if terminal else await self._read(route, ctx)
        now = self.clock()
        steering = Steering.of(route)
        edits = (ctx.steering or steering).changes(steering)
        if edits and not terminal:  # a file edit is an operator action, applied and audited
            after = steer(
                ctx.rollout,
                ctx.steering or steering,
                steering,
                steps=route.canary.steps,
                now=now,
                reason="file edit: " + ", ".join(edits),
            )
            if ctx.baking and after.state is not State.BAKING:  # a promotion pulled back
                after = replace(after, reason=f"{after.reason}; {baking.pulled_back(ctx)}")
            edit = Decision(Event.EDIT, after.reason)
            ctx.steering = steering
            await self._apply(route, ctx, edit, now, actor="config", after=after)
        decision = None
        ctx.outage = current_gate(ctx.outage, route)
        began = ctx.outage.since
        outage = None if terminal else ctx.outage.evaluate(now)
        if outage is not None:
            baking.outage_switched(ctx, outage, began, now)
            await switched(self, route, ctx, outage, now)
        if ctx.outage.active:
            pass  # production (the reference) is failing: nothing is decided meanwhile
        elif ctx.baking:  # the promotion was held and confirmed before the bake began
            decision = await baking.decide(self, route, ctx, now)
        elif not terminal and ctx.rollout.state is not State.PAUSED:
            decision = decide(
                route,
                ctx.rollout,
                ctx.analysis,
                now=now,
                started_at=ctx.started_at,
                complete=self.complete(route.name),
                began_in_shadow=ctx.began_in_shadow,
            )
        if decision is not None and decision.event is Event.PASSED and not ctx.baking:
            held = next((r for h in self.holds if (r := h(route)) is not None), None)
            if held is not None:
                ctx.pending_event = held
                decision = None
        if decision and decision.event is Event.PASSED and self.confirm and not ctx.baking:
            final = ctx.rollout.state is State.CANARY or not route.canary.steps
            if (
                final
                and route.confirm_promotion is not None
                and route.analysis.on_success != "await_approval"
            ) and not await self.confirm(route, ctx):
                ctx.pending_event = "promotion not confirmed by the confirm_promotion hook"
                decision = None
        if decision is None:
            # new evidence, a first commit, or a split the file changed (e.g. canary.weight)
            changed = ctx.committed != ctx.routing(route)
            if (read or ctx.version == 0 or changed) and outage is None:
                await self._commit(route, ctx, now, [])
        else:
            await self._apply(route, ctx, kind_reason(decision, route, ctx), now, actor="judge")
        for hook in self.on_look:
            hook(route, ctx)
        return decision

    async def _read(self, route: RouteConfig, ctx: RouteContext) -> int:
        total = 0

        def outcomes_seen(rows: list[StoredOutcome]) -> None:
            ctx.outcome_cursor = rows[-1].id

        def labels_seen(rows: list[LabeledOutcome]) -> None:
            ctx.label_cursor = rows[-1].seq

        fields = evidence.outcome_fields(route)
        read = self.store.read_outcomes
        async for chunk in chunks(
            read, route.name, ctx.outcome_cursor, ctx.rollout_id, fields, outcomes_seen
        ):
            total += len(chunk)
            outage = ctx.outage.observe(*evidence.production_health(chunk))
            classes = evidence.wants_classes(route)
            for tests, rows in ctx.pair_targets(chunk):
                if rows:
                    tests.add_pairs(evidence.pairs_from(rows, outage, classes))
            ctx.noise.update(o.record for o in chunk)
            ctx.kinds.update(o.record for o in chunk)
            ctx.analysis.add_canary(evidence.canary_from(chunk, ctx.settle))
        async for part in chunks(
            self.store.read_labeled,
            route.name,
            ctx.label_cursor,
            ctx.rollout_id,
            evidence.LABEL_FIELDS,
            labels_seen,
        ):
            total += len(part)
            part = await fitting(self.store, route, ctx, part, self.on_labels_rejected)
            for tests, subset in ctx.label_targets(part):
                tests.add_labels(evidence.labels_from(route, subset))
            ctx.analysis.add_canary_labels(evidence.canary_labels_from(route, part))
        return total + ctx.release_labels(self.clock())  # analysis.label_window

    async def _apply(
        self,
        route: RouteConfig,
        ctx: RouteContext,
        decision: Decision,
        now: float,
        actor: str,
        after: RolloutState | None = None,
    ) -> None:
        before = ctx.rollout
        if after is None:
            after = transition(
                before,
                decision.event,
                n_steps=len(route.canary.steps),
                await_approval=route.analysis.on_success == "await_approval",
                now=now,
                reason=decision.reason,
                bake=route.after_promotion is not None,
            )
        ctx.rollout = after
        if after.state is State.BAKING and before.state is not State.BAKING:
            baking.entered(ctx, route)  # the bake's own tests, own α
        was, now_in = before.paused_from or before.state, after.paused_from or after.state
        if decision.event is Event.EDIT and now_in is State.SHADOW and was is not State.SHADOW:
            ctx.analysis.restart_stage()  # back to shadow: it passes on new pairs only
        split = routing_of(after, route)
        moved = (before.state, before.step) != (State.CANARY, after.step)
        canary = split.mode == "canary" and not split.final and not split.reverse
        if canary and (
            (after.state is State.CANARY and moved) or split.weight != ctx.analysis.srm_weight
        ):
            # a new split (a step, an edit, an operator's action, also while paused): the
            # sample-ratio check follows the new shares from now on
            ctx.analysis.set_canary_weight(split.weight)
            ctx.settle = (now - SETTLE, now + SETTLE)
        ctx.pending_event = None
        ctx.last_decision, audit = transition_records(
            now=now,
            route=route.name,
            rollout_id=ctx.rollout_id,
            event=decision.event,
            before=before.state,
            after=after,
            reason=decision.reason,
            actor=actor,
            digest=self.holder.current.digest(),
            result=decision.result,
            n=ctx.analysis.pairs + sum(ctx.analysis.canary),
        )
        await self._commit(route, ctx, now, [audit])
        log.info(
            "route %s: %s → %s (%s)",
            route.name,
            before.state.value,
            after.state.value,
            decision.reason,
        )
        await self._tell(route.name, ctx, decision, before.state.value)

    async def _commit(
        self, route: RouteConfig, ctx: RouteContext, now: float, audit: list[AuditRecord]
    ) -> None:
        digest = self.holder.current.digest()  # and what an edited config restarted:
        audit = [note_audit(route, ctx, n, now, digest) for n in ctx.analysis.take_notes()] + audit
        audit = kind_audit(route, ctx, now, digest) + audit  # before a decision it explains
        state = ctx.to_state(route, now)
        ctx.version = await self.store.commit_decision(route.name, ctx.rollout_id, state, audit)
        ctx.committed = ctx.routing(route)

    # --- operators ------------------------------------------------------------------

    async def act(self, route_name: str, action: str, actor: str = "operator") -> RouteContext:
        """Apply an operator's promote/rollback/approve/pause/resume; audited like decisions."""
        route = self._rollout_route(route_name)
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

    async def restart(self, route_name: str, actor: str = "operator") -> RouteContext:
        """Start a new rollout of the same candidate, in the file's mode; audited there."""
        route = self._rollout_route(route_name)
        async with self._lock(route_name):
            self.contexts.pop(route_name, None)
            old = await self.context(route)
            now = self.clock()
            await restart_rollout(self.store, route, self.holder.current.digest(), now)
            ctx = await self.context(route)
            reason, ctx.last_decision, audit = restart_record(
                old, ctx, actor, now, self.holder.current.digest()
            )
            await self._commit(route, ctx, now, [audit])
        log.info("route %s: %s", route.name, reason)
        await self._tell(route.name, ctx, Decision(Event.RESTART, reason), old.rollout.state.value)
        return ctx

    def _rollout_route(self, name: str) -> RouteConfig:
        route = self.holder.current.route(name)
        if route is None:
            raise KeyError(name)
        if route.candidate is None:
            raise TransitionError(
                f"route {name!r} has no candidate: production serves alone and there is no "
                "rollout to act on; add a candidate to the file to start one"
            )
        return route

    async def _tell(self, route: str, ctx: RouteContext, d: Decision, before: str) -> None:
        for listener in self.listeners:
            res = listener(route, ctx, d, before)
            if res is not None:
                await res

    def status(self, route: RouteConfig) -> dict[str, Any]:
        """Per-route decision status for /api/status (empty before the first look)."""
        ctx = self.contexts.get(route.name)
        return {} if ctx is None else ctx.status(route)
