"""The admin listener: health, readiness, metrics, status, extension hooks, token."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
from aiohttp import web

from conftest import UpstreamServer
from gwhelpers import config, route
from shadowgate.admin.api import ADMIN, build_admin_app
from shadowgate.gateway import Gateway

Factory = Callable[..., Awaitable[UpstreamServer]]
GatewayFactory = Callable[..., Awaitable[Gateway]]


async def test_health_ready_metrics_status(
    upstream_factory: Factory, gateway_factory: GatewayFactory, http: aiohttp.ClientSession
) -> None:
    up = await upstream_factory()
    gw = await gateway_factory(config(route("m", "/m", up.url, up.url)))
    async with http.get(gw.data_url + "/m/x") as r:
        assert r.status == 200
    async with http.get(gw.admin_url + "/healthz") as r:
        assert r.status == 200
    async with http.get(gw.admin_url + "/readyz") as r:
        assert (r.status, await r.json()) == (200, {"ready": True})
    async with http.get(gw.admin_url + "/metrics") as r:
        text = await r.text()
        assert r.headers["Content-Type"].startswith("text/plain")
    for name in (
        "shadowgate_requests_total",
        "shadowgate_upstream_latency_seconds_bucket",
        "shadowgate_candidate_weight",
        "shadowgate_config_reloads_total",
    ):
        assert name in text
    assert 'shadowgate_requests_total{code="200",route="m",variant="production"} 1.0' in text
    assert 'le="0.001"' in text and 'le="10.0"' in text
    async with http.get(gw.admin_url + "/api/status") as r:
        doc = await r.json()
    m = doc["routes"]["m"]
    assert m["mode"] == "shadow" and m["path_prefix"] == "/m"
    assert m["weights"] == {"production": 100.0, "candidate": 0.0}
    assert m["counts"]["requests"]["production"] == 1
    assert doc["config"]["last_reload"]["ok"] is True


async def test_nothing_admin_on_the_data_port(
    upstream_factory: Factory, gateway_factory: GatewayFactory, http: aiohttp.ClientSession
) -> None:
    up = await upstream_factory()
    gw = await gateway_factory(config(route("m", "/m", up.url, up.url)))
    for path in ("/metrics", "/healthz", "/api/status"):
        async with http.get(gw.data_url + path) as r:
            assert r.status == 404
    assert up.requests == []


async def test_extension_hooks_and_token(
    upstream_factory: Factory, gateway_factory: GatewayFactory, http: aiohttp.ClientSession
) -> None:
    up = await upstream_factory()
    gw = await gateway_factory(config(route("m", "/m", up.url, up.url), admin_token="s3cret-token"))
    ctx = gw.admin_app[ADMIN]
    ctx.status_providers.append(lambda name: {"state": "shadow", "judge": name})

    async def extra() -> dict[str, Any]:
        return {"store": {"queued": 0}}

    ctx.extra_providers.append(extra)
    async with http.get(gw.admin_url + "/api/status") as r:
        doc = await r.json()
    assert doc["routes"]["m"]["state"] == "shadow" and doc["routes"]["m"]["judge"] == "m"
    assert doc["store"] == {"queued": 0}


async def test_added_routes_need_the_token(http: aiohttp.ClientSession, tmp_path: Any) -> None:
    from shadowgate.config import ConfigHolder, parse_config
    from shadowgate.metrics import Metrics

    cfg = parse_config("server: {admin_token: s3cret-token}\n")
    app = build_admin_app(ConfigHolder(cfg), Metrics(), lambda: True)

    async def feedback(request: web.Request) -> web.Response:
        return web.json_response({"ok": True})

    app.router.add_post("/api/feedback", feedback)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    url = f"http://127.0.0.1:{port}/api/feedback"
    try:
        async with http.post(url, json={}) as r:
            assert r.status == 401
        async with http.post(url, json={}, headers={"Authorization": "Bearer wrong-token"}) as r:
            assert r.status == 401
        async with http.post(url, json={}, headers={"Authorization": "Bearer s3cret-token"}) as r:
            assert r.status == 200
        async with http.get(f"http://127.0.0.1:{port}/api/status") as r:
            assert r.status == 200
    finally:
        await runner.cleanup()
