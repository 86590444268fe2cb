"""The Gateway runtime: live reload end to end, graceful drain, the serve command."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web

from conftest import UpstreamServer
from gwhelpers import config, route, until, write_config
from shadowgate.gateway import Gateway

Factory = Callable[..., Awaitable[UpstreamServer]]
GatewayFactory = Callable[..., Awaitable[Gateway]]


def reloads(gw: Gateway, result: str) -> float:
    v = gw.metrics.registry.get_sample_value("shadowgate_config_reloads_total", {"result": result})
    return 0.0 if v is None else v


@pytest.mark.parametrize(
    ("broken", "located"),
    [
        (
            "routes: [\n  - name: m\n    match: {path_prefix: /m\n",
            r"shadowgate\.yaml:\d+: invalid YAML",
        ),
        ("WRONG_TYPE", r"shadowgate\.yaml:\d+: routes\[0\]\.mirror\.max_in_flight: "),
        (
            "UNKNOWN_KEY",
            r"shadowgate\.yaml:\d+: routes\[0\]\.mirorr: unknown key 'mirorr'; "
            r"did you mean 'mirror'\?",
        ),
    ],
)
async def test_broken_edit_keeps_old_config_and_reports_the_located_error(
    broken: str,
    located: str,
    upstream_factory: Factory,
    gateway_factory: GatewayFactory,
    http: aiohttp.ClientSession,
    tmp_path: Path,
) -> None:
    up = await upstream_factory()
    good = config(route("m", "/m", up.url, up.url, mode="canary", canary={"weight": 10}))
    gw = await gateway_factory(good)
    path = tmp_path / "shadowgate.yaml"
    if broken == "WRONG_TYPE":
        bad = config(route("m", "/m", up.url, up.url, mirror={"max_in_flight": "lots"}))
        write_config(path, bad)
    elif broken == "UNKNOWN_KEY":
        write_config(path, config(route("m", "/m", up.url, up.url, mirorr={"percent": 5})))
    else:
        write_config(path, broken)
    await until(lambda: reloads(gw, "error") == 1)
    assert gw.holder.current.routes[0].canary.weight == 10  # the old config still serves
    async with http.get(gw.data_url + "/m/x") as r:
        assert r.status == 200
    async with http.get(gw.admin_url + "/api/status") as r:
        last = (await r.json())["config"]["last_reload"]
    assert last["ok"] is False
    assert any(re.search(located, e) for e in last["errors"]), last["errors"]
    write_config(
        path, config(route("m", "/m", up.url, up.url, mode="canary", canary={"weight": 20}))
    )
    await until(lambda: gw.holder.current.routes[0].canary.weight == 20)
    assert reloads(gw, "ok") == 1


async def test_reload_replaces_upstream_pools_without_cutting_requests(
    upstream_factory: Factory,
    gateway_factory: GatewayFactory,
    http: aiohttp.ClientSession,
    tmp_path: Path,
) -> None:
    async def slow(request: web.Request) -> web.Response:
        await asyncio.sleep(0.5)
        return web.Response(text="old")

    async def fast(request: web.Request) -> web.Response:
        return web.Response(text="new")

    old = await upstream_factory(slow)
    new = await upstream_factory(fast)
    gw = await gateway_factory(config(route("m", "/m", old.url, old.url, mirror={"percent": 0})))
    old_pool = gw.proxy.pools.get(gw.holder.current.routes[0].production)
    pending = asyncio.ensure_future(http.get(gw.data_url + "/m/x"))
    await until(lambda: len(old.requests) == 1)
    write_config(
        tmp_path / "shadowgate.yaml",
        config(route("m", "/m", new.url, new.url, mirror={"percent": 0})),
    )
    await until(lambda: gw.holder.current.routes[0].production.url == new.url)
    async with http.get(gw.data_url + "/m/x") as r:
        assert await r.text() == "new"
    assert not old_pool.closed  # still serving the request that started on it
    resp = await pending
    assert await resp.text() == "old"  # finished on the config it started with
    resp.release()
    await until(lambda: old_pool.closed)


async def test_stop_drains_in_flight_requests(
    upstream_factory: Factory, gateway_factory: GatewayFactory, http: aiohttp.ClientSession
) -> None:
    async def slow(request: web.Request) -> web.Response:
        await asyncio.sleep(0.4)
        return web.Response(text="finished")

    up = await upstream_factory(slow)
    gw = await gateway_factory(config(route("m", "/m", up.url, up.url)))
    url = gw.data_url
    pending = asyncio.ensure_future(http.get(url + "/m/x"))
    await until(lambda: len(up.requests) >= 1)
    await gw.stop()
    resp = await pending
    assert (resp.status, await resp.text()) == (200, "finished")
    with pytest.raises(aiohttp.ClientConnectionError):
        async with aiohttp.ClientSession() as fresh, fresh.get(url + "/m/x"):
            pass


async def test_serve_command_logs_addresses_serves_and_stops_on_sigterm(
    upstream_factory: Factory, tmp_path: Path
) -> None:
    up = await upstream_factory()
    path = tmp_path / "serve.yaml"
    write_config(path, config(route("m", "/m", up.url, up.url)))
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "shadowgate.cli",
        "serve",
        "--config",
        str(path),
        stderr=asyncio.subprocess.PIPE,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    assert proc.stderr is not None
    try:
        line = ""
        while "serving on" not in line:
            raw = await asyncio.wait_for(proc.stderr.readline(), 20)
            assert raw, "serve exited early"
            line = raw.decode()
        data, admin = re.findall(r"http://[\d.]+:\d+", line)[:2]
        async with aiohttp.ClientSession() as s:
            async with s.get(data + "/m/x") as r:
                assert r.status == 200
            async with s.get(admin + "/readyz") as r:
                assert r.status == 200
        proc.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(proc.wait(), 20) == 0
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()


async def test_serve_command_rejects_a_broken_config(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("server: {listen: nowhere}\n")
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "shadowgate.cli",
        "serve",
        "--config",
        str(path),
        stderr=asyncio.subprocess.PIPE,
    )
    _, err = await asyncio.wait_for(proc.communicate(), 20)
    assert proc.returncode == 1
    assert f"{path}:1: server.listen:" in err.decode()
