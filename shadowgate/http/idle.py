"""Whether the data plane is answering clients right now: what background work waits for.

The recorder builds outcomes on the event loop (JSON parsing, comparison). Started while
a client request waits on its upstream, a slice of that work holds the loop and delays
the request's answer; started when no request is in flight, it delays only a request
that arrives during it. ``DataPlaneIdle`` counts requests in flight (two integer
operations per request) and wakes waiters when the count drops to zero.
"""

from __future__ import annotations

import asyncio


def _resolve(fut: asyncio.Future[None]) -> None:
    if not fut.done():
        fut.set_result(None)


class DataPlaneIdle:
    """``enter``/``leave`` around each client request; ``wait`` for none in flight."""

    __slots__ = ("_waiters", "busy")

    def __init__(self) -> None:
        #: client requests being handled right now
        self.busy = 0
        self._waiters: list[asyncio.Future[None]] = []

    def enter(self) -> None:
        self.busy += 1

    def leave(self) -> None:
        self.busy -= 1
        if self.busy == 0 and self._waiters:
            self.release()

    def release(self) -> None:
        """Wake every waiter now, idle or not (e.g. a backlog that must not wait)."""
        waiters, self._waiters = self._waiters, []
        for w in waiters:
            _resolve(w)

    async def wait(self, timeout: float) -> None:
        """Return once no client request is in flight, or after ``timeout`` seconds."""
        if self.busy == 0:
            return
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[None] = loop.create_future()
        self._waiters.append(fut)
        timer = loop.call_later(timeout, _resolve, fut)
        try:
            await fut
        finally:
            timer.cancel()
