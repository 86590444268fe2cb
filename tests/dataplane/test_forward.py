"""Through the proxy, requests and answers are exactly what direct access gives."""

from __future__ import annotations

import io
import os
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from conftest import UpstreamServer
from gwhelpers import config, route

MB = 1000 * 1000


async def binary(request: web.Request) -> web.Response:
    """Answers with the request body reversed, the status from ?status=, and odd headers."""
    body = await request.read()
    status = int(request.query.get("status", "200"))
    resp = web.Response(
        body=body[::-1],
        status=status,
        content_type="application/x-custom",
        headers={"X-Model": "m1", "Cache-Control": "no-store"},
    )
    resp.headers.add("X-Multi", "a")
    resp.headers.add("X-Multi", "b")
    resp.set_cookie("session", "abc")
    return resp


async def _both(
    http: aiohttp.ClientSession, direct: str, proxied: str, method: str, path: str, **kw: Any
) -> tuple[tuple[int, dict[str, list[str]], bytes], tuple[int, dict[str, list[str]], bytes]]:
    out = []
    for base in (direct, proxied):
        args = dict(kw)
        if isinstance(args.get("data"), bytes) and len(args["data"]) > 1_000_000:
            args["data"] = io.BytesIO(args["data"])  # aiohttp warns about large raw bytes
        async with http.request(method, base + path, **args) as r:
            body = await r.read()
            headers: dict[str, list[str]] = {}
            for k, v in r.headers.items():
                if k.lower() in ("date", "x-request-id", "content-length", "transfer-encoding"):
                    continue
                headers.setdefault(k.lower(), []).append(v)
            out.append((r.status, headers, body))
    return out[0], out[1]


@pytest.fixture
async def setup(
    upstream_factory: Callable[..., Awaitable[UpstreamServer]],
    gateway_factory: Callable[..., Awaitable[Any]],
) -> tuple[UpstreamServer, str]:
    prod = await upstream_factory(binary)
    cand = await upstream_factory(binary)
    gw = await gateway_factory(config(route("m", "/v1/m", prod.url, cand.url)))
    return prod, gw.data_url


# large bodies are sent with the methods that carry them; GET/DELETE with small ones
CASES = [
    (method, size)
    for method in ("GET", "POST", "PUT", "DELETE", "PATCH")
    for size in (0, 1, 1000, 300 * 1024, 5 * MB)
    if method not in ("GET", "DELETE") or size <= 1000
]


@pytest.mark.parametrize(("method", "size"), CASES)
async def test_methods_and_bodies_identical(
    setup: tuple[UpstreamServer, str], http: aiohttp.ClientSession, method: str, size: int
) -> None:
    prod, proxy = setup
    body = os.urandom(size)
    direct, proxied = await _both(
        http, prod.url, proxy, method, "/v1/m/infer?a=1&b=%20x&b=2", data=body
    )
    assert proxied == direct
    assert proxied[2] == body[::-1]
    assert prod.requests[-1].body == body
    assert prod.requests[-1].path_qs == "/v1/m/infer?a=1&b=%20x&b=2"


@pytest.mark.parametrize("status", [200, 201, 204, 400, 404, 422, 500, 503])
async def test_status_codes_identical(
    setup: tuple[UpstreamServer, str], http: aiohttp.ClientSession, status: int
) -> None:
    prod, proxy = setup
    direct, proxied = await _both(
        http, prod.url, proxy, "POST", f"/v1/m/x?status={status}", data=b"abc"
    )
    assert proxied == direct
    assert proxied[0] == status


async def test_chunked_upload_and_streamed_answer(
    upstream_factory: Callable[..., Awaitable[UpstreamServer]],
    gateway_factory: Callable[..., Awaitable[Any]],
    http: aiohttp.ClientSession,
) -> None:
    chunks = [os.urandom(100_000) for _ in range(30)]

    async def streamer(request: web.Request) -> web.StreamResponse:
        resp = web.StreamResponse(headers={"Content-Type": "application/octet-stream"})
        await resp.prepare(request)
        for c in chunks:
            await resp.write(c)
        await resp.write_eof()
        return resp

    prod = await upstream_factory(streamer)
    gw = await gateway_factory(config(route("m", "/", prod.url, prod.url, mirror={"percent": 0})))

    async def gen() -> Any:
        for c in chunks[:5]:
            yield c

    async with http.post(gw.data_url + "/s", data=gen()) as r:
        assert r.status == 200
        assert await r.read() == b"".join(chunks)
    assert prod.requests[-1].body == b"".join(chunks[:5])


async def test_headers_forwarded_and_hop_by_hop_stripped(
    upstream_factory: Callable[..., Awaitable[UpstreamServer]],
    gateway_factory: Callable[..., Awaitable[Any]],
    http: aiohttp.ClientSession,
) -> None:
    prod = await upstream_factory()
    gw = await gateway_factory(config(route("m", "/", prod.url, prod.url, mirror={"percent": 0})))
    headers = {
        "X-Custom": "yes",
        "Authorization": "Bearer t",
        "X-Request-Id": "req-123",
        "Keep-Alive": "timeout=5",
        "Proxy-Authorization": "secret",
        "Connection": "keep-alive, X-Hop",
        "X-Hop": "drop me",
        "X-Forwarded-For": "10.0.0.1",
    }
    async with http.get(gw.data_url + "/h", headers=headers) as r:
        assert r.status == 200
        assert r.headers["X-Request-Id"] == "req-123"
    got = {k.lower(): v for k, v in prod.requests[-1].headers.items()}
    assert got["x-custom"] == "yes"
    assert got["authorization"] == "Bearer t"
    assert got["x-request-id"] == "req-123"
    assert got["x-forwarded-for"] == "10.0.0.1, 127.0.0.1"
    assert got["x-forwarded-proto"] == "http"
    for hop in ("keep-alive", "proxy-authorization", "x-hop"):
        assert hop not in got


