"""The routing board: the ``Routing`` published for each route, read by the data plane.

The judge computes a route's split with ``rollout.machine.routing_for`` and commits it
with the rollout state; every replica's state sync publishes it here, and the data plane
applies it unchanged from the next request. A route nothing was published for yet (a
gateway without a store, or before the first sync) gets the split of a new rollout in
the config's mode, from the same function. Publications are keyed by route name and
survive config reloads.

Example::

    board = RoutingBoard()
    board.publish("cancer", Routing("canary", 25.0, rollout_id="r-42"))
    board.publish("cancer", Routing("canary", 0.0, rollout_id="r-42", final=True))  # rollback
    board.withdraw(route_config)        # back to a new rollout's split in the file's mode
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from shadowgate.config.model import RouteConfig
from shadowgate.model.routing import Routing
from shadowgate.rollout.machine import initial_routing

log = logging.getLogger("shadowgate.proxy")

Listener = Callable[[str, Routing], None]


class RoutingBoard:
    """The published ``Routing`` of each route; listeners hear of every change."""

    def __init__(self) -> None:
        self._routes: dict[str, Routing] = {}
        self._listeners: list[Listener] = []

    def get(self, route: str) -> Routing | None:
        """What was published for the route, None when nothing was."""
        return self._routes.get(route)

    def routing(self, route: RouteConfig) -> Routing:
        """The split in force for a route: the published one, else a new rollout's."""
        r = self._routes.get(route.name)
        return r if r is not None else initial_routing(route)

    def publish(self, route: str, routing: Routing) -> None:
        """Put ``routing`` in force for ``route`` (listeners hear of it when it changed)."""
        if self._routes.get(route) == routing:
            return
        self._routes[route] = routing
        self._notify(route, routing)

    def withdraw(self, config: RouteConfig) -> None:
        """Forget the route's publication (a new rollout's split applies again)."""
        if self._routes.pop(config.name, None) is not None:
            self._notify(config.name, initial_routing(config))

    def subscribe(self, listener: Listener) -> None:
        """Call ``listener(route, routing)`` after every change (e.g. to update gauges)."""
        self._listeners.append(listener)

    def items(self) -> list[tuple[str, Routing]]:
        return list(self._routes.items())

    def _notify(self, route: str, routing: Routing) -> None:
        for listener in self._listeners:
            try:
                listener(route, routing)
            except Exception:
                log.exception("routing listener failed")
