"""Repeated warnings, rate-limited: the first line of a kind, then one line with a count.

An outage makes every request fail the same way; one warning line per request (hundreds a
second) buries everything else in the log. :class:`RateLimitedLog` writes the first
warning of a kind (same format and same first ``key_args`` arguments: route, variant,
error class) at once, holds back the others for ``period`` seconds, then writes the last
held-back one with "(and N more like it in the last 10 s)".

Example::

    failures = RateLimitedLog(logging.getLogger("shadowgate.proxy"), period=10.0)
    failures.warning("route %s: %s upstream failed (%s)", "m", "production", "connect")
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


@dataclass
class _Window:
    start: float
    suppressed: int = 0
    last: tuple[Any, ...] = ()
    timer: asyncio.TimerHandle | None = field(default=None, repr=False)


class RateLimitedLog:
    """A ``warning(msg, *args)`` that writes at most two lines per kind and period."""

    def __init__(
        self,
        logger: logging.Logger,
        period: float = 10.0,
        key_args: int = 3,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.logger = logger
        self.period = period
        self.key_args = key_args
        self.clock = clock
        self._windows: dict[tuple[Any, ...], _Window] = {}

    def warning(self, msg: str, *args: Any) -> None:
        key = (msg, *args[: self.key_args])
        now = self.clock()
        w = self._windows.get(key)
        if w is not None and now - w.start >= self.period:
            self._flush(key)  # no event loop ran the timer: report the count now
            w = None
        if w is None:
            self._windows[key] = _Window(now)
            self.logger.warning(msg, *args)
            return
        w.suppressed += 1
        w.last = args
        if w.timer is None:
            try:
                loop = asyncio.get_running_loop()
            except RuntimeError:
                return
            w.timer = loop.call_later(max(0.0, w.start + self.period - now), self._flush, key)

    def _flush(self, key: tuple[Any, ...]) -> None:
        w = self._windows.pop(key, None)
        if w is None:
            return
        if w.timer is not None:
            w.timer.cancel()
        if w.suppressed:
            msg = f"{key[0]} (and %d more like it in the last %g s)"
            self.logger.warning(msg, *w.last, w.suppressed, self.period)

    def flush(self) -> None:
        """Write every pending count now (e.g. at shutdown)."""
        for key in list(self._windows):
            self._flush(key)