async def test_request_id_generated_when_absent(
    upstream_factory: Callable[..., Awaitable[UpstreamServer]],
    gateway_factory: Callable[..., Awaitable[Any]],
    http: aiohttp.ClientSession,
) -> None:
    prod = await upstream_factory()
    gw = await gateway_factory(config(route("m", "/", prod.url, prod.url)))
    ids = set()
    for _ in range(3):
        async with http.get(gw.data_url + "/x") as r:
            rid = r.headers["X-Request-Id"]
            ids.add(rid)
            assert prod.requests[-1].headers["X-Request-Id"] == rid
    assert len(ids) == 3


async def test_longest_prefix_wins_and_unmatched_is_404(
    upstream_factory: Callable[..., Awaitable[UpstreamServer]],
    gateway_factory: Callable[..., Awaitable[Any]],
    http: aiohttp.ClientSession,
) -> None:
    a = await upstream_factory()
    b = await upstream_factory()
    gw = await gateway_factory(
        config(
            route("short", "/v2/models", a.url, a.url), route("long", "/v2/models/x", b.url, b.url)
        )
    )
    async with http.get(gw.data_url + "/v2/models/x/infer") as r:
        assert r.status == 200
    async with http.get(gw.data_url + "/v2/models/y/infer") as r:
        assert r.status == 200
    assert {q.path_qs for q in b.requests} == {"/v2/models/x/infer"}
    assert "/v2/models/y/infer" in [q.path_qs for q in a.requests]
    async with http.get(gw.data_url + "/nothing/here") as r:
        assert r.status == 404
        doc = await r.json()
        assert doc["error"] == "no_route"
        assert "/nothing/here" in doc["message"]
        assert r.headers["X-Request-Id"] == doc["request_id"]


async def test_body_over_max_size_is_413(
    upstream_factory: Callable[..., Awaitable[UpstreamServer]],
    gateway_factory: Callable[..., Awaitable[Any]],
    http: aiohttp.ClientSession,
) -> None:
    prod = await upstream_factory()
    gw = await gateway_factory(config(route("m", "/", prod.url, prod.url), max_body_size="1KB"))
    async with http.post(gw.data_url + "/x", data=b"x" * 1001) as r:
        assert r.status == 413
        assert (await r.json())["error"] == "body_too_large"

    async def gen() -> Any:
        for _ in range(3):
            yield b"y" * 600

    async with http.post(gw.data_url + "/x", data=gen()) as r:
        assert r.status == 413
    async with http.post(gw.data_url + "/x", data=b"x" * 1000) as r:
        assert r.status == 200
    assert all(q.body != b"y" * 1800 for q in prod.requests)


async def test_upstream_failures_are_502_and_504(
    upstream_factory: Callable[..., Awaitable[UpstreamServer]],
    gateway_factory: Callable[..., Awaitable[Any]],
    refused_url: Callable[[], str],
    garbage_upstream: Callable[[], Awaitable[str]],
    http: aiohttp.ClientSession,
) -> None:
    import asyncio

    async def slow(request: web.Request) -> web.Response:
        await asyncio.sleep(1.0)
        return web.Response(text="late")

    slow_up = await upstream_factory(slow)
    garbage = await garbage_upstream()
    down = refused_url()
    slow_route = route("slow", "/slow", slow_up.url, slow_up.url)
    slow_route["production"]["timeout"] = "200ms"
    gw = await gateway_factory(
        config(
            route("down", "/down", down, down),
            route("garbage", "/garbage", garbage, garbage),
            slow_route,
        )
    )
    expected = {
        "/down": (502, "upstream_unreachable"),
        "/garbage": (502, "upstream_failed"),
        "/slow": (504, "upstream_timeout"),
    }
    for path, (status, error) in expected.items():
        async with http.get(gw.data_url + path) as r:
            assert r.status == status, path
            doc = await r.json()
            assert doc["error"] == error
            assert doc["request_id"] == r.headers["X-Request-Id"]


def test_prefix_matches_on_name_boundaries() -> None:
    from shadowgate.config import ShadowgateConfig
    from shadowgate.dataplane.pools import UpstreamPools
    from shadowgate.dataplane.runtime import RoutingBoard
    from shadowgate.dataplane.table import RouteTable
    from shadowgate.metrics import Metrics

    cfg = ShadowgateConfig.model_validate(
        config(
            route("m", "/v2/models/m", "http://a", "http://b"),
            route("root", "/", "http://a", "http://b"),
        )
    )

    class FakePools(UpstreamPools):
        def get(self, u: Any) -> Any:
            return None

    table = RouteTable(cfg, FakePools(), RoutingBoard(), {}, Metrics())
    for path, name in [
        ("/v2/models/m", "m"),
        ("/v2/models/m/infer", "m"),
        ("/v2/models/m:predict", "m"),
        ("/v2/models/mnist/infer", "root"),
        ("/other", "root"),
    ]:
        entry = table.match(path)
        assert entry is not None and entry.name == name, path
