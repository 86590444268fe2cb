"""Keep a data plane's traffic split in step with the rollout state in the store.

Every replica runs one ``StateSync``: it registers each route's rollout (so outcomes are
tagged with the right rollout id), polls the store's state version (and listens for
pushes where the backend can), and turns each route's rollout state into the proxy's
runtime overrides with ``rollout.machine.routing_for``. A new state is applied within
``poll`` seconds (0.25 s by default; DESIGN asks ≤ 1 s).

Precedence: the config file says what the operator asked for (mode, weight, steps); the
rollout state says where this candidate's rollout stands. While a rollout is active the
state wins for the traffic split (canary steps, 0 % after a rollback, 100 % after a
promotion); the file is never rewritten. Changing the candidate's url or version starts a
new rollout, which starts again from the file's mode.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import Any

from shadowgate.config.model import RouteConfig, ShadowgateConfig
from shadowgate.config.reload import ConfigHolder
from shadowgate.dataplane.runtime import RuntimeState
from shadowgate.rollout.machine import RolloutState, State, initial_state, routing_for
from shadowgate.store.base import Store

log = logging.getLogger("shadowgate.sync")


class StateSync:
    def __init__(
        self, store: Store, holder: ConfigHolder, runtime: RuntimeState, poll: float = 0.25
    ) -> None:
        self.store = store
        self.holder = holder
        self.runtime = runtime
        self.poll = poll
        self.version = -1
        self.states: dict[str, dict[str, Any]] = {}  # route → {rollout_id, state, detail}
        self.rollout_ids: dict[str, str] = {}
        self._config_changed = asyncio.Event()
        self._pushed = asyncio.Event()
        self.applied_at = 0.0
        holder.subscribe(lambda old, new: self._config_changed.set())

    async def register_rollouts(self, cfg: ShadowgateConfig) -> None:
        now = time.time()
        for route in cfg.routes:
            rid = await self.store.start_rollout(
                route.name, route.candidate_identity, cfg.digest(), now
            )
            self.rollout_ids[route.name] = rid

    async def refresh(self) -> None:
        """Read every route's state and apply the split it implies."""
        cfg = self.holder.current
        await self.register_rollouts(cfg)
        self.version = await self.store.state_version()
        self.states = {}
        for st in await self.store.read_rollout_states():
            self.states[st.route] = {
                "rollout_id": st.rollout_id,
                "state": st.state,
                "detail": st.detail,
                "version": st.version,
            }
        for route in cfg.routes:
            self.apply(route)
        self.applied_at = time.time()

    def rollout_state(self, route: RouteConfig) -> RolloutState:
        rid = self.rollout_ids.get(route.name, "")
        st = self.states.get(route.name)
        if st is None or st["rollout_id"] != rid:
            return initial_state(route.mode, route.canary.steps, 0.0)
        detail = st["detail"] or {}
        state = State(st["state"])
        step = int(detail.get("step", 0))
        if state is State.PAUSED:
            prev = detail.get("paused_from")
            return RolloutState(
                state,
                step,
                State(prev) if prev else None,
                int(detail.get("paused_step", step)),
            )
        return RolloutState(state, step)

    def apply(self, route: RouteConfig) -> None:
        """Derive the split from the rollout state and this replica's config (one rule,
        ``routing_for``, on every replica); a canary without steps follows the file's
        weight live, so an edit applies from the next request."""
        st = self.rollout_state(route)
        r = routing_for(st, mode=route.mode, weight=route.canary.weight, steps=route.canary.steps)
        live = st.paused_from if st.state is State.PAUSED else st.state
        follow_file = live is State.CANARY and not route.canary.steps
        self.runtime.set(
            route.name,
            mode=r.mode,
            weight=None if follow_file else r.weight,
            mirror=r.mirror,
            rollout_id=self.rollout_ids.get(route.name, ""),
        )

    def settled(self, route_name: str) -> bool:
        """True when the route's current rollout has ended (promoted, rolled back, ...)."""
        st = self.states.get(route_name)
        if st is None or st["rollout_id"] != self.rollout_ids.get(route_name):
            return False
        return st["state"] in ("promoted", "rolled_back", "inconclusive")

    def disagreement(self, route: RouteConfig) -> str | None:
        """Say when the file asks for something the rollout state overrides."""
        st = self.states.get(route.name)
        if st is None or st["rollout_id"] != self.rollout_ids.get(route.name):
            return None
        state = st["state"]
        d = st["detail"] or {}
        if state == "promoted" and route.canary.weight < 100:
            return (
                "the rollout promoted the candidate (it serves 100%); the file still says "
                f"mode {route.mode}, weight {route.canary.weight:g}. Point production.url at the "
                "candidate (or change candidate.version) to start the next rollout"
            )
        if state in ("rolled_back", "inconclusive") and (
            (route.mode == "canary" and route.canary.weight > 0) or route.mode == "shadow"
        ):
            return (
                f"the rollout is {state}: production serves everything and nothing is "
                f"mirrored, whatever the file's mode ({route.mode}) and weight say. Change "
                "candidate.url or candidate.version to start a new rollout"
            )
        w = d.get("weight")
        if w is not None and route.canary.steps and float(w) != route.canary.weight:
            return (
                f"canary weight {float(w):g}% comes from the rollout's step "
                f"{int(d.get('step', 0)) + 1}/{len(route.canary.steps)}, not the file's "
                f"{route.canary.weight:g}%"
            )
        return None

    async def run(self) -> None:
        """Poll forever; apply on a new state version or a config change."""
        with contextlib.suppress(Exception):
            await self.store.listen_states(lambda v: self._pushed.set())
        while True:
            try:
                changed = self._config_changed.is_set() or self._pushed.is_set()
                self._config_changed.clear()
                self._pushed.clear()
                if changed or await self.store.state_version() != self.version:
                    await self.refresh()
            except Exception:
                log.exception("state sync failed; keeping the current split")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake(), self.poll)

    async def _wake(self) -> None:
        t1 = asyncio.create_task(self._config_changed.wait())
        t2 = asyncio.create_task(self._pushed.wait())
        try:
            await asyncio.wait({t1, t2}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            t1.cancel()
            t2.cancel()
