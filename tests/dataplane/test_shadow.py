"""Shadow mode: the client gets production's answer, the candidate gets a mirror."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

import aiohttp
import pytest
from aiohttp import web

from conftest import UpstreamServer
from gwhelpers import config, route, until
from shadowgate.gateway import Gateway
from shadowgate.model.routing import Routing
from shadowgate.model.sink import MemorySink

Factory = Callable[..., Awaitable[UpstreamServer]]
GatewayFactory = Callable[..., Awaitable[Gateway]]


async def model(request: web.Request) -> web.Response:
    body = await request.read()
    return web.json_response({"outputs": [len(body)]}, headers={"X-Model": "prod"})


def metric(gw: Gateway, name: str, **labels: str) -> float:
    value = gw.metrics.registry.get_sample_value(name, labels)
    return 0.0 if value is None else value


async def test_mirror_gets_the_same_request_and_the_pair_is_recorded(
    upstream_factory: Factory, gateway_factory: GatewayFactory, http: aiohttp.ClientSession
) -> None:
    async def cand_model(request: web.Request) -> web.Response:
        await request.read()
        return web.json_response({"outputs": [0]}, status=201)

    prod = await upstream_factory(model)
    cand = await upstream_factory(cand_model)
    sink = MemorySink()
    r = route(
        "m",
        "/v2",
        prod.url,
        cand.url,
        mirror={"drop_headers": ["Authorization"]},
        segment={"header": "x-country"},
    )
    gw = await gateway_factory(config(r), sink=sink)
    headers = {
        "Authorization": "Bearer s",
        "X-Country": "fr",
        "X-Request-Id": "r1",
        "Content-Type": "application/json",
    }
    async with http.post(gw.data_url + "/v2/infer?q=1", data=b'{"x": 1}', headers=headers) as resp:
        assert resp.status == 200
        assert await resp.json() == {"outputs": [8]}
    await until(lambda: len(sink.items) == 1)
    m = cand.requests[0]
    assert (m.method, m.path_qs, m.body) == ("POST", "/v2/infer?q=1", b'{"x": 1}')
    assert m.headers["X-Shadowgate-Mirror"] == "1"
    assert "Authorization" not in m.headers
    assert m.headers["X-Request-Id"] == "r1"
    assert m.headers["X-Country"] == "fr"
    assert prod.requests[0].headers["Authorization"] == "Bearer s"
    assert "X-Shadowgate-Mirror" not in prod.requests[0].headers
    ex = sink.items[0]
    assert (ex.kind, ex.route, ex.request_id, ex.variant) == ("shadow", "m", "r1", "production")
    assert (ex.method, ex.path, ex.segment) == ("POST", "/v2/infer?q=1", "fr")
    assert ex.request_body == b'{"x": 1}'
    assert ex.request_content_type == "application/json"
    assert ex.production is not None and ex.candidate is not None
    assert (ex.production.status, ex.production.body) == (200, b'{"outputs": [8]}')
    assert (ex.candidate.status, ex.candidate.body) == (201, b'{"outputs": [0]}')
    assert ex.candidate.content_type is not None
    assert ex.candidate.content_type.startswith("application/json")
    assert ex.production.latency is not None and ex.production.latency > 0
    assert ex.candidate.error is None
    assert metric(gw, "shadowgate_pairs_total", route="m") == 1


async def test_mirror_is_sent_at_the_same_moment_as_production(
    upstream_factory: Factory, gateway_factory: GatewayFactory, http: aiohttp.ClientSession
) -> None:
    arrivals: dict[str, float] = {}

    def timed(name: str, delay: float) -> Callable[[web.Request], Awaitable[web.Response]]:
        async def handler(request: web.Request) -> web.Response:
            arrivals[name] = time.monotonic()
            await asyncio.sleep(delay)
            return web.Response(text=name)

        return handler

    prod = await upstream_factory(timed("prod", 0.3))
    cand = await upstream_factory(timed("cand", 0.0))
    gw = await gateway_factory(config(route("m", "/", prod.url, cand.url)))
    async with http.get(gw.data_url + "/x") as resp:
        assert await resp.text() == "prod"
    await until(lambda: "cand" in arrivals)
    # not after production's 300 ms answer: both arrive together
    assert abs(arrivals["cand"] - arrivals["prod"]) < 0.15


@pytest.mark.parametrize("kind", ["refused", "500", "garbage", "slow"])
async def test_bad_candidate_never_changes_the_client_response(
    kind: str,
    upstream_factory: Factory,
    gateway_factory: GatewayFactory,
    refused_url: Callable[[], str],
    garbage_upstream: Callable[[], Awaitable[str]],
    http: aiohttp.ClientSession,
) -> None:
    async def fail(request: web.Request) -> web.Response:
        return web.Response(status=500, text="boom")

    async def slow(request: web.Request) -> web.Response:
        await asyncio.sleep(2.0)
        return web.Response(text="late")

    prod = await upstream_factory(model)
    if kind == "refused":
        cand_url = refused_url()
    elif kind == "garbage":
        cand_url = await garbage_upstream()
    else:
        cand_url = (await upstream_factory(fail if kind == "500" else slow)).url
    sink = MemorySink()
    gw = await gateway_factory(config(route("m", "/", prod.url, cand_url)), sink=sink)
    n = 100 if kind == "slow" else 40
    latencies = []
    for i in range(n):
        body = b"x" * i
        t0 = time.perf_counter()
        async with http.post(gw.data_url + "/infer", data=body) as resp:
            got = (resp.status, await resp.read(), resp.headers["X-Model"])
        latencies.append(time.perf_counter() - t0)
        async with http.post(prod.url + "/infer", data=body) as direct:
            assert got == (direct.status, await direct.read(), direct.headers["X-Model"])
    latencies.sort()
    assert latencies[int(0.99 * n) - 1] < 0.05, latencies[-5:]
    if kind != "slow":
        await until(lambda: len(sink.items) == n)
        errors = {ex.candidate.error for ex in sink.items if ex.candidate}
        statuses = {ex.candidate.status for ex in sink.items if ex.candidate}
        expected = {
            "refused": ({"connect"}, {None}),
            "500": ({None}, {500}),
            "garbage": ({"reset"}, {None}),
        }[kind]
        assert (errors, statuses) == expected


async def test_mirrors_beyond_max_in_flight_are_dropped_and_counted(
    upstream_factory: Factory, gateway_factory: GatewayFactory, http: aiohttp.ClientSession
) -> None:
    release = asyncio.Event()

    async def stuck(request: web.Request) -> web.Response:
        await release.wait()
        return web.Response(text="done")

    prod = await upstream_factory(model)
    cand = await upstream_factory(stuck)
    sink = MemorySink()
    r = route("m", "/", prod.url, cand.url, mirror={"max_in_flight": 5, "timeout": "10s"})
    gw = await gateway_factory(config(r), sink=sink)
    for _ in range(20):
        async with http.get(gw.data_url + "/x") as resp:
            assert resp.status == 200
    assert metric(gw, "shadowgate_mirror_dropped_total", route="m", reason="full") == 15
    release.set()
    await until(lambda: len(sink.items) == 5)
    assert {ex.candidate.body for ex in sink.items if ex.candidate} == {b"done"}
    async with http.get(gw.data_url + "/x") as resp:  # slots are free again
        assert resp.status == 200
    await until(lambda: len(sink.items) == 6)


async def test_mirror_timeout_is_its_own(
    upstream_factory: Factory, gateway_factory: GatewayFactory, http: aiohttp.ClientSession
) -> None:
    async def slow(request: web.Request) -> web.Response:
        await asyncio.sleep(1.0)
        return web.Response(text="late")

    prod = await upstream_factory(model)
    cand = await upstream_factory(slow)
    sink = MemorySink()
    gw = await gateway_factory(
        config(route("m", "/", prod.url, cand.url, mirror={"timeout": "100ms"})), sink=sink
    )
    async with http.get(gw.data_url + "/x") as resp:
        assert resp.status == 200
    await until(lambda: len(sink.items) == 1)
    cside = sink.items[0].candidate
    assert cside is not None and cside.error == "timeout" and cside.status is None


async def test_huge_candidate_answer_is_cut_off_as_too_large(
    upstream_factory: Factory, gateway_factory: GatewayFactory, http: aiohttp.ClientSession
) -> None:
    chunk = b"z" * 1_000_000

    async def huge(request: web.Request) -> web.StreamResponse:
        resp = web.StreamResponse()
        await resp.prepare(request)
        try:
            for _ in range(50):  # 50 MB, chunked: no length to refuse it up front
                await resp.write(chunk)
        except (ConnectionError, aiohttp.ClientConnectionResetError):
            return resp
        await resp.write_eof()
        return resp

    async def sized(request: web.Request) -> web.Response:
        return web.Response(body=b"y" * 3_000_000)

    prod = await upstream_factory(model)
    cand = await upstream_factory(huge)
    cand2 = await upstream_factory(sized)
    sink = MemorySink()
    gw = await gateway_factory(
        config(
            route("a", "/a", prod.url, cand.url),
            route("b", "/b", prod.url, cand2.url),
            max_body_size="2MB",
        ),
        sink=sink,
    )
    for path in ("/a", "/b"):
        async with http.get(gw.data_url + path) as resp:
            assert resp.status == 200
    await until(lambda: len(sink.items) == 2)
    for ex in sink.items:
        assert ex.candidate is not None
        assert (ex.candidate.status, ex.candidate.error, ex.candidate.body) == (
            200,
            "too_large",
            None,
        )


async def test_mirror_percent_is_reproducible_by_request_id(
    upstream_factory: Factory, gateway_factory: GatewayFactory, http: aiohttp.ClientSession
) -> None:
    prod = await upstream_factory(model)
    cand = await upstream_factory(model)
    sink = MemorySink()
    gw = await gateway_factory(
        config(route("m", "/", prod.url, cand.url, mirror={"percent": "30%"})), sink=sink
    )
    for _ in range(2):
        for i in range(300):
            async with http.get(gw.data_url + "/x", headers={"X-Request-Id": f"id-{i}"}) as r:
                assert r.status == 200
    await gw.proxy.drain_mirrors(5)
    ids = [ex.request_id for ex in sink.items]
    first = set(ids[: len(ids) // 2])
    assert len(ids) % 2 == 0 and sorted(ids[len(ids) // 2 :]) == sorted(first)
    assert 60 <= len(first) <= 120  # 30% of 300 = 90


async def test_noise_mirrors_to_production_itself(
    upstream_factory: Factory, gateway_factory: GatewayFactory, http: aiohttp.ClientSession
) -> None:
    prod = await upstream_factory(model)
    cand = await upstream_factory(model)
    sink = MemorySink()
    gw = await gateway_factory(
        config(route("m", "/", prod.url, cand.url, noise={"percent": 100})), sink=sink
    )
    async with http.post(gw.data_url + "/x", data=b"abc") as r:
        assert r.status == 200
    await until(lambda: len(sink.items) == 2)
    kinds = sorted(ex.kind for ex in sink.items)
    assert kinds == ["noise", "shadow"]
    noise = next(ex for ex in sink.items if ex.kind == "noise")
    assert noise.candidate is not None and noise.candidate.body == b'{"outputs": [3]}'
    assert len(prod.requests) == 2 and len(cand.requests) == 1


async def test_published_routing_stops_mirroring(
    upstream_factory: Factory, gateway_factory: GatewayFactory, http: aiohttp.ClientSession
) -> None:
    prod = await upstream_factory(model)
    cand = await upstream_factory(model)
    sink = MemorySink()
    gw = await gateway_factory(config(route("m", "/", prod.url, cand.url)), sink=sink)
    gw.routing.publish("m", Routing("shadow", mirror=False))
    for _ in range(5):
        async with http.get(gw.data_url + "/x") as r:
            assert r.status == 200
    await gw.proxy.drain_mirrors(2)
    assert cand.requests == [] and len(sink.items) == 0
    gw.routing.publish("m", Routing("shadow", mirror=True))
    async with http.get(gw.data_url + "/x") as r:
        assert r.status == 200
    await until(lambda: len(sink.items) == 1)


async def test_a_reverse_routing_serves_the_candidate_and_mirrors_production(
    upstream_factory: Factory, gateway_factory: GatewayFactory, http: aiohttp.ClientSession
) -> None:
    """Baking after a promotion: the candidate serves, production is the mirrored reference,
    and each answer stays in its own side of the exchange."""

    def answering(name: str) -> Callable[[web.Request], Awaitable[web.Response]]:
        async def handler(request: web.Request) -> web.Response:
            await request.read()
            return web.json_response({"outputs": [name]}, headers={"X-Served-By": name})

        return handler

    prod = await upstream_factory(answering("production"))
    cand = await upstream_factory(answering("candidate"))
    sink = MemorySink()
    gw = await gateway_factory(config(route("m", "/", prod.url, cand.url)), sink=sink)
    gw.routing.publish("m", Routing("shadow", 100.0, True, 100.0, "m-1", reverse=True))
    for _ in range(4):
        async with http.post(gw.data_url + "/x", json={"inputs": [1]}) as r:
            assert r.status == 200 and r.headers["X-Served-By"] == "candidate"
    await until(lambda: len(sink.items) == 4)
    assert len(prod.requests) == 4 and len(cand.requests) == 4
    ex = sink.items[0]
    assert (ex.kind, ex.variant) == ("shadow", "candidate")
    assert ex.production is not None and ex.production.body == b'{"outputs": ["production"]}'
    assert ex.candidate is not None and ex.candidate.body == b'{"outputs": ["candidate"]}'
    status = gw.proxy.route_status("m")
    assert status is not None and status["weights"]["candidate"] == 100.0
