"""Shared fixtures: real aiohttp upstream servers on loopback and a running gateway.

- ``upstream_factory(handler=None)`` starts a model-server stand-in on 127.0.0.1 and
  returns an ``UpstreamServer``; its ``handler`` can be swapped at any time and every
  request it received is in ``requests``. The default handler echoes the request.
- ``refused_url()`` is a loopback URL on which nothing listens.
- ``garbage_upstream()`` answers every connection with bytes that are not HTTP.
- ``gateway_factory(config)`` writes the config (dict or YAML text) to a file, starts a
  ``Gateway`` on free loopback ports and stops it at teardown.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from multidict import CIMultiDict

from gwhelpers import Hooks, write_config
from shadowgate.config import ConfigHolder, load_config
from shadowgate.gateway import Gateway
from shadowgate.metrics import Metrics
from shadowgate.model.sink import ExchangeSink, MemorySink
from shadowgate.store import Store, open_store

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass
class Received:
    method: str
    path_qs: str
    headers: CIMultiDict[str]  # case-insensitive, as HTTP header names are
    body: bytes


@dataclass
class UpstreamServer:
    url: str
    handler: Handler
    requests: list[Received] = field(default_factory=list)
    runner: web.AppRunner | None = None


async def echo(request: web.Request) -> web.Response:
    """Answers with what it received, as JSON (the default upstream handler)."""
    body = await request.read()
    doc = {
        "method": request.method,
        "path_qs": request.path_qs,
        "body_len": len(body),
        "headers": {k: v for k, v in request.headers.items()},
    }
    return web.json_response(doc, headers={"X-Upstream": "echo"})


async def _start_upstream(handler: Handler | None) -> UpstreamServer:
    server = UpstreamServer(url="", handler=handler or echo)

    async def dispatch(request: web.Request) -> web.StreamResponse:
        body = await request.read()
        server.requests.append(
            Received(request.method, request.path_qs, CIMultiDict(request.headers), body)
        )
        return await server.handler(request)

    app = web.Application(client_max_size=64 * 1024 * 1024)
    app.router.add_route("*", "/{tail:.*}", dispatch)
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.1)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    server.url = f"http://127.0.0.1:{port}"
    server.runner = runner
    return server


@pytest.fixture
async def upstream_factory() -> AsyncIterator[Callable[..., Awaitable[UpstreamServer]]]:
    started: list[UpstreamServer] = []

    async def make(handler: Handler | None = None) -> UpstreamServer:
        s = await _start_upstream(handler)
        started.append(s)
        return s

    yield make
    for s in started:
        assert s.runner is not None
        await s.runner.cleanup()


@pytest.fixture
def refused_url() -> Callable[[], str]:
    def make() -> str:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        return f"http://127.0.0.1:{port}"

    return make


@pytest.fixture
async def garbage_upstream() -> AsyncIterator[Callable[[], Awaitable[str]]]:
    servers: list[asyncio.Server] = []

    async def on_conn(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await reader.read(65536)
            writer.write(b"\x00\x01this is not HTTP at all\r\n\r\n\xff\xfe")
            await writer.drain()
        finally:
            writer.close()

    async def make() -> str:
        srv = await asyncio.start_server(on_conn, "127.0.0.1", 0)
        servers.append(srv)
        return f"http://127.0.0.1:{srv.sockets[0].getsockname()[1]}"

    yield make
    for srv in servers:
        srv.close()
        await srv.wait_closed()


@pytest.fixture
async def gateway_factory(
    tmp_path: Path,
) -> AsyncIterator[Callable[..., Awaitable[Gateway]]]:
    started: list[Gateway] = []

    async def make(
        cfg: dict[str, Any] | str,
        *,
        sink: ExchangeSink | None = None,
        watch_poll: float = 0.05,
        name: str = "shadowgate.yaml",
    ) -> Gateway:
        path = tmp_path / name
        write_config(path, cfg)
        holder = ConfigHolder(load_config(path), path)
        gw = Gateway(
            holder,
            sink=sink if sink is not None else MemorySink(),
            metrics=Metrics(),
            watch_poll=watch_poll,
        )
        await gw.start()
        started.append(gw)
        return gw

    yield make
    for gw in started:
        if gw.data_address is not None:
            await gw.stop()


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    """A plain client that leaves bytes alone (no decompression, no cookie sharing)."""
    async with aiohttp.ClientSession(
        auto_decompress=False, cookie_jar=aiohttp.DummyCookieJar()
    ) as s:
        yield s


@pytest.fixture
async def hooks() -> AsyncIterator[Hooks]:
    """A webhook receiver on a free loopback port; ``hooks.url`` is where to POST."""
    h = Hooks()
    app = web.Application()
    app.router.add_post("/hook", h.handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    h.url = f"http://127.0.0.1:{port}/hook"
    yield h
    await runner.cleanup()


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    """A real SQLite store in a file (tests/store/ has its own, over both backends)."""
    s = open_store(f"sqlite:///{tmp_path}/judge.db")
    await s.open()
    yield s
    await s.close()
