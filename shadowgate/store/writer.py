"""The batch writer: the data plane's only way to record outcomes, and it never blocks.

``put`` appends to a bounded in-memory buffer and returns at once; one background task
takes up to ``batch_size`` records (or whatever arrived within ``flush_interval``) and
writes them in one ``insert_outcomes`` call. Every offered record ends in exactly one of
three places, which is what makes ``offered == written + dropped + pending`` hold:

- written: the store committed it;
- dropped, counted per ``(route, reason)`` and reported to ``on_drop``:
  ``queue_full`` (buffer at its bound while the store keeps up), ``store_error`` (buffer
  at its bound because the store is failing, or a batch still failing after
  ``max_attempts`` retries), ``shutdown`` (offered after ``close`` or still buffered when
  the close deadline passed);
- pending: still buffered (retried with exponential backoff while the store is down).

A route with drops not yet acknowledged, or with records stuck behind a failing store, is
``incomplete``: the judge must not decide on it until it has looked at why.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
from collections import Counter, deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from shadowgate.model.outcome import OutcomeRecord
from shadowgate.store.base import Store

log = logging.getLogger(__name__)

#: ``on_drop(route, reason, count)``, e.g. to increment shadowgate_outcomes_dropped_total
DropCallback = Callable[[str, str, int], None]


@dataclass(slots=True)
class WriterStats:
    """A snapshot of the writer's counters."""

    offered: int
    accepted: int
    written: int
    pending: int
    dropped: dict[tuple[str, str], int] = field(default_factory=dict)
    healthy: bool = True
    last_error: str | None = None

    @property
    def dropped_total(self) -> int:
        return sum(self.dropped.values())


