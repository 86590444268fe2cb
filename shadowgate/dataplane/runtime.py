"""Runtime overrides of a route's traffic split, set by the rollout engine.

The config says what an operator asked for (``mode``, ``canary.weight``); the rollout
engine changes what is in force while it runs: it walks canary steps, sets the weight to 0
after a rollback and to 100 after a promotion, pauses mirroring. It does so through
``RuntimeState``, which the proxy consults on every request; a field left ``None`` means
"as configured". Overrides are keyed by route name and survive config reloads.

Example::

    state = RuntimeState()
    state.set("cancer", mode="canary", weight=25.0, rollout_id="r-42")
    state.set("cancer", weight=0.0)          # rollback: everyone back on production
    state.clear("cancer")                    # back to the config file's values
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from shadowgate.config.model import RouteConfig

log = logging.getLogger("shadowgate.proxy")

Mode = Literal["shadow", "canary"]
_UNSET: Any = object()


@dataclass(slots=True)
class RouteOverride:
    """What the proxy should do for one route now; ``None`` fields defer to the config.

    - ``mode``: ``"shadow"`` or ``"canary"``.
    - ``weight``: percent of traffic the candidate serves in canary mode, in [0, 100].
    - ``mirror``: False stops mirroring in shadow mode (e.g. while paused).
    - ``rollout_id``: the rollout the route's outcomes belong to ("" = none yet); the
      proxy passes it through for the recorder, it never interprets it.
    """

    mode: Mode | None = None
    weight: float | None = None
    mirror: bool | None = None
    rollout_id: str = ""

    def effective_mode(self, route: RouteConfig) -> Mode:
        return self.mode if self.mode is not None else route.mode

    def effective_weight(self, route: RouteConfig) -> float:
        return self.weight if self.weight is not None else route.canary.weight

    def mirror_enabled(self) -> bool:
        return self.mirror is not False

    def to_dict(self) -> dict[str, Any]:
        return {
            "mode": self.mode,
            "weight": self.weight,
            "mirror": self.mirror,
            "rollout_id": self.rollout_id,
        }


Listener = Callable[[str, RouteOverride], None]


class RuntimeState:
    """Per-route overrides. The proxy keeps a reference to each route's ``RouteOverride``
    and reads its fields per request, so ``set`` takes effect on the next request."""

    def __init__(self) -> None:
        self._routes: dict[str, RouteOverride] = {}
        self._listeners: list[Listener] = []

    def get(self, route: str) -> RouteOverride:
        """The route's override object (created empty on first use, then stable)."""
        o = self._routes.get(route)
        if o is None:
            o = self._routes[route] = RouteOverride()
        return o

    def set(
        self,
        route: str,
        *,
        mode: Mode | None = _UNSET,
        weight: float | None = _UNSET,
        mirror: bool | None = _UNSET,
        rollout_id: str = _UNSET,
    ) -> RouteOverride:
        """Change some fields (pass ``None`` to return a field to the config's value)."""
        o = self.get(route)
        if mode is not _UNSET:
            if mode not in (None, "shadow", "canary"):
                raise ValueError(f"mode must be shadow or canary, not {mode!r}")
            o.mode = mode
        if weight is not _UNSET:
            if weight is not None and not 0.0 <= float(weight) <= 100.0:
                raise ValueError(f"weight must be within [0, 100], not {weight!r}")
            o.weight = None if weight is None else float(weight)
        if mirror is not _UNSET:
            o.mirror = mirror
        if rollout_id is not _UNSET:
            o.rollout_id = rollout_id
        self._notify(route, o)
        return o

    def clear(self, route: str) -> None:
        """Drop every override of the route (keeps ``rollout_id``)."""
        o = self.get(route)
        o.mode = o.weight = o.mirror = None
        self._notify(route, o)

    def subscribe(self, listener: Listener) -> None:
        """Call ``listener(route, override)`` after every change (e.g. to update gauges)."""
        self._listeners.append(listener)

    def items(self) -> list[tuple[str, RouteOverride]]:
        return list(self._routes.items())

    def _notify(self, route: str, o: RouteOverride) -> None:
        for listener in self._listeners:
            try:
                listener(route, o)
            except Exception:
                log.exception("runtime state listener failed")
