"""Publish, on every replica, the ``Routing`` the judge committed for each route.

Every replica runs one ``StateSync``: it registers each route's rollout, polls the store's
state version (and listens for pushes where the backend can), reads each route's
committed rollout state and split back with ``rollout.machine.from_detail``, and publishes
the split unchanged on the data plane's ``RoutingBoard``. A new state is applied within
``poll`` seconds (0.25 s by default; DESIGN asks ≤ 1 s). The recorder tags outcomes with
the rollout id of the published split.

Precedence: the config file says what the operator asked for (mode, weight, steps); the
rollout state says where this candidate's rollout stands, and the judge's commit carries
the split both imply (canary steps, 0 % after a rollback, 100 % after a promotion); the
file is never rewritten. Until the judge has committed for this replica's rollout (a new
candidate, or no judge yet), the split of a rollout just started in the file's mode
applies. Changing the candidate's url or version starts a new rollout.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import dataclass

from shadowgate.config.model import RouteConfig, ShadowgateConfig
from shadowgate.config.reload import ConfigHolder
from shadowgate.dataplane.runtime import RoutingBoard
from shadowgate.judge.rollouts import current_rollout_id
from shadowgate.model.routing import Routing
from shadowgate.rollout.machine import (
    RolloutState,
    State,
    from_detail,
    initial_routing,
    is_final,
)
from shadowgate.store.base import Store

log = logging.getLogger("shadowgate.sync")


@dataclass(frozen=True, slots=True)
class Committed:
    """A route's rollout as the judge last committed it."""

    rollout_id: str
    rollout: RolloutState
    routing: Routing
    version: int


class StateSync:
    def __init__(
        self, store: Store, holder: ConfigHolder, board: RoutingBoard, poll: float = 0.25
    ) -> None:
        self.store = store
        self.holder = holder
        self.board = board
        self.poll = poll
        self.version = -1
        self.states: dict[str, Committed] = {}
        self.rollout_ids: dict[str, str] = {}
        self._config_changed = asyncio.Event()
        self._pushed = asyncio.Event()
        self.applied_at = 0.0
        holder.subscribe(lambda old, new: self._config_changed.set())

    async def register_rollouts(self, cfg: ShadowgateConfig) -> None:
        now = time.time()
        for route in cfg.routes:
            if route.candidate is None:  # a steady state: no rollout
                self.rollout_ids.pop(route.name, None)
                continue
            rid = await current_rollout_id(self.store, route, cfg.digest(), now)
            self.rollout_ids[route.name] = rid

    async def refresh(self) -> None:
        """Read every route's committed state and publish the split it carries."""
        cfg = self.holder.current
        await self.register_rollouts(cfg)
        self.version = await self.store.state_version()
        self.states = {}
        for st in await self.store.read_rollout_states():
            route = cfg.route(st.route)
            if route is None or not st.detail:
                continue
            rollout, routing = from_detail(st.detail, route, st.rollout_id)
            self.states[st.route] = Committed(st.rollout_id, rollout, routing, st.version)
        for route in cfg.routes:
            self.apply(route)
        self.applied_at = time.time()

    def current(self, route_name: str) -> Committed | None:
        """The committed state of the route's current rollout (None before the first)."""
        c = self.states.get(route_name)
        rid = self.rollout_ids.get(route_name)
        if c is None or rid is None or c.rollout_id != rid:
            return None
        return c

    def apply(self, route: RouteConfig) -> None:
        """Publish the committed split, or a new rollout's until the judge commits one."""
        c = self.current(route.name)
        rid = self.rollout_ids.get(route.name, "")
        self.board.publish(route.name, c.routing if c is not None else initial_routing(route, rid))

    def settled(self, route_name: str) -> bool:
        """True when the route's current rollout has ended (promoted, rolled back, ...)."""
        c = self.current(route_name)
        return c is not None and is_final(c.rollout.state)

    def disagreement(self, route: RouteConfig) -> str | None:
        """Say when the file asks for something the rollout state overrides."""
        c = self.current(route.name)
        if c is None:
            return None
        state = c.rollout.state
        restart = (
            f"`shadowgate restart {route.name}` (POST /api/routes/{route.name}/restart) begins "
            "a new rollout of the same candidate in the file's mode"
        )
        asks = f"mode {route.mode}, canary.weight {route.canary.weight:g}%"
        if route.mode == "shadow":
            asks += f", mirror.percent {route.mirror.percent:g}%"
        cand = route.candidate
        if state is State.PROMOTED and cand is not None and route.production.url != cand.url:
            return (
                "the rollout promoted the candidate: it serves 100% and the file's edits no "
                f"longer steer it (the file asks for {asks}). Next, hand over in the file: set "
                f"production.url to {cand.url} and remove `candidate` (production alone, no new "
                f"rollout), or put the next model in `candidate`. Or: {restart}"
            )
        if state in (State.ROLLED_BACK, State.INCONCLUSIVE) and (
            (route.mode == "canary" and route.canary.weight > 0) or route.mode == "shadow"
        ):
            return (
                f"the rollout is {state.value}: production serves 100% and nothing is "
                f"mirrored, while the file asks for {asks}; edits are not applied to an "
                f"ended rollout. {restart}"
            )
        bake = route.after_promotion
        if state is State.BAKING and bake and c.routing.mirror_percent != bake.mirror_percent:
            return (
                f"while baking, {c.routing.mirror_percent:g}% of requests are mirrored to the "
                "former production, as a mirror.percent edit asked, not the file's "
                f"after_promotion.mirror_percent {bake.mirror_percent:g}%"
            )
        w = c.routing.weight
        if c.routing.mode == "canary" and route.canary.steps and w != route.canary.weight:
            return (
                f"canary weight {w:g}% comes from the rollout's step "
                f"{c.rollout.step + 1}/{len(route.canary.steps)}, not the file's "
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
