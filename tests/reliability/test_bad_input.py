"""Bad HTTP input on the data port: malformed requests, oversized bodies, slow clients.

Raw sockets send what no well-behaved client would. After every abuse the gateway still
answers a normal request. ``server.client_timeout`` bounds how long a client may take to
send its headers (the connection is closed) and its body (408).
"""

from __future__ import annotations

import asyncio
import time
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import pytest

from gwhelpers import config, route
from reliability.procs import oip_ok


async def _raw(url: str, payload: bytes, *, read_timeout: float = 5.0) -> bytes:
    """Send raw bytes to the data port and return whatever comes back before close."""
    parts = urlsplit(url)
    reader, writer = await asyncio.open_connection(parts.hostname, parts.port)
    try:
        writer.write(payload)
        await writer.drain()
        chunks: list[bytes] = []
        async with asyncio.timeout(read_timeout):
            while chunk := await reader.read(65536):
                chunks.append(chunk)
        return b"".join(chunks)
    finally:
        writer.close()


async def _healthy(url: str) -> None:
    async with aiohttp.ClientSession() as s, s.post(f"{url}/m/infer", data=b"{}") as r:
        assert r.status == 200, await r.text()


MALFORMED = [
    pytest.param(b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + b"\x00" * 40, id="tls-hello"),
    pytest.param(b"GARBAGE\r\n\r\n", id="no-version"),
    pytest.param(b"GET /m/x HTTP/9.9\r\nHost: a\r\n\r\n", id="bad-version"),
    pytest.param(b"GET /m/x HTTP/1.1\r\nHost a\r\n\r\n", id="header-without-colon"),
    pytest.param(b"GET /m/x HTTP/1.1\r\nHost: a\r\nX-A\x00: b\r\n\r\n", id="nul-in-name"),
    pytest.param(b"POST /m/x HTTP/1.1\r\nHost: a\r\nContent-Length: -5\r\n\r\n", id="neg-length"),
    pytest.param(b"POST /m/x HTTP/1.1\r\nHost: a\r\nContent-Length: zz\r\n\r\n", id="nan-length"),
    pytest.param(
        b"POST /m/x HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd",
        id="two-lengths",
    ),
    pytest.param(
        b"POST /m/x HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n"
        b"Content-Length: 3\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
        id="smuggling-te-cl",
    ),
    pytest.param(
        b"POST /m/x HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\nZZ\r\nabc\r\n",
        id="bad-chunk-size",
    ),
    pytest.param(b"GET /" + b"a" * 20_000 + b" HTTP/1.1\r\nHost: a\r\n\r\n", id="huge-line"),
    pytest.param(
        b"GET /m/x HTTP/1.1\r\nHost: a\r\nX-Big: " + b"b" * 20_000 + b"\r\n\r\n", id="huge-header"
    ),
    pytest.param(
        b"GET /m/x HTTP/1.1\r\nHost: a\r\n"
        + b"".join(b"X-%d: v\r\n" % i for i in range(500))
        + b"\r\n",
        id="too-many-headers",
    ),
]


@pytest.mark.parametrize("payload", MALFORMED)
async def test_malformed_request_is_refused_and_the_gateway_keeps_serving(
    payload: bytes, gateway_factory: Any, upstream_factory: Any
) -> None:
    up = await upstream_factory(oip_ok)
    gw = await gateway_factory(config(route("m", "/m", up.url, up.url)))
    answer = await _raw(gw.data_url, payload)
    if answer:  # a 4xx, or just a closed connection: never a 5xx, never forwarded
        status = int(answer.split(b" ", 2)[1])
        assert 400 <= status < 500, answer[:200]
    assert not up.requests, "a malformed request reached an upstream"
    await _healthy(gw.data_url)


async def test_oversized_bodies_are_413_declared_or_chunked(
    gateway_factory: Any, upstream_factory: Any
) -> None:
    up = await upstream_factory(oip_ok)
    gw = await gateway_factory(config(route("m", "/m", up.url, up.url), max_body_size="1MB"))
    big = b"x" * 1_000_001
    async with aiohttp.ClientSession() as s:
        async with s.post(f"{gw.data_url}/m/infer", data=big) as r:
            doc = await r.json()
            assert r.status == 413 and doc["error"] == "body_too_large", doc

        async def chunks() -> Any:
            for _ in range(20):
                yield b"y" * 100_000

        async with s.post(f"{gw.data_url}/m/infer", data=chunks()) as r:
            assert r.status == 413, await r.text()
        async with s.post(f"{gw.data_url}/m/infer", data=b"x" * 1_000_000) as r:
            assert r.status == 200
    assert all(len(q.body) <= 1_000_000 for q in up.requests)
    await _healthy(gw.data_url)


async def test_slow_headers_are_cut_off_at_client_timeout(
    gateway_factory: Any, upstream_factory: Any
) -> None:
    up = await upstream_factory(oip_ok)
    gw = await gateway_factory(config(route("m", "/m", up.url, up.url), client_timeout="1s"))
    parts = urlsplit(gw.data_url)
    reader, writer = await asyncio.open_connection(parts.hostname, parts.port)
    t0 = time.perf_counter()
    closed_after = None
    try:
        writer.write(b"POST /m/x HTTP/1.1\r\nHost: a\r\n")
        # one header byte every 200 ms (a slowloris): the server must hang up
        for _ in range(50):
            try:
                writer.write(b"X")
                await writer.drain()
                async with asyncio.timeout(0.2):
                    if await reader.read(1024) == b"":
                        closed_after = time.perf_counter() - t0
                        break
            except TimeoutError:
                continue
            except ConnectionError:
                closed_after = time.perf_counter() - t0
                break
    finally:
        writer.close()
    assert closed_after is not None, "the server kept a slowloris connection open for 10 s"
    assert 0.9 <= closed_after < 4.0, closed_after
    # an idle connection that never sends a byte is closed too
    reader, writer = await asyncio.open_connection(parts.hostname, parts.port)
    t0 = time.perf_counter()
    try:
        async with asyncio.timeout(5):
            assert await reader.read(1024) == b""
    finally:
        writer.close()
    assert 0.9 <= time.perf_counter() - t0 < 4.0
    assert not up.requests
    await _healthy(gw.data_url)


async def test_slow_body_is_408_at_client_timeout(
    gateway_factory: Any, upstream_factory: Any
) -> None:
    up = await upstream_factory(oip_ok)
    gw = await gateway_factory(config(route("m", "/m", up.url, up.url), client_timeout="1s"))
    parts = urlsplit(gw.data_url)
    reader, writer = await asyncio.open_connection(parts.hostname, parts.port)
    t0 = time.perf_counter()
    try:
        writer.write(b"POST /m/x HTTP/1.1\r\nHost: a\r\nContent-Length: 100\r\n\r\n{")
        await writer.drain()
        async with asyncio.timeout(5):
            answer = await reader.read(65536)
    finally:
        writer.close()
    took = time.perf_counter() - t0
    assert answer.startswith(b"HTTP/1.1 408"), answer[:200]
    assert b"client_timeout" in answer
    assert 0.9 <= took < 4.0, took
    assert not up.requests
    await _healthy(gw.data_url)
