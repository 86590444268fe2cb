"""The recorder: exchanges from the data plane in, outcome records to the store's writer out.

The data plane calls :meth:`Recorder.submit` on the response path: it appends to a bounded
deque and returns at once (False, counted, when full). :meth:`Recorder.run`, a background
task, takes exchanges in batches, turns each into an ``OutcomeRecord`` with
:func:`~shadowgate.compare.outcome.build_outcome` (JSON parsing and comparison: CPU work that
must not delay any client), and hands the batch to ``write`` (the store's batch writer,
which may drop in its turn and counts its own drops). Every reader of an exchange (the
observers, the outcome builder, the body join key) shares one
:class:`~shadowgate.compare.decoded.DecodedExchange`, so each body is decoded once.

Every submitted exchange ends in exactly one place, so ``submitted == written + dropped +
pending`` holds at any moment, per route. Drop reasons:

- ``queue_full``: the deque was at its bound (the recorder falls behind the traffic);
- ``no_route``: the route was removed by a config reload before its exchange was processed;
- ``lookup_error``: ``route_config`` or ``routing`` raised for the exchange's route;
- ``write_error``: ``write`` raised for the batch (a bug, or a writer that raises on close);
- ``shutdown``: submitted after :meth:`close`.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass, field

from shadowgate.compare.decoded import DecodedExchange
from shadowgate.compare.outcome import build_outcome
from shadowgate.config.model import RouteConfig
from shadowgate.http.idle import DataPlaneIdle
from shadowgate.model.exchange import Exchange
from shadowgate.model.outcome import OutcomeRecord
from shadowgate.model.routing import Routing
from shadowgate.recording.join_key import apply_join_key

log = logging.getLogger(__name__)

#: ``on_drop(route, reason, count)``, e.g. to increment shadowgate_outcomes_dropped_total
DropCallback = Callable[[str, str, int], None]
#: where finished records go; the store's ``BatchWriter.put`` fits (its result is ignored)
WriteFn = Callable[[list[OutcomeRecord]], object]
#: sees each exchange with the shared decode of its bodies (e.g. ``InputWatch.observe``)
Observer = Callable[[Exchange, DecodedExchange], None]


@dataclass(slots=True)
class RecorderStats:
    """A snapshot of the recorder's counters (``submitted == written + dropped + pending``)."""

    submitted: int
    written: int
    pending: int
    dropped: dict[tuple[str, str], int] = field(default_factory=dict)

    @property
    def dropped_total(self) -> int:
        return sum(self.dropped.values())


