"""A request's time limits, and the clock the upstream client measures with."""

from __future__ import annotations

import time
from collections.abc import Callable

#: the clock of every upstream timestamp (``Response.t_sent`` …) and idle age, seconds.
#: ``perf_counter`` rather than ``loop.time()``: uvloop's loop time is cached once per loop
#: iteration at millisecond resolution, too coarse for a 3 ms answer, and it would stamp
#: two callbacks of the same iteration alike however far apart they ran
Clock = Callable[[], float]
clock: Clock = time.perf_counter


class Timeout:
    """A request's time limits (seconds): ``total`` for everything, ``connect`` for a new
    connection (within the total)."""

    __slots__ = ("connect", "total")

    def __init__(self, total: float, connect: float | None = None) -> None:
        self.total = total
        self.connect = total if connect is None else min(connect, total)

    def __repr__(self) -> str:
        return f"Timeout(total={self.total:g}, connect={self.connect:g})"
