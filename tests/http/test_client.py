"""The upstream client (``proxy/client.py``) against real servers on loopback.

aiohttp servers for ordinary answers; raw asyncio TCP servers where the test needs exact
bytes on the wire (answers without a length, interim 1xx answers, a peer that closes a
kept-alive connection, garbage).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
from aiohttp import web

from conftest import UpstreamServer
from shadowgate.http.client import BodyTooLarge, Pool, Timeout, UpstreamError

T = Timeout(5.0, 1.0)
Factory = Callable[..., Awaitable[UpstreamServer]]


class RawServer:
    """A TCP server that answers each request head with ``reply(n)`` bytes (n counts
    requests on the server) and then does what ``after`` says: keep, close, or hold."""

    def __init__(self, reply: Callable[[int], bytes], after: str = "keep") -> None:
        self.reply = reply
        self.after = after
        self.count = 0
        self.connections = 0
        self.received: list[bytes] = []
        self.server: asyncio.Server | None = None
        self.url = ""

    async def start(self) -> RawServer:
        self.server = await asyncio.start_server(self._conn, "127.0.0.1", 0)
        port = self.server.sockets[0].getsockname()[1]
        self.url = f"http://127.0.0.1:{port}"
        return self

    async def _conn(self, r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            while True:
                head = await r.readuntil(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n"):
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":")[1])
                body = await r.readexactly(length) if length else b""
                self.received.append(head + body)
                self.count += 1
                w.write(self.reply(self.count))
                await w.drain()
                if self.after == "close":
                    break
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            w.close()

    async def stop(self) -> None:
        assert self.server is not None
        self.server.close()


@pytest.fixture
async def raw() -> AsyncIterator[Callable[..., Awaitable[RawServer]]]:
    servers: list[RawServer] = []

    async def make(reply: Callable[[int], bytes], after: str = "keep") -> RawServer:
        s = await RawServer(reply, after).start()
        servers.append(s)
        return s

    yield make
    for s in servers:
        await s.stop()


@pytest.fixture
async def pools() -> AsyncIterator[Callable[..., Pool]]:
    made: list[Pool] = []

    def make(url: str, limit: int = 8) -> Pool:
        p = Pool(url, limit)
        made.append(p)
        return p

    yield make
    for p in made:
        await p.close()


def ok(body: bytes = b"ok", extra: bytes = b"") -> bytes:
    return b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n%s\r\n%s" % (len(body), extra, body)


# -- ordinary exchanges -----------------------------------------------------------------


async def test_request_reaches_the_upstream_byte_for_byte(
    upstream_factory: Factory, pools: Callable[..., Pool]
) -> None:
    up = await upstream_factory()
    pool = pools(up.url + "/base")
    headers = [("X-One", "1"), ("X-Multi", "a"), ("X-Multi", "b"), ("X-Utf", "caf\udcc3\udca9")]
    resp = await pool.request("POST", "/v2/m?q=1&q=2", headers, b'{"x": 1}', T)
    assert resp.status == 200
    assert resp.header("x-upstream") == "echo"
    await resp.read()
    got = up.requests[-1]
    assert got.method == "POST"
    assert got.path_qs == "/base/v2/m?q=1&q=2"
    assert got.body == b'{"x": 1}'
    assert got.headers.getall("X-Multi") == ["a", "b"]
    assert got.headers["X-Utf"].encode("utf-8", "surrogateescape") == "café".encode()
    assert got.headers["Host"] == up.url.removeprefix("http://")
    assert got.headers["Content-Length"] == "8"


async def test_keep_alive_reuses_one_connection(
    raw: Callable[..., Awaitable[RawServer]], pools: Callable[..., Pool]
) -> None:
    srv = await raw(lambda n: ok(b"answer %d" % n))
    pool = pools(srv.url)
    for i in range(1, 21):
        resp = await pool.request("GET", "/", [], None, T)
        assert await resp.read() == b"answer %d" % i
    assert srv.connections == 1
    assert pool.open == 1


async def test_limit_bounds_connections_and_waiters_get_them_in_turn(
    upstream_factory: Factory, pools: Callable[..., Pool]
) -> None:
    in_flight = 0
    peak = 0

    async def slow(request: web.Request) -> web.Response:
        nonlocal in_flight, peak
        in_flight += 1
        peak = max(peak, in_flight)
        await asyncio.sleep(0.05)
        in_flight -= 1
        return web.Response(text="done")

    up = await upstream_factory(slow)
    pool = pools(up.url, limit=3)

    async def one() -> bytes:
        resp = await pool.request("GET", "/", [], None, T)
        return await resp.read()

    out = await asyncio.gather(*(one() for _ in range(12)))
    assert out == [b"done"] * 12
    assert peak == 3
    assert pool.open <= 3


async def test_waiting_for_a_connection_counts_against_the_deadline(
    upstream_factory: Factory, pools: Callable[..., Pool]
) -> None:
    async def hang(request: web.Request) -> web.Response:
        await asyncio.sleep(2)
        return web.Response()

    up = await upstream_factory(hang)
    pool = pools(up.url, limit=1)
    first = asyncio.create_task(pool.request("GET", "/", [], None, Timeout(3.0)))
    await asyncio.sleep(0.05)
    t0 = time.monotonic()
    with pytest.raises(UpstreamError) as err:
        await pool.request("GET", "/", [], None, Timeout(0.2))
    assert err.value.kind == "timeout"
    assert 0.15 < time.monotonic() - t0 < 1.0
    first.cancel()
    with pytest.raises(asyncio.CancelledError):
        await first
    assert pool.open == 0  # the cancelled request's connection was dropped, not leaked


async def test_chunked_and_large_answers_stream_with_flow_control(
    upstream_factory: Factory, pools: Callable[..., Pool]
) -> None:
    blob = bytes(range(256)) * 40_000  # 10 MB

    async def chunked(request: web.Request) -> web.StreamResponse:
        resp = web.StreamResponse()
        resp.enable_chunked_encoding()
        await resp.prepare(request)
        for i in range(0, len(blob), 100_000):
            await resp.write(blob[i : i + 100_000])
        await resp.write_eof()
        return resp

    up = await upstream_factory(chunked)
    pool = pools(up.url)
    resp = await pool.request("GET", "/", [], None, T)
    assert resp.content_length is None
    got = bytearray()
    peak_buffered = 0
    while chunk := await resp.readany():
        got += chunk
        peak_buffered = max(peak_buffered, resp._buffered)
        await asyncio.sleep(0)  # a slow consumer
    assert bytes(got) == blob
    assert peak_buffered < 2 * 1024 * 1024  # reading paused instead of buffering 10 MB
    # the connection went back to the pool and serves the next request
    resp = await pool.request("GET", "/", [], None, T)
    assert len(await resp.read()) == len(blob)
    assert pool.open == 1


async def test_streamed_upload_is_sent_chunked_when_its_length_is_unknown(
    upstream_factory: Factory, pools: Callable[..., Pool]
) -> None:
    up = await upstream_factory()
    pool = pools(up.url)

    async def parts() -> AsyncIterator[bytes]:
        for i in range(50):
            yield b"%04d" % i * 5000

    resp = await pool.request("PUT", "/up", [], parts(), T)
    await resp.read()
    assert up.requests[-1].body == b"".join(b"%04d" % i * 5000 for i in range(50))
    assert up.requests[-1].headers["Transfer-Encoding"] == "chunked"


async def test_read_cap_closes_instead_of_draining(
    upstream_factory: Factory, pools: Callable[..., Pool]
) -> None:
    async def big(request: web.Request) -> web.StreamResponse:
        resp = web.StreamResponse()
        await resp.prepare(request)
        for _ in range(100):
            await resp.write(b"x" * 100_000)
        await resp.write_eof()
        return resp

    up = await upstream_factory(big)
    pool = pools(up.url)
    resp = await pool.request("GET", "/", [], None, T)
    with pytest.raises(BodyTooLarge):
        await resp.read(cap=250_000)
    assert pool.open == 0


async def test_bodiless_answers(
    raw: Callable[..., Awaitable[RawServer]], pools: Callable[..., Pool]
) -> None:
    replies = {
        1: b"HTTP/1.1 204 No Content\r\n\r\n",
        2: b"HTTP/1.1 304 Not Modified\r\nContent-Length: 12\r\n\r\n",
        3: b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\nhi",
        4: ok(b"after"),
    }
    srv = await raw(lambda n: replies[n])
    pool = pools(srv.url)
    statuses = []
    bodies = []
    for method in ("DELETE", "GET", "POST", "GET"):
        resp = await pool.request(method, "/", [], None, T)
        statuses.append(resp.status)
        bodies.append(await resp.read())
    assert statuses == [204, 304, 201, 200]
    assert bodies == [b"", b"", b"hi", b"after"]
    assert srv.connections == 1  # every one of them left the connection usable


async def test_head_answer_ends_with_its_headers(
    upstream_factory: Factory, pools: Callable[..., Pool]
) -> None:
    up = await upstream_factory(lambda r: _text(r, "x" * 1000))
    pool = pools(up.url)
    resp = await pool.request("HEAD", "/", [], None, T)
    assert resp.status == 200
    assert resp.content_length == 1000
    assert await resp.read() == b""
    resp = await pool.request("GET", "/", [], None, T)
    assert await resp.read() == b"x" * 1000


async def _text(request: web.Request, text: str) -> web.Response:
    return web.Response(text=text)


async def test_answer_without_length_ends_at_eof(
    raw: Callable[..., Awaitable[RawServer]], pools: Callable[..., Pool]
) -> None:
    srv = await raw(lambda n: b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nuntil the end", "close")
    pool = pools(srv.url)
    for _ in range(2):
        resp = await pool.request("GET", "/", [], None, T)
        assert await resp.read() == b"until the end"
    assert srv.connections == 2
    await asyncio.sleep(0.05)
    assert pool.open == 0


# -- failures ---------------------------------------------------------------------------


async def test_refused_is_connect(
    pools: Callable[..., Pool], refused_url: Callable[[], str]
) -> None:
    pool = pools(refused_url())
    with pytest.raises(UpstreamError) as err:
        await pool.request("GET", "/", [], None, T)
    assert err.value.kind == "connect"
    assert pool.open == 0


async def test_hang_is_timeout_at_the_deadline(
    raw: Callable[..., Awaitable[RawServer]], pools: Callable[..., Pool]
) -> None:
    srv = await raw(lambda n: b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\npart")
    pool = pools(srv.url)
    t0 = time.monotonic()
    resp = await pool.request("GET", "/", [], None, Timeout(0.3))
    with pytest.raises(UpstreamError) as err:
        await resp.read()  # the body never completes
    assert err.value.kind == "timeout"
    assert 0.25 < time.monotonic() - t0 < 1.0
    assert pool.open == 0


@pytest.mark.parametrize(
    "reply",
    [
        b"this is not HTTP\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nshort",
    ],
    ids=["garbage", "cut-short"],
)
async def test_broken_answers_are_reset(
    raw: Callable[..., Awaitable[RawServer]], pools: Callable[..., Pool], reply: bytes
) -> None:
    srv = await raw(lambda n: reply, "close")
    pool = pools(srv.url)
    with pytest.raises(UpstreamError) as err:
        resp = await pool.request("GET", "/", [], None, T)
        await resp.read()
    assert err.value.kind == "reset"
    await asyncio.sleep(0.05)
    assert pool.open == 0


async def _stale_keepalive(
    raw: Callable[..., Awaitable[RawServer]], pools: Callable[..., Pool], method: str
) -> tuple[RawServer, Pool, Any]:
    """The upstream answers, keeps the connection in appearance, then closes it without
    a word the moment the next request arrives (the keep-alive race)."""
    srv = await raw(lambda n: ok(b"%d" % n) if n != 2 else b"", "keep")
    pool = pools(srv.url)
    resp = await pool.request(method, "/", [], b"" if method == "POST" else None, T)
    assert await resp.read() == b"1"

    orig = srv.reply

    def reply(n: int) -> bytes:
        if n == 2:
            raise ConnectionError("closing the kept-alive connection")
        return orig(n)

    srv.reply = reply
    try:
        resp = await pool.request(method, "/", [], b"" if method == "POST" else None, T)
        result: Any = await resp.read()
    except UpstreamError as exc:
        result = exc
    return srv, pool, result


async def test_idempotent_request_is_retried_once_on_a_stale_connection(
    raw: Callable[..., Awaitable[RawServer]], pools: Callable[..., Pool]
) -> None:
    srv, _, result = await _stale_keepalive(raw, pools, "GET")
    assert result == b"3"
    assert srv.connections == 2


async def test_post_is_not_retried_on_a_stale_connection(
    raw: Callable[..., Awaitable[RawServer]], pools: Callable[..., Pool]
) -> None:
    srv, _, result = await _stale_keepalive(raw, pools, "POST")
    assert isinstance(result, UpstreamError) and result.kind == "reset"
    assert srv.count == 2  # sent once, never twice


async def test_idle_connection_closed_by_the_upstream_is_not_reused(
    raw: Callable[..., Awaitable[RawServer]], pools: Callable[..., Pool]
) -> None:
    srv = await raw(lambda n: ok(), "close")  # answers with keep-alive, then closes
    pool = pools(srv.url)
    for _ in range(3):
        resp = await pool.request("POST", "/", [], b"x", T)
        assert await resp.read() == b"ok"
        await asyncio.sleep(0.05)  # the close arrives while the connection is idle
        assert pool.open == 0
    assert srv.connections == 3


async def test_closed_pool_refuses_and_frees_its_waiters(
    upstream_factory: Factory, pools: Callable[..., Pool]
) -> None:
    up = await upstream_factory()
    pool = pools(up.url)
    resp = await pool.request("GET", "/", [], None, T)
    await resp.read()
    assert pool.open == 1
    await pool.close()
    assert pool.open == 0
    with pytest.raises(UpstreamError) as err:
        await pool.request("GET", "/", [], None, T)
    assert err.value.kind == "connect"
