"""Only inference calls are evidence: metadata and health go to production alone."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from conftest import UpstreamServer
from gwhelpers import config, route, until
from shadowgate.config.model import ShadowgateConfig
from shadowgate.gateway import Gateway
from shadowgate.model.sink import MemorySink

Factory = Callable[..., Awaitable[UpstreamServer]]
GatewayFactory = Callable[..., Awaitable[Gateway]]
INFER = b'{"inputs": [{"name": "x", "shape": [1, 1], "datatype": "FP64", "data": [1.0]}]}'


def model_server(name: str) -> Callable[[web.Request], Awaitable[web.Response]]:
    """An OIP v2 server: metadata, readiness, health and inference."""

    async def handler(request: web.Request) -> web.Response:
        await request.read()
        path = request.path
        if path in ("/v2/health/ready", "/v2/health/live", "/v2/models/m/ready"):
            return web.Response(status=200, headers={"X-Server": name})
        if path == "/v2/models/m" and request.method == "GET":
            return web.json_response({"name": "m", "platform": name}, headers={"X-Server": name})
        if path == "/v2/models/m/infer" and request.method == "POST":
            out = {"name": "y", "shape": [1], "datatype": "FP64", "data": [0.5]}
            return web.json_response({"model_name": "m", "outputs": [out]})
        return web.json_response({"error": "not found"}, status=404)

    return handler


async def test_metadata_and_readiness_are_not_mirrored_or_recorded(
    upstream_factory: Factory, gateway_factory: GatewayFactory, http: aiohttp.ClientSession
) -> None:
    prod = await upstream_factory(model_server("prod"))
    cand = await upstream_factory(model_server("cand"))
    sink = MemorySink()
    r = route("m", "/v2/models/m", prod.url, cand.url, protocol="open-inference-v2")
    gw = await gateway_factory(config(r), sink=sink)
    async with http.get(gw.data_url + "/v2/models/m") as resp:
        assert resp.status == 200
        assert await resp.json() == {"name": "m", "platform": "prod"}
    async with http.get(gw.data_url + "/v2/models/m/ready") as resp:
        assert (resp.status, resp.headers["X-Server"]) == (200, "prod")
    stats = gw.proxy.stats["m"]
    assert stats.mirrored == 0  # counted when a mirror starts, before the client's answer
    async with http.post(gw.data_url + "/v2/models/m/infer", data=INFER) as resp:
        assert resp.status == 200
    await until(lambda: len(sink.items) == 1)
    assert [x.path for x in sink.items] == ["/v2/models/m/infer"]
    assert [x.path_qs for x in cand.requests] == ["/v2/models/m/infer"]
    assert [x.path_qs for x in prod.requests] == [
        "/v2/models/m",
        "/v2/models/m/ready",
        "/v2/models/m/infer",
    ]
    assert (stats.mirrored, stats.pairs, stats.requests["production"]) == (1, 1, 3)


async def test_inference_only_false_mirrors_every_call(
    upstream_factory: Factory, gateway_factory: GatewayFactory, http: aiohttp.ClientSession
) -> None:
    prod = await upstream_factory(model_server("prod"))
    cand = await upstream_factory(model_server("cand"))
    sink = MemorySink()
    match = {"path_prefix": "/v2/models/m", "inference_only": False}
    r = route("m", "/v2/models/m", prod.url, cand.url, protocol="open-inference-v2", match=match)
    gw = await gateway_factory(config(r), sink=sink)
    async with http.get(gw.data_url + "/v2/models/m/ready") as resp:
        assert resp.status == 200
    await until(lambda: len(sink.items) == 1)
    assert sink.items[0].path == "/v2/models/m/ready"


@pytest.mark.parametrize("marked", [None, "second"])
async def test_health_reaches_a_production_whatever_the_routes_say(
    upstream_factory: Factory,
    gateway_factory: GatewayFactory,
    http: aiohttp.ClientSession,
    marked: str | None,
) -> None:
    first = await upstream_factory(model_server("first"))
    second = await upstream_factory(model_server("second"))
    cand = await upstream_factory(model_server("cand"))
    routes: list[dict[str, Any]] = [
        route("a", "/v2/models/m", first.url, cand.url, protocol="open-inference-v2"),
        route("b", "/v2/models/other", second.url, cand.url, protocol="open-inference-v2"),
    ]
    if marked == "second":
        routes[1]["match"]["server_calls"] = True
    sink = MemorySink()
    gw = await gateway_factory(config(*routes), sink=sink)
    async with http.get(gw.data_url + "/v2/health/ready") as resp:
        assert resp.status == 200
        assert resp.headers["X-Server"] == (marked or "first")
    async with http.get(gw.data_url + "/v2/nothing/here") as resp:
        assert resp.status == 404
        assert (await resp.json())["error"] == "no_route"
    assert cand.requests == [] and len(sink.items) == 0
    assert gw.proxy.stats["a"].mirrored == gw.proxy.stats["b"].mirrored == 0


def test_only_one_route_answers_server_calls() -> None:
    def r(name: str, prefix: str) -> dict[str, Any]:
        return route(name, prefix, "http://127.0.0.1:1", "http://127.0.0.1:2",
                     match={"path_prefix": prefix, "server_calls": True})  # fmt: skip

    with pytest.raises(ValueError, match="only one route's production"):
        ShadowgateConfig.model_validate(config(r("a", "/a"), r("b", "/b")))