class Recorder:
    """Bounded, non-blocking hand-off from the data plane to the outcome writer.

    Satisfies :class:`~shadowgate.model.sink.ExchangeSink`. Use inside an event loop::

        rec = Recorder(route_config=holder.current.route, routing=board.get,
                       write=writer.put, on_drop=metrics_callback)
        task = asyncio.create_task(rec.run())
        rec.submit(exchange)      # from request handlers; never blocks
        await rec.close()         # on shutdown: processes what is queued, then stops
    """

    def __init__(
        self,
        *,
        route_config: Callable[[str], RouteConfig | None],
        routing: Callable[[str], Routing | None],
        write: WriteFn,
        queue_size: int = 10_000,
        batch_size: int = 256,
        slice_seconds: float = 0.001,
        on_drop: DropCallback | None = None,
        idle: DataPlaneIdle | None = None,
        defer_limit: int = 1000,
        max_defer: float = 0.05,
    ) -> None:
        if queue_size < 1 or batch_size < 1:
            raise ValueError("queue_size and batch_size must be at least 1")
        self._route_config = route_config
        #: the route's published split: outcomes are tagged with its rollout id
        self._routing = routing
        self._write = write
        self.queue_size = queue_size
        self.batch_size = batch_size
        #: longest stretch :meth:`run` works before yielding, so the data plane's event
        #: loop is never stalled by a burst (an outcome takes tens of microseconds)
        self.slice_seconds = slice_seconds
        self._on_drop = on_drop
        #: the data plane's requests in flight: each slice starts when none is (so it never
        #: holds the loop while a client's answer is on its way), unless ``defer_limit``
        #: exchanges are queued (saturation: the data plane is never idle) or it has waited
        #: ``max_defer`` seconds (one long request must not hold recording up)
        self._idle = idle
        self.defer_limit = defer_limit
        self.max_defer = max_defer
        self._queue: deque[Exchange] = deque()
        self._wake = asyncio.Event()
        self._closed = False
        self._submitted: Counter[str] = Counter()
        self._written: Counter[str] = Counter()
        self._dropped: Counter[tuple[str, str]] = Counter()
        #: called with every exchange of a configured route, and the decode of its bodies
        #: that the outcome then reuses, before its outcome is built (input validation and
        #: drift); an observer that raises is logged, never fatal
        self.observers: list[Observer] = []

    # -- response path ---------------------------------------------------------------------

    def submit(self, exchange: Exchange) -> bool:
        """Queue an exchange for recording; False (and counted) when it had to be dropped."""
        self._submitted[exchange.route] += 1
        if self._closed:
            self._drop(exchange.route, "shutdown", 1)
            return False
        if len(self._queue) >= self.queue_size:
            self._drop(exchange.route, "queue_full", 1)
            return False
        self._queue.append(exchange)
        n = len(self._queue)
        if n == 1:
            self._wake.set()
        elif n == self.defer_limit and self._idle is not None:
            self._idle.release()  # a backlog: stop waiting for the data plane to be idle
        return True

    # -- background ------------------------------------------------------------------------

    async def run(self) -> None:
        """Process queued exchanges until :meth:`close` has been called and the queue is empty.

        Each batch is processed synchronously (cancellation can only land between batches,
        so an exchange is never half-recorded); a batch ends after ``batch_size`` exchanges
        or ``slice_seconds``, whichever comes first, and the loop then yields.
        """
        while True:
            if not self._queue:
                if self._closed:
                    return
                self._wake.clear()
                await self._wake.wait()
                continue
            idle = self._idle
            if idle is not None and idle.busy:
                until = time.monotonic() + self.max_defer
                while idle.busy and len(self._queue) < self.defer_limit:
                    left = until - time.monotonic()
                    if left <= 0:
                        break
                    await idle.wait(left)
            self.process(self.batch_size, time.perf_counter() + self.slice_seconds)
            await asyncio.sleep(0)

    def process(self, limit: int | None = None, deadline: float | None = None) -> int:
        """Record up to ``limit`` queued exchanges now (all when None), stopping early once
        ``time.perf_counter()`` passes ``deadline``; returns how many were taken."""
        n = len(self._queue) if limit is None else min(limit, len(self._queue))
        records: list[OutcomeRecord] = []
        taken = 0
        while taken < n and self._queue:
            record = self._build(self._queue.popleft())
            taken += 1
            if record is not None:
                records.append(record)
            if deadline is not None and time.perf_counter() > deadline:
                break
        if records:
            try:
                self._write(records)
            except Exception:
                log.exception("outcome writer failed; dropping %d records", len(records))
                for route, count in Counter(r.route for r in records).items():
                    self._drop(route, "write_error", count)
            else:
                self._written.update(r.route for r in records)
        return taken

    def _build(self, ex: Exchange) -> OutcomeRecord | None:
        try:
            route = self._route_config(ex.route)
            if route is None:
                self._drop(ex.route, "no_route", 1)
                return None
            decoded = DecodedExchange(ex)
            for observe in self.observers:
                try:
                    observe(ex, decoded)
                except Exception:
                    log.exception("input observer failed on route %r", ex.route)
            routing = self._routing(ex.route)
            rollout_id = routing.rollout_id if routing is not None else ""
            record = build_outcome(ex, route, rollout_id, decoded)
            apply_join_key(record, ex, route, decoded)
            return record
        except Exception:
            log.exception("could not look up the config or rollout of route %r", ex.route)
            self._drop(ex.route, "lookup_error", 1)
            return None

    async def close(self) -> None:
        """Stop accepting, record everything still queued, and let :meth:`run` return."""
        self._closed = True
        while self._queue:
            self.process(self.batch_size)
            await asyncio.sleep(0)
        self._wake.set()

    # -- accounting ------------------------------------------------------------------------

    def _drop(self, route: str, reason: str, n: int) -> None:
        self._dropped[(route, reason)] += n
        if self._on_drop is not None:
            try:
                self._on_drop(route, reason, n)
            except Exception:
                log.exception("on_drop callback failed")

    @property
    def pending(self) -> int:
        return len(self._queue)

    def stats(self, route: str | None = None) -> RecorderStats:
        """Counters for one route, or for all routes when ``route`` is None."""
        if route is None:
            return RecorderStats(
                sum(self._submitted.values()),
                sum(self._written.values()),
                len(self._queue),
                dict(self._dropped),
            )
        return RecorderStats(
            self._submitted[route],
            self._written[route],
            sum(1 for ex in self._queue if ex.route == route),
            {k: v for k, v in self._dropped.items() if k[0] == route},
        )
