"""BatchWriter: never blocks, batches, retries, and accounts for every record."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from shadowgate.errors import StoreError
from shadowgate.store import OutcomeRecord, open_store
from shadowgate.store.writer import BatchWriter


def rec(i: int, route: str = "r") -> OutcomeRecord:
    return OutcomeRecord(route, "r-1", f"q{i}", 1.0, "shadow", "production")


class FlakyStore:
    """Only what BatchWriter uses: ``insert_outcomes``, failing while ``down`` is set."""

    def __init__(self) -> None:
        self.down = False
        self.batches: list[int] = []
        self.rows: list[str] = []
        self.calls = 0

    async def insert_outcomes(self, records: Sequence[OutcomeRecord]) -> None:
        self.calls += 1
        await asyncio.sleep(0)
        if self.down:
            raise StoreError("database is down")
        self.batches.append(len(records))
        self.rows.extend(r.request_id for r in records)


def balanced(w: BatchWriter) -> bool:
    return w.offered == w.written + sum(w.dropped.values()) + w.pending


async def test_batches_respect_batch_size_and_flush_interval() -> None:
    store = FlakyStore()
    w = BatchWriter(store, batch_size=10, flush_interval=0.05)  # type: ignore[arg-type]
    w.start()
    assert w.put(rec(i) for i in range(25)) == 25
    assert await w.flush(timeout=5)
    assert max(store.batches) <= 10 and sum(store.batches) == 25
    w.put([rec(100)])
    t0 = time.monotonic()
    while store.rows[-1] != "q100":
        await asyncio.sleep(0.005)
    assert 0.03 < time.monotonic() - t0 < 1.0  # waited for the interval, not forever
    await w.close()
    assert store.rows == [f"q{i}" for i in range(25)] + ["q100"]
    assert w.written == 26 and balanced(w)


async def test_a_full_queue_drops_and_counts_without_blocking() -> None:
    store = FlakyStore()
    drops: Counter[tuple[str, str]] = Counter()

    def on_drop(route: str, reason: str, n: int) -> None:
        drops[(route, reason)] += n

    w = BatchWriter(store, queue_size=100, batch_size=50, on_drop=on_drop)  # type: ignore[arg-type]
    w.start()
    t0 = time.perf_counter()
    accepted = w.put([rec(i) for i in range(150)] + [rec(i, route="b") for i in range(10)])
    assert time.perf_counter() - t0 < 0.1
    assert accepted == 100
    assert drops == {("r", "queue_full"): 50, ("b", "queue_full"): 10} == w.dropped
    assert w.incomplete("b") and w.incomplete("r")
    w.acknowledge("b")
    assert not w.incomplete("b")
    await w.close()
    assert w.written == accepted == len(store.rows) and balanced(w)


async def test_store_down_buffers_then_drops_as_store_error_then_recovers() -> None:
    store = FlakyStore()
    store.down = True
    w = BatchWriter(
        store,  # type: ignore[arg-type]
        queue_size=200,
        batch_size=50,
        flush_interval=0.01,
        retry_initial=0.001,
        retry_max=0.01,
        max_attempts=1000,
    )
    w.start()
    assert w.put(rec(i) for i in range(150)) == 150
    while store.calls < 3:
        await asyncio.sleep(0.005)
    assert not w.healthy and w.written == 0 and w.pending == 150
    assert w.incomplete("r") and "database is down" in (w.last_error or "")
    assert w.put(rec(i) for i in range(150, 300)) == 50  # up to the bound, then dropped
    assert w.dropped == {("r", "store_error"): 100}
    assert balanced(w)
    store.down = False
    assert await w.flush(timeout=5)
    assert w.healthy and w.written == 200 and len(set(store.rows)) == 200
    await w.close()
    assert w.offered == 300 == w.written + sum(w.dropped.values())


async def test_a_batch_that_keeps_failing_is_dropped_after_max_attempts() -> None:
    store = FlakyStore()
    store.down = True
    seen: list[tuple[str, str, int]] = []
    w = BatchWriter(
        store,  # type: ignore[arg-type]
        batch_size=10,
        flush_interval=0.001,
        retry_initial=0.001,
        max_attempts=3,
        on_drop=lambda r, why, n: seen.append((r, why, n)),
    )
    w.start()
    w.put(rec(i) for i in range(10))
    assert await w.flush(timeout=5)
    assert store.calls == 3 and seen == [("r", "store_error", 10)] and w.written == 0
    await w.close()
    assert balanced(w)


async def test_close_drains_and_later_puts_are_counted_as_shutdown() -> None:
    store = FlakyStore()
    w = BatchWriter(store, batch_size=1000, flush_interval=60)  # type: ignore[arg-type]
    w.start()
    w.put(rec(i) for i in range(500))
    await w.close(timeout=5)  # does not wait for the 60 s interval
    assert len(store.rows) == 500
    assert w.put([rec(1)]) == 0 and w.dropped == {("r", "shutdown"): 1}
    assert balanced(w)


async def test_close_with_the_store_down_drops_the_rest_after_the_deadline() -> None:
    store = FlakyStore()
    store.down = True
    w = BatchWriter(store, flush_interval=0.001, retry_initial=0.001)  # type: ignore[arg-type]
    w.start()
    w.put(rec(i) for i in range(30))
    await w.close(timeout=0.1)
    assert w.written == 0 and w.dropped == {("r", "shutdown"): 30} and balanced(w)


async def test_a_broken_drop_callback_does_not_break_put() -> None:
    def boom(*_: Any) -> None:
        raise RuntimeError("metrics broken")

    w = BatchWriter(FlakyStore(), queue_size=1, on_drop=boom)  # type: ignore[arg-type]
    assert w.put([rec(1), rec(2)]) == 1
    await w.close()


async def test_with_a_real_store_every_offered_record_is_written_or_counted(
    tmp_path: Path,
) -> None:
    store = open_store(f"sqlite:///{tmp_path}/w.db")
    await store.open()
    w = BatchWriter(store, queue_size=300, batch_size=100, flush_interval=0.01)
    w.start()
    offered = 0
    for burst in range(30):
        offered += 100
        w.put(rec(burst * 100 + i, route=f"r{i % 3}") for i in range(100))
        if burst % 5 == 0:
            await asyncio.sleep(0)  # sometimes let the writer run, sometimes overflow
    await w.close()
    stored = sum([len(await store.read_outcomes(f"r{k}", 0, 10_000)) for k in range(3)])
    assert stored == w.written
    assert offered == w.offered == w.written + sum(w.dropped.values())
    assert w.written > 0 and sum(w.dropped.values()) > 0
    await store.close()
