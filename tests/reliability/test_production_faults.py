"""Production down or hanging: a JSON 502 or 504 within the timeout, and recovery in place.

The gateway runs on real loopback sockets; production is refused, then started on the
same port; hangs, then answers; resets mid-body, then answers. No restart in between.
"""

from __future__ import annotations

import time
from typing import Any

import aiohttp
from aiohttp import web

from gwhelpers import config, route, write_config
from reliability.procs import RawServer, hang, oip_ok, poll, reset_mid_response

TIMEOUT = 1.0


def _cfg(prod: str, cand: str) -> dict[str, Any]:
    r = route("m", "/m", prod, cand)
    r["production"]["timeout"] = f"{TIMEOUT}s"
    return config(r)


async def _call(s: aiohttp.ClientSession, url: str) -> tuple[int, dict[str, Any], float]:
    t0 = time.perf_counter()
    async with s.post(url, data=b'{"x": 1}') as r:
        doc = await r.json(content_type=None)
        return r.status, doc, time.perf_counter() - t0


async def test_production_down_is_502_json_fast_then_recovers_without_restart(
    gateway_factory: Any, upstream_factory: Any, refused_url: Any
) -> None:
    cand = await upstream_factory(oip_ok)
    down = refused_url()
    gw = await gateway_factory(_cfg(down, cand.url))
    url = f"{gw.data_url}/m/v2/models/m/infer"
    async with aiohttp.ClientSession() as s:
        for _ in range(5):
            status, doc, took = await _call(s, url)
            assert status == 502 and doc["error"] == "upstream_unreachable", doc
            assert doc["request_id"] and "production" in doc["message"]
            assert took < TIMEOUT, took
        # production comes back on the same port: the next request is served
        port = int(down.rsplit(":", 1)[1])
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", oip_ok)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", port).start()
        try:
            status, doc, _ = await _call(s, url)
            assert status == 200 and doc["outputs"][0]["data"] == [1.0]
        finally:
            await runner.cleanup()


async def test_production_hang_is_504_at_the_timeout_then_recovers(
    gateway_factory: Any, upstream_factory: Any
) -> None:
    prod = await upstream_factory(hang)
    cand = await upstream_factory(oip_ok)
    gw = await gateway_factory(_cfg(prod.url, cand.url))
    url = f"{gw.data_url}/m/v2/models/m/infer"
    async with aiohttp.ClientSession() as s:
        status, doc, took = await _call(s, url)
        assert status == 504 and doc["error"] == "upstream_timeout", doc
        assert TIMEOUT * 0.95 <= took < TIMEOUT + 1.5, took
        prod.handler = oip_ok
        status, doc, took = await _call(s, url)
        assert status == 200 and took < TIMEOUT, (status, took)


async def test_production_reset_mid_body_is_502_then_recovers(
    gateway_factory: Any, upstream_factory: Any
) -> None:
    raw = await RawServer(reset_mid_response).start()
    cand = await upstream_factory(oip_ok)
    try:
        gw = await gateway_factory(_cfg(raw.url, cand.url))
        url = f"{gw.data_url}/m/v2/models/m/infer"
        async with aiohttp.ClientSession() as s:
            status, doc, _ = await _call(s, url)
            assert status == 502 and doc["error"] == "upstream_failed", doc
            # swap the faulty production for a healthy one by editing the config
            healthy = await upstream_factory(oip_ok)
            assert gw.holder.path is not None
            write_config(gw.holder.path, _cfg(healthy.url, cand.url))

            async def served() -> bool:
                st, _, _ = await _call(s, url)
                return st == 200

            await poll(served, timeout=10)
    finally:
        await raw.close()
