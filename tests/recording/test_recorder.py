"""The recorder: bounded non-blocking submit, off-path outcome building, exact accounting."""

from __future__ import annotations

import asyncio
import json
import random
from typing import Any

import pytest

from shadowgate.config.model import RouteConfig
from shadowgate.http.idle import DataPlaneIdle
from shadowgate.model.exchange import Exchange, Side
from shadowgate.model.outcome import OutcomeRecord
from shadowgate.model.routing import Routing
from shadowgate.model.sink import ExchangeSink
from shadowgate.recording.recorder import Recorder

ROUTE = RouteConfig.model_validate(
    {
        "name": "r",
        "match": {"path_prefix": "/p"},
        "production": {"url": "http://127.0.0.1:1"},
        "candidate": {"url": "http://127.0.0.1:2"},
        "protocol": "tfserving",
    }
)


def body(preds: list[Any]) -> bytes:
    return json.dumps({"predictions": preds}).encode()


def exchange(i: int, route: str = "r", cand: list[Any] | None = None) -> Exchange:
    return Exchange(
        route=route,
        request_id=f"q{i}",
        ts=float(i),
        kind="shadow",
        variant="production",
        method="POST",
        path="/p",
        request_body=json.dumps({"instances": [[1], [2]]}).encode(),
        request_content_type="application/json",
        segment=None,
        production=Side(200, 0.01, body([1, 2])),
        candidate=Side(200, 0.02, body(cand if cand is not None else [1, 3])),
    )


class Sink:
    """The writer stand-in: collects batches, optionally fails."""

    def __init__(self, fail: bool = False) -> None:
        self.batches: list[list[OutcomeRecord]] = []
        self.fail = fail

    def __call__(self, records: list[OutcomeRecord]) -> None:
        if self.fail:
            raise RuntimeError("store closed")
        self.batches.append(records)

    @property
    def records(self) -> list[OutcomeRecord]:
        return [r for b in self.batches for r in b]


def recorder(write: Sink, **kw: Any) -> Recorder:
    routes = {"r": ROUTE, "s": ROUTE.model_copy(update={"name": "s"})}
    return Recorder(
        route_config=routes.get,
        routing=lambda name: Routing("shadow", rollout_id=f"{name}-1"),
        write=write,
        **kw,
    )


def test_it_is_an_exchange_sink() -> None:
    sink: ExchangeSink = recorder(Sink())
    assert sink.submit(exchange(0))


async def test_run_builds_and_writes_outcomes_in_batches() -> None:
    out = Sink()
    rec = recorder(out, batch_size=4, slice_seconds=60.0)
    task = asyncio.create_task(rec.run())
    for i in range(10):
        assert rec.submit(exchange(i))
    await rec.close()
    await asyncio.wait_for(task, 1)
    assert [len(b) for b in out.batches] == [4, 4, 2]
    first = out.records[0]
    assert (first.route, first.rollout_id, first.request_id) == ("r", "r-1", "q0")
    assert first.rows == 2 and first.agree == [True, False]
    assert [r.request_id for r in out.records] == [f"q{i}" for i in range(10)]
    st = rec.stats()
    assert (st.submitted, st.written, st.pending, st.dropped_total) == (10, 10, 0, 0)


async def test_a_time_slice_bounds_each_batch() -> None:
    out = Sink()
    rec = recorder(out, batch_size=100, slice_seconds=0.0)  # yield after every exchange
    task = asyncio.create_task(rec.run())
    for i in range(5):
        rec.submit(exchange(i))
    while rec.pending:
        await asyncio.sleep(0)
    assert [len(b) for b in out.batches] == [1] * 5
    await rec.close()
    await asyncio.wait_for(task, 1)


async def test_full_queue_drops_and_counts_without_blocking() -> None:
    drops: list[tuple[str, str, int]] = []
    out = Sink()
    rec = recorder(out, queue_size=3, on_drop=lambda *a: drops.append(a))
    results = [rec.submit(exchange(i)) for i in range(5)]  # run() not started: nothing drains
    assert results == [True, True, True, False, False]
    assert rec.stats().dropped == {("r", "queue_full"): 2}
    assert drops == [("r", "queue_full", 1)] * 2
    assert rec.pending == 3
    await rec.close()
    assert len(out.records) == 3
    assert not rec.submit(exchange(9))
    assert rec.stats().dropped[("r", "shutdown")] == 1


async def test_unknown_route_and_failing_lookups_are_counted() -> None:
    out = Sink()

    def rollout(name: str) -> Routing:
        if name == "s":
            raise KeyError(name)
        return Routing("shadow", rollout_id="x")

    rec = Recorder(
        route_config={"r": ROUTE, "s": ROUTE}.get, routing=rollout, write=out, batch_size=10
    )
    rec.submit(exchange(0, route="gone"))
    rec.submit(exchange(1, route="s"))
    rec.submit(exchange(2))
    rec.process()
    assert [r.request_id for r in out.records] == ["q2"]
    assert rec.stats().dropped == {("gone", "no_route"): 1, ("s", "lookup_error"): 1}