class BatchWriter:
    """A bounded, batching, retrying writer in front of a ``Store`` (see the module doc).

    Use inside a running event loop::

        writer = BatchWriter(store, queue_size=100_000, on_drop=metric_callback)
        writer.start()
        writer.put(records)        # returns how many were accepted; never blocks
        await writer.close()       # drains what is buffered (SIGTERM)
    """

    def __init__(
        self,
        store: Store,
        *,
        queue_size: int = 100_000,
        batch_size: int = 500,
        flush_interval: float = 0.2,
        on_drop: DropCallback | None = None,
        retry_initial: float = 0.05,
        retry_max: float = 5.0,
        max_attempts: int = 20,
    ) -> None:
        if queue_size < 1 or batch_size < 1:
            raise ValueError("queue_size and batch_size must be at least 1")
        self.store = store
        self.queue_size = queue_size
        self.batch_size = batch_size
        self.flush_interval = flush_interval
        self.on_drop = on_drop
        self.retry_initial = retry_initial
        self.retry_max = retry_max
        self.max_attempts = max_attempts
        self.offered = 0
        self.accepted = 0
        self.written = 0
        self.dropped: Counter[tuple[str, str]] = Counter()
        self.healthy = True
        self.last_error: str | None = None
        self._buf: deque[OutcomeRecord] = deque()
        self._pending_by_route: Counter[str] = Counter()
        self._unacked: set[str] = set()
        self._wake = asyncio.Event()
        self._drained = asyncio.Event()
        self._drained.set()
        self._urgent = False
        self._closing = False
        self._task: asyncio.Task[None] | None = None

    # -- the data-plane side ------------------------------------------------------------

    def start(self) -> None:
        """Start the writer task on the running loop (idempotent)."""
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(
                self._loop(), name="shadowgate-batch-writer"
            )

    def put(self, records: Iterable[OutcomeRecord]) -> int:
        """Buffer records for writing; returns how many were accepted (the rest are dropped)."""
        accepted = 0
        dropped: Counter[str] = Counter()
        for rec in records:
            self.offered += 1
            if self._closing:
                dropped[rec.route] += 1
                continue
            if len(self._buf) >= self.queue_size:
                dropped[rec.route] += 1
                continue
            self._buf.append(rec)
            self._pending_by_route[rec.route] += 1
            accepted += 1
        self.accepted += accepted
        if dropped:
            reason = (
                "shutdown" if self._closing else "queue_full" if self.healthy else "store_error"
            )
            for route, n in dropped.items():
                self._drop(route, reason, n)
        if accepted:
            self._drained.clear()
            if len(self._buf) >= self.batch_size or len(self._buf) == accepted:
                self._wake.set()
        return accepted

    @property
    def pending(self) -> int:
        return len(self._buf)

    def stats(self) -> WriterStats:
        return WriterStats(
            offered=self.offered,
            accepted=self.accepted,
            written=self.written,
            pending=len(self._buf),
            dropped=dict(self.dropped),
            healthy=self.healthy,
            last_error=self.last_error,
        )

    # -- the judge side -----------------------------------------------------------------

    def incomplete(self, route: str) -> bool:
        """True when the store is known to miss (or not yet have) outcomes of ``route``."""
        return route in self._unacked or (not self.healthy and self._pending_by_route[route] > 0)

    def incomplete_routes(self) -> set[str]:
        stuck = (
            {r for r, n in self._pending_by_route.items() if n > 0} if not self.healthy else set()
        )
        return self._unacked | stuck

    def acknowledge(self, route: str) -> None:
        """Forget past drops of ``route`` (the judge has handled them, e.g. by pausing)."""
        self._unacked.discard(route)

    # -- draining -----------------------------------------------------------------------

    async def flush(self, timeout: float | None = None) -> bool:
        """Write everything buffered now; True when the buffer emptied within ``timeout``."""
        if not self._buf:
            return True
        self.start()
        self._urgent = True
        self._wake.set()
        try:
            await asyncio.wait_for(self._drained.wait(), timeout)
        except TimeoutError:
            return False
        finally:
            self._urgent = False
        return True

    async def close(self, timeout: float = 10.0) -> None:
        """Stop accepting, drain the buffer for up to ``timeout`` s, drop what is left."""
        self._closing = True
        self._urgent = True
        self._wake.set()
        if self._task is not None and self._buf:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._drained.wait(), timeout)
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        left: Counter[str] = Counter(r.route for r in self._buf)
        self._buf.clear()
        self._pending_by_route.clear()
        for route, n in left.items():
            self._drop(route, "shutdown", n)
        self._drained.set()

    # -- internals ----------------------------------------------------------------------

    def _drop(self, route: str, reason: str, n: int) -> None:
        self.dropped[(route, reason)] += n
        self._unacked.add(route)
        if self.on_drop is not None:
            try:
                self.on_drop(route, reason, n)
            except Exception:  # a broken metrics hook must not break recording
                log.exception("on_drop callback failed")

    def _pop(self, n: int) -> Counter[str]:
        routes: Counter[str] = Counter()
        for _ in range(n):
            rec = self._buf.popleft()
            routes[rec.route] += 1
            self._pending_by_route[rec.route] -= 1
        return routes

    async def _gather(self) -> None:
        """Wait for a full batch, the flush interval, or an urgent flush."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.flush_interval
        while len(self._buf) < self.batch_size and not self._urgent:
            remaining = deadline - loop.time()
            if remaining <= 0:
                return
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), remaining)

    async def _loop(self) -> None:
        delay = self.retry_initial
        attempts = 0
        while True:
            if not self._buf:
                self._drained.set()
                self._wake.clear()
                await self._wake.wait()
                continue
            await self._gather()
            batch = list(itertools.islice(self._buf, self.batch_size))
            try:
                await self.store.insert_outcomes(batch)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self.healthy = False
                self.last_error = str(exc)
                attempts += 1
                if attempts >= self.max_attempts:
                    log.error(
                        "dropping %d outcomes after %d failed writes: %s", len(batch), attempts, exc
                    )
                    for route, n in self._pop(len(batch)).items():
                        self._drop(route, "store_error", n)
                    attempts = 0
                else:
                    log.warning("outcome write failed (attempt %d), retrying: %s", attempts, exc)
                await asyncio.sleep(delay)
                delay = min(delay * 2, self.retry_max)
                continue
            self._pop(len(batch))
            self.written += len(batch)
            self.healthy = True
            self.last_error = None
            attempts = 0
            delay = self.retry_initial
