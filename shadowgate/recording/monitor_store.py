"""Drift monitors kept in the store, so that a restarted process resumes them.

Every ``drift.save_interval`` (10 s by default) each route's monitors that saw new rows
are saved (``Store.save_monitor``: one row per route and process, replaced each time; at
the realistic 31 features about 30 KB of JSON, 1.5 ms of CPU), and once more on a graceful
stop. At start the process reads its own snapshots back; a route's monitors resume from
one when they start with the same digest (drift config, features and their kinds,
reference file), else they start over. A process is its host name and ``--workers``
index: each worker watches its own share of the traffic, as before a restart.

What a restart then loses: the rows recorded since the last save (they are simply not
watched, which keeps the guarantee: which rows are watched does not depend on their
values) and a reference still being collected (``reference: N`` collects it again). A
failing store costs only the snapshot: it is logged, and monitoring goes on.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import time
from collections.abc import Callable
from typing import Any

from shadowgate.config.inputs import DriftConfig
from shadowgate.errors import StoreError
from shadowgate.recording.input_files import monitor_digest
from shadowgate.recording.inputs_watch import InputWatch
from shadowgate.store.base import Store
from shadowgate.store.rows import MonitorSnapshot

log = logging.getLogger(__name__)

#: how often the saver looks for monitors due to be saved (s)
TICK = 0.5


def process_owner(worker: int | None = None) -> str:
    """This process's name in the snapshots: host name and ``--workers`` index."""
    return f"{socket.gethostname()}/{worker if worker is not None else 0}"


class MonitorSaver:
    """Saves an :class:`InputWatch`'s monitors and offers them back after a restart."""

    def __init__(
        self,
        watch: InputWatch,
        store: Store,
        owner: str,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.watch, self.store, self.owner, self.clock = watch, store, owner, clock
        self._failing = False

    async def restore(self) -> None:
        """Offer each route its monitors' last snapshot (at start, once the store is open)."""
        for route, state in list(self.watch.routes.items()):
            d = state.config.drift
            if d is None or d.save_interval <= 0:
                continue
            try:
                snap = await self.store.load_monitor(route, self.owner)
            except StoreError as e:
                log.warning(
                    "route %s: saved drift monitors unreadable, starting over: %s", route, e
                )
                continue
            if snap is not None:
                self.watch.offer(route, snap.digest, snap.state, snap.saved_at)

    async def save(self, force: bool = False) -> int:
        """Save the monitors that are due (all that changed with ``force``); how many."""
        now = self.clock()
        done = 0
        for route, digest, state in self.watch.snapshots(now, force):
            try:
                await self.store.save_monitor(
                    route, self.owner, MonitorSnapshot(digest, state, now)
                )
            except StoreError as e:
                if not self._failing:
                    log.warning("drift monitors not saved (will retry): %s", e)
                self._failing = True
                return done
            self._failing = False
            self.watch.saved(route, now, state)
            done += 1
        return done

    async def run(self) -> None:
        """Save what is due every ``TICK`` seconds, until cancelled."""
        while True:
            await asyncio.sleep(TICK)
            try:
                await self.save()
            except Exception:  # a bug here must not end monitoring or the process
                log.exception("saving drift monitors failed")


class StoredAlarms:
    """The drift alarms of every process, as their saved monitors say, for a judge that does
    not see the traffic itself (``serve --judge-process``) or sees only its own worker's
    share of it (``--workers N``).

    Every ``poll`` seconds the snapshots of each route with drift monitors are read back
    (``Store.load_route_monitors``); a feature is in alarm when any process's monitor,
    made for the route's current drift config, has it in alarm. An alarm reaches the judge
    within the workers' ``drift.save_interval`` plus ``poll``. A failing store keeps the
    alarms last read.
    """

    def __init__(self, watch: InputWatch, store: Store, poll: float = 1.0) -> None:
        self.watch, self.store, self.poll = watch, store, poll
        self._alarmed: dict[str, list[str]] = {}
        self._digests: dict[tuple[int, tuple[tuple[str, str], ...]], str] = {}

    def alarmed(self, route: str) -> list[str]:
        """The features in alarm on ``route`` in any process, as last read."""
        return self._alarmed.get(route, [])

    async def refresh(self) -> None:
        for route, state in list(self.watch.routes.items()):
            if state.config.drift is None or state.config.drift.save_interval <= 0:
                self._alarmed.pop(route, None)
                continue
            try:
                snaps = await self.store.load_route_monitors(route)
            except StoreError as e:
                log.debug("route %s: drift snapshots unreadable: %s", route, e)
                continue
            names: list[str] = []
            for snap in snaps:
                if snap.digest != self._digest(state.config.drift, snap.state):
                    continue  # another config's monitors: not evidence about this one
                names += [n for n in alarmed_features(snap.state) if n not in names]
            self._alarmed[route] = names

    def _digest(self, d: DriftConfig, state: dict[str, Any]) -> str:
        """The digest monitors with the snapshot's features would have under ``d``."""
        features = _features(state)
        key = (id(d), tuple(features.items()))
        if key not in self._digests:
            self._digests[key] = monitor_digest(d, features)
        return self._digests[key]

    async def run(self) -> None:
        while True:
            try:
                await self.refresh()
            except Exception:  # a bug here must not end the judge's process
                log.exception("reading the saved drift alarms failed")
            await asyncio.sleep(self.poll)


def alarmed_features(state: dict[str, Any]) -> list[str]:
    """The features in alarm in a ``DriftMonitor.to_dict()`` state, without rebuilding it."""
    process = state.get("process")
    if not process:
        return []
    names = list(_features(state))
    rows = process.get("alarm_row") or ()
    return [names[j] for j, row in enumerate(rows) if row >= 0 and j < len(names)]


def _features(state: dict[str, Any]) -> dict[str, str]:
    features = state.get("features") or ()
    if isinstance(features, dict):
        return {str(n): str(k) for n, k in features.items()}
    return {str(n): str(k) for n, k in features}