async def test_a_failing_writer_costs_its_batch_counted_per_route(
    caplog: pytest.LogCaptureFixture,
) -> None:
    out = Sink(fail=True)
    rec = recorder(out)
    for i in range(3):
        rec.submit(exchange(i, route="r" if i else "s"))
    rec.process()
    assert rec.stats().dropped == {("r", "write_error"): 2, ("s", "write_error"): 1}
    assert rec.stats("r").submitted == 2 and rec.stats("r").written == 0
    assert "outcome writer failed" in caplog.text


async def test_unparseable_responses_still_become_records() -> None:
    out = Sink()
    rec = recorder(out)
    ex = exchange(0)
    assert ex.candidate is not None
    ex.candidate.body = b"\x00not json"
    rec.submit(ex)
    rec.process()
    assert out.records[0].cand_error == "invalid" and out.records[0].agree is None


async def test_under_load_every_submitted_exchange_is_written_or_counted() -> None:
    """Bursty submissions against a small queue: nothing is lost unseen."""
    out = Sink()
    rec = recorder(out, queue_size=50, batch_size=16)
    task = asyncio.create_task(rec.run())
    rng = random.Random(7)
    submitted = 0
    for burst in range(200):
        for _ in range(rng.randint(0, 40)):
            rec.submit(exchange(submitted, route=rng.choice("rs")))
            submitted += 1
        if burst % 3 == 0:
            await asyncio.sleep(0)
    await rec.close()
    await asyncio.wait_for(task, 2)
    st = rec.stats()
    assert st.submitted == submitted
    assert st.dropped_total > 0, "the test must overflow the queue to mean anything"
    assert st.written == len(out.records)
    assert st.written + st.dropped_total == submitted
    for route in "rs":
        per = rec.stats(route)
        assert per.written + per.dropped_total == per.submitted
        assert per.written == sum(1 for r in out.records if r.route == route)
    assert len({r.request_id for r in out.records}) == len(out.records)


async def test_run_idles_without_busy_looping_and_wakes_on_submit() -> None:
    out = Sink()
    rec = recorder(out)
    task = asyncio.create_task(rec.run())
    await asyncio.sleep(0.01)
    assert not task.done()
    rec.submit(exchange(1))
    for _ in range(5):
        await asyncio.sleep(0)
    assert len(out.records) == 1
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


def test_bad_bounds_are_rejected() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        recorder(Sink(), queue_size=0)


# -- waiting for the data plane to be idle ----------------------------------------------------


async def _settle(n: int = 20) -> None:
    for _ in range(n):
        await asyncio.sleep(0)


async def test_recording_waits_while_a_client_request_is_in_flight() -> None:
    idle = DataPlaneIdle()
    sink = Sink()
    rec = recorder(sink, idle=idle, max_defer=10.0)
    task = asyncio.create_task(rec.run())
    try:
        idle.enter()  # a client request waits on its upstream
        rec.submit(exchange(0))
        await _settle()
        assert sink.records == []  # the loop is left to that request
        idle.leave()
        await _settle()
        assert len(sink.records) == 1
    finally:
        await rec.close()
        await task


async def test_a_backlog_or_a_long_request_does_not_hold_recording_up() -> None:
    idle = DataPlaneIdle()
    idle.enter()  # never leaves: a saturated data plane, or one request of minutes
    sink = Sink()
    rec = recorder(sink, idle=idle, defer_limit=5, max_defer=10.0)
    task = asyncio.create_task(rec.run())
    try:
        for i in range(4):
            rec.submit(exchange(i))
        await _settle()
        assert sink.records == []
        rec.submit(exchange(4))  # the fifth reaches defer_limit
        await _settle()
        assert len(sink.records) == 5
        rec.max_defer = 0.05
        rec.submit(exchange(5))
        await asyncio.sleep(0.2)  # waited max_defer, then recorded anyway
        assert len(sink.records) == 6
    finally:
        await rec.close()
        await task


def test_outcomes_are_tagged_with_the_published_routings_rollout() -> None:
    from shadowgate.dataplane.runtime import RoutingBoard

    board = RoutingBoard()
    out = Sink()
    rec = Recorder(route_config={"r": ROUTE}.get, routing=board.get, write=out)
    rec.submit(exchange(0))
    rec.process()  # nothing published yet: no rollout to belong to
    board.publish("r", Routing("shadow", rollout_id="r-1"))
    rec.submit(exchange(1))
    rec.process()
    board.publish("r", Routing("shadow", rollout_id="r-2"))  # a new candidate's rollout
    rec.submit(exchange(2))
    rec.process()
    assert [r.rollout_id for r in out.records] == ["", "r-1", "r-2"]
