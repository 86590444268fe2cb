"""Both sides' latency is the client's callback stamps, not the time a coroutine saw."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import aiohttp
from multidict import CIMultiDict

from conftest import UpstreamServer
from gwhelpers import config, route
from shadowgate.dataplane.forward import start_capture
from shadowgate.dataplane.pools import Upstream
from shadowgate.gateway import Gateway
from shadowgate.http.client import Timeout
from shadowgate.model.sink import MemorySink

Factory = Callable[..., Awaitable[UpstreamServer]]


class Steps:
    """A clock that moves one second per reading: stamps taken at the callbacks are
    whole numbers apart, which no real clock difference would be."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        self.now += 1.0
        return self.now


async def test_captured_latency_is_t_done_minus_t_sent(upstream_factory: Factory) -> None:
    up_srv = await upstream_factory()
    up = Upstream(up_srv.url, 4)
    up.pool.clock = Steps()  # read by connections opened from now on
    try:
        side = await start_capture(up, "POST", "/", CIMultiDict(), b"{}", Timeout(5.0), 1 << 20)
    finally:
        await up.close()
    assert side.status == 200 and side.error is None
    # readings: t_sent (after the write), t_first_byte, t_done, so t_done - t_sent == 2
    assert side.latency == 2.0


async def test_production_and_candidate_are_measured_alike(
    upstream_factory: Factory,
    gateway_factory: Callable[..., Awaitable[Gateway]],
    http: aiohttp.ClientSession,
) -> None:
    prod = await upstream_factory()
    cand = await upstream_factory()
    sink = MemorySink()
    gw = await gateway_factory(config(route("m", "/v2", prod.url, cand.url)), sink=sink)
    for up in gw.proxy.pools.all():
        up.pool.clock = Steps()
    async with http.post(gw.data_url + "/v2/x", data=b"{}") as r:
        assert r.status == 200
        await r.read()
    await gw.proxy.drain_mirrors(5.0)  # the pair is handed over as the mirror ends
    assert len(sink.items) == 1
    e = sink.items[0]
    assert e.production is not None and e.candidate is not None
    assert (e.production.latency, e.candidate.latency) == (2.0, 2.0)
