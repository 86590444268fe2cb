"""Canary mode: a sticky share of users is served by the candidate."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web

from conftest import UpstreamServer
from gwhelpers import config, route, write_config
from shadowgate.gateway import Gateway
from shadowgate.model.routing import Routing
from shadowgate.model.sink import MemorySink

Factory = Callable[..., Awaitable[UpstreamServer]]
GatewayFactory = Callable[..., Awaitable[Gateway]]


def named(name: str) -> Callable[[web.Request], Awaitable[web.Response]]:
    async def handler(request: web.Request) -> web.Response:
        await request.read()
        return web.Response(text=name, headers={"X-Served-By": name})

    return handler


async def variants(
    http: aiohttp.ClientSession, url: str, users: range, how: str = "header"
) -> dict[int, str]:
    """Which upstream served each user (requests in parallel, 32 at a time)."""
    sem = asyncio.Semaphore(32)
    out: dict[int, str] = {}

    async def one(u: int) -> None:
        kw: dict[str, object] = {}
        if how == "header":
            kw["headers"] = {"X-User-Id": f"user-{u}"}
        elif how == "cookie":
            kw["headers"] = {"Cookie": f"uid=user-{u}"}
        else:
            kw["params"] = {"uid": f"user-{u}"}
        async with sem, http.get(url + "/m/predict", **kw) as r:  # type: ignore[arg-type]
            assert r.status == 200
            out[u] = r.headers["X-Served-By"]

    await asyncio.gather(*(one(u) for u in users))
    return out


def canary(prod: str, cand: str, weight: float, sticky: str = "header:x-user-id") -> dict:  # type: ignore[type-arg]
    return config(
        route("m", "/m", prod, cand, mode="canary", canary={"weight": weight, "sticky": sticky})
    )


async def test_weight_share_stickiness_and_live_raise(
    upstream_factory: Factory,
    gateway_factory: GatewayFactory,
    http: aiohttp.ClientSession,
    tmp_path: Path,
) -> None:
    prod = await upstream_factory(named("production"))
    cand = await upstream_factory(named("candidate"))
    sink = MemorySink(maxlen=100_000)
    gw = await gateway_factory(canary(prod.url, cand.url, 10), sink=sink)
    users = range(2000)
    first = await variants(http, gw.data_url, users)
    share = sum(v == "candidate" for v in first.values()) / len(users)
    assert 0.07 <= share <= 0.13, share
    assert await variants(http, gw.data_url, users) == first  # nobody flips
    assert {ex.kind for ex in sink.items} == {"canary"}
    assert sum(ex.variant == "candidate" for ex in sink.items) == 2 * round(share * 2000)

    write_config(tmp_path / "shadowgate.yaml", canary(prod.url, cand.url, 50))
    t0 = time.monotonic()
    while gw.holder.current.routes[0].canary.weight != 50:
        assert time.monotonic() - t0 < 2.0, "the edit was not applied within 2 s"
        await asyncio.sleep(0.02)
    after = await variants(http, gw.data_url, users)
    moved_back = [u for u in users if first[u] == "candidate" and after[u] == "production"]
    assert moved_back == []
    share50 = sum(v == "candidate" for v in after.values()) / len(users)
    assert 0.47 <= share50 <= 0.53, share50
    value = gw.metrics.registry.get_sample_value("shadowgate_candidate_weight", {"route": "m"})
    assert value == 50


@pytest.mark.parametrize("how", ["cookie", "query"])
async def test_sticky_by_cookie_and_query(
    how: str,
    upstream_factory: Factory,
    gateway_factory: GatewayFactory,
    http: aiohttp.ClientSession,
) -> None:
    prod = await upstream_factory(named("production"))
    cand = await upstream_factory(named("candidate"))
    gw = await gateway_factory(canary(prod.url, cand.url, 30, f"{how}:uid"))
    first = await variants(http, gw.data_url, range(300), how)
    assert await variants(http, gw.data_url, range(300), how) == first
    share = sum(v == "candidate" for v in first.values()) / 300
    assert 0.2 <= share <= 0.4


async def test_override_header_and_its_switch(
    upstream_factory: Factory, gateway_factory: GatewayFactory, http: aiohttp.ClientSession
) -> None:
    prod = await upstream_factory(named("production"))
    cand = await upstream_factory(named("candidate"))
    gw = await gateway_factory(canary(prod.url, cand.url, 0))
    for forced in ("candidate", "production"):
        async with http.get(gw.data_url + "/m/p", headers={"X-Shadowgate-Variant": forced}) as r:
            assert r.headers["X-Served-By"] == forced
    async with http.get(gw.data_url + "/m/p") as r:
        assert r.headers["X-Served-By"] == "production"
    # forced requests are marked, so the sample-ratio check leaves them out
    assert [e.forced for e in gw.sink.items] == [True, True, False]
    r2 = route(
        "m", "/m", prod.url, cand.url, mode="canary", canary={"weight": 0, "allow_override": False}
    )
    gw2 = await gateway_factory(config(r2), name="other.yaml")
    async with http.get(gw2.data_url + "/m/p", headers={"X-Shadowgate-Variant": "candidate"}) as r:
        assert r.headers["X-Served-By"] == "production"


async def test_published_routing_is_applied_from_the_next_request(
    upstream_factory: Factory, gateway_factory: GatewayFactory, http: aiohttp.ClientSession
) -> None:
    prod = await upstream_factory(named("production"))
    cand = await upstream_factory(named("candidate"))
    sink = MemorySink()
    gw = await gateway_factory(config(route("m", "/m", prod.url, cand.url)), sink=sink)
    users = range(200)
    assert set((await variants(http, gw.data_url, users)).values()) == {"production"}
    gw.routing.publish("m", Routing("canary", 100.0, rollout_id="r-7"))
    assert set((await variants(http, gw.data_url, users)).values()) == {"candidate"}
    assert (
        gw.metrics.registry.get_sample_value("shadowgate_candidate_weight", {"route": "m"}) == 100
    )
    gw.routing.publish("m", Routing("canary", 0.0, rollout_id="r-7", final=True))  # rollback
    assert set((await variants(http, gw.data_url, users)).values()) == {"production"}
    status = gw.proxy.route_status("m")
    assert status is not None and status["rollout_id"] == "r-7"
    assert status["routing"]["final"] is True and status["weights"]["candidate"] == 0.0
    gw.routing.withdraw(gw.holder.current.routes[0])  # back to the file's mode
    await gw.proxy.drain_mirrors(2)
    status = gw.proxy.route_status("m")
    assert status is not None and status["mode"] == "shadow" and status["rollout_id"] == ""
    with pytest.raises(ValueError, match="within"):
        Routing("canary", 101.0)


async def test_canary_failure_of_the_serving_candidate_is_502(
    upstream_factory: Factory,
    gateway_factory: GatewayFactory,
    refused_url: Callable[[], str],
    http: aiohttp.ClientSession,
) -> None:
    prod = await upstream_factory(named("production"))
    sink = MemorySink()
    gw = await gateway_factory(canary(prod.url, refused_url(), 100), sink=sink)
    async with http.get(gw.data_url + "/m/p", headers={"X-User-Id": "u"}) as r:
        assert r.status == 502
    ex = sink.items[0]
    assert ex.variant == "candidate" and ex.candidate is not None
    assert ex.candidate.error == "connect" and ex.production is None
