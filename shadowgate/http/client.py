"""A lean HTTP/1.1 client for talking to upstreams: asyncio protocols and llhttp.

Every request the proxy forwards costs one client request to production and, when
mirrored, a second one to the candidate, so the client is on the hottest path twice.
A general-purpose client pays there for what a proxy never uses (URL objects, cookie jars,
redirects, tracing, automatic headers, per-request timer contexts). This one does only
what forwarding needs:

- keep-alive pools per upstream, bounded (``max_connections``; callers beyond it wait for
  a connection, inside their own deadline), most recently used connection first;
- the request head written in one piece, with the body when small; large bodies and
  streamed uploads respect the transport's write flow control;
- the answer parsed by llhttp (``httptools``, the parser of Node.js and uvicorn): status,
  raw headers, and the body either whole (``read``) or chunk by chunk (``readany``) with
  read flow control, so a 50 MB answer never sits in memory;
- one deadline per request (connect, send, answer and body), enforced by one timer that
  aborts the connection;
- failures raised as ``UpstreamError`` with the transport class the recorder stores
  (``connect``, ``timeout``, ``reset``).

Bytes pass through unchanged: no decompression, no header normalisation, and header values
are re-encoded exactly as the server side decoded them (UTF-8 with surrogate escapes).
"""

from __future__ import annotations

import asyncio
import ssl
import time
from collections import deque
from collections.abc import AsyncIterator, Iterable
from typing import Literal, cast
from urllib.parse import urlsplit

import httptools

ErrorKind = Literal["connect", "timeout", "reset"]

#: read no further from an upstream while this much of a streamed answer is unconsumed
_HIGH_WATER = 512 * 1024
#: bodies up to this size are joined to the request head and sent in one write
_JOIN_BODY = 64 * 1024
#: idle keep-alive connections older than this are closed rather than reused (s)
KEEPALIVE_TIMEOUT = 30.0
_BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})
_IDEMPOTENT = frozenset({"GET", "HEAD", "OPTIONS", "TRACE", "PUT", "DELETE"})
_monotonic = time.monotonic


class UpstreamError(Exception):
    """Talking to an upstream failed; ``kind`` is the transport error class."""

    def __init__(self, kind: ErrorKind, detail: str) -> None:
        self.kind: ErrorKind = kind
        super().__init__(f"{kind}: {detail}")


class Timeout:
    """A request's time limits (seconds): ``total`` for everything, ``connect`` for a new
    connection (within the total)."""

    __slots__ = ("connect", "total")

    def __init__(self, total: float, connect: float | None = None) -> None:
        self.total = total
        self.connect = total if connect is None else min(connect, total)

    def __repr__(self) -> str:
        return f"Timeout(total={self.total:g}, connect={self.connect:g})"


def _wake(fut: asyncio.Future[None] | None) -> None:
    """Resolve a waiter, if any and not already resolved or cancelled."""
    if fut is not None and not fut.done():
        fut.set_result(None)


def _enc(value: str) -> bytes:
    return value.encode("utf-8", "surrogateescape")


class Response:
    """An upstream's answer: status and headers at once, the body as it arrives."""

    __slots__ = (
        "_buffered",
        "_chunks",
        "_conn",
        "_done",
        "_error",
        "_waiter",
        "content_length",
        "headers",
        "reason",
        "status",
    )

    def __init__(self, conn: _Connection) -> None:
        self._conn: _Connection | None = conn
        self.status = 0
        self.reason = ""
        #: raw header lines as sent, decoded like the server side decodes them
        self.headers: list[tuple[str, str]] = []
        self.content_length: int | None = None
        self._chunks: deque[bytes] = deque()
        self._buffered = 0
        self._done = False
        self._error: UpstreamError | None = None
        self._waiter: asyncio.Future[None] | None = None

    def header(self, name: str) -> str | None:
        """The first value of a header (case-insensitive), or None."""
        lname = name.lower()
        for k, v in self.headers:
            if k.lower() == lname:
                return v
        return None

    # -- fed by the connection -------------------------------------------------------------

    def _feed(self, data: bytes) -> None:
        self._chunks.append(data)
        self._buffered += len(data)
        w, self._waiter = self._waiter, None
        _wake(w)

    def _finish(self, error: UpstreamError | None) -> None:
        if self._done:
            return
        self._done = True
        self._error = error
        w, self._waiter = self._waiter, None
        _wake(w)

    async def _wait(self) -> None:
        w = asyncio.get_running_loop().create_future()
        self._waiter = w
        await w

    # -- read by the caller ----------------------------------------------------------------

    async def read(self, cap: int | None = None) -> bytes:
        """The whole body. More than ``cap`` bytes raises ``BodyTooLarge``, and the
        connection is closed rather than drained."""
        conn = self._conn
        while not self._done:
            if cap is not None and self._buffered > cap:
                self.close()
                raise BodyTooLarge(self._buffered)
            if conn is not None and self._buffered >= _HIGH_WATER:
                # whole-body reads have no consumer to wait for: keep reading
                conn.resume()
            await self._wait()
        if self._error is not None:
            self.close()
            raise self._error
        if cap is not None and self._buffered > cap:
            self.close()
            raise BodyTooLarge(self._buffered)
        chunks = self._chunks
        data = chunks[0] if len(chunks) == 1 else b"".join(chunks)
        chunks.clear()
        self._buffered = 0
        self.release()
        return data

    async def readany(self) -> bytes:
        """The next piece of the body, b"" at its end."""
        while not self._chunks:
            if self._done:
                if self._error is not None:
                    self.close()
                    raise self._error
                self.release()
                return b""
            await self._wait()
        data = self._chunks.popleft()
        self._buffered -= len(data)
        conn = self._conn
        if conn is not None and self._buffered < _HIGH_WATER // 2:
            conn.resume()
        return data

    def release(self) -> None:
        """Give the connection back: to the pool when the answer was read to its end,
        otherwise it is closed (an unread body would corrupt the next answer)."""
        conn = self._conn
        if conn is None:
            return
        self._conn = None
        conn.finish_request(reusable=self._done and self._error is None)

    def close(self) -> None:
        """Drop the connection now, whatever is left of the answer."""
        conn = self._conn
        if conn is None:
            return
        self._conn = None
        if not self._done:
            self._finish(UpstreamError("reset", "closed by the proxy"))
        conn.finish_request(reusable=False)


class BodyTooLarge(Exception):
    """An answer's body exceeded the caller's cap."""

    def __init__(self, size: int) -> None:
        self.size = size
        super().__init__(f"body larger than the cap (at least {size} bytes)")


#: the parser of a connection not (or no longer) connected. A connection's own parser holds
#: its callbacks, the connection, so the two form a reference cycle that only the garbage
#: collector can free: it is made on connecting and dropped on closing, so that connects
#: that fail (uvloop makes the protocol before connecting; a dead upstream costs one per
#: mirror) and closed connections leave no cyclic garbage behind
_DETACHED = httptools.HttpResponseParser(object())


class _Connection(asyncio.Protocol):
    """One keep-alive connection to an upstream; one request at a time."""

    __slots__ = (
        "_drain",
        "_head_waiter",
        "_headers",
        "_interim",
        "_paused_reading",
        "_paused_writing",
        "_timer",
        "_until_eof",
        "closed",
        "counted",
        "head_request",
        "idle_since",
        "keep",
        "parser",
        "pool",
        "reason",
        "response",
        "transport",
        "uses",
    )

    def __init__(self, pool: Pool) -> None:
        self.pool = pool
        self.transport: asyncio.Transport | None = None
        self.parser = _DETACHED
        self.response: Response | None = None
        self.closed = False
        self.counted = True  # counts toward the pool's open connections
        self.keep = True  # may be reused after the current answer
        self.head_request = False
        self.idle_since = 0.0
        self.uses = 0
        self.reason = ""
        self._headers: list[tuple[str, str]] = []
        self._head_waiter: asyncio.Future[Response] | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._paused_reading = False
        self._paused_writing = False
        self._drain: asyncio.Future[None] | None = None
        self._until_eof = False
        self._interim = False

    # -- asyncio.Protocol ------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass
        self.parser = httptools.HttpResponseParser(self)

    def data_received(self, data: bytes) -> None:
        if self.response is None:
            self._fail(UpstreamError("reset", "data from the upstream while idle"))
            return
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            self._fail(UpstreamError("reset", "the upstream switched protocols"))
        except httptools.HttpParserError as exc:
            self._fail(UpstreamError("reset", f"invalid HTTP from the upstream: {exc}"))

    def eof_received(self) -> bool:
        return False  # close our side too

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self._cancel_timer()
        _wake(self._drain)
        resp = self.response
        if resp is not None and not resp._done:
            if self._until_eof and exc is None:
                resp._finish(None)  # an answer without a length ends at EOF
            else:
                why = str(exc) if exc is not None else "connection closed"
                self._fail(UpstreamError("reset", f"the upstream closed early ({why})"))
        self.pool._gone(self)
        self.parser = _DETACHED  # breaks the connection <-> parser cycle

    def pause_writing(self) -> None:
        self._paused_writing = True

    def resume_writing(self) -> None:
        self._paused_writing = False
        d, self._drain = self._drain, None
        _wake(d)

    # -- llhttp callbacks ------------------------------------------------------------------

    def on_status(self, status: bytes) -> None:
        self.reason = status.decode("latin-1")

    def on_header(self, name: bytes, value: bytes) -> None:
        self._headers.append(
            (name.decode("utf-8", "surrogateescape"), value.decode("utf-8", "surrogateescape"))
        )

    def on_headers_complete(self) -> None:
        resp = self.response
        if resp is None:
            return
        status = self.parser.get_status_code()
        if 100 <= status < 200:  # interim answers (100 Continue, 103): wait for the real one
            self._headers = []
            self._interim = True
            return
        resp.status = status
        resp.reason = self.reason
        resp.headers = self._headers
        self._headers = []
        length = None
        chunked = False
        for k, v in resp.headers:
            lk = k.lower()
            if lk == "content-length":
                try:
                    length = int(v)
                except ValueError:
                    length = None
            elif lk == "transfer-encoding" and "chunked" in v.lower():
                chunked = True
        resp.content_length = length
        no_body = self.head_request or status in (204, 304)
        self._until_eof = length is None and not chunked and not no_body
        w = self._head_waiter
        self._head_waiter = None
        if self.head_request:
            # llhttp cannot be told a request was HEAD: the answer ends with its headers,
            # and this connection is not reused (the parser would expect a body)
            self.keep = False
            resp._finish(None)
            self._cancel_timer()
        if w is not None and not w.done():
            w.set_result(resp)

    def on_body(self, body: bytes) -> None:
        resp = self.response
        if resp is None or resp._done:
            return
        resp._feed(body)
        if resp._buffered >= _HIGH_WATER and not self._paused_reading:
            assert self.transport is not None
            self._paused_reading = True
            self.transport.pause_reading()

    def on_message_complete(self) -> None:
        resp = self.response
        if self._interim:
            self._interim = False
            return
        if resp is None or resp._done:
            return
        self._cancel_timer()
        if not self.parser.should_keep_alive():
            self.keep = False  # the upstream will close it
        resp._finish(None)

    # -- driven by the pool ----------------------------------------------------------------

    def resume(self) -> None:
        if self._paused_reading and self.transport is not None:
            self._paused_reading = False
            self.transport.resume_reading()

    def _fail(self, error: UpstreamError) -> None:
        """End the current request with ``error`` and drop the connection."""
        resp = self.response
        w = self._head_waiter
        self._head_waiter = None
        self._cancel_timer()
        if w is not None and not w.done():
            w.set_exception(error)
        if resp is not None:
            resp._finish(error)
        self.keep = False
        if self.transport is not None:
            self.transport.abort()

    def _on_timeout(self) -> None:
        self._timer = None
        self._fail(UpstreamError("timeout", "no complete answer within the deadline"))

    def _cancel_timer(self) -> None:
        t = self._timer
        if t is not None:
            self._timer = None
            t.cancel()

    def start(self, head: bytes, deadline: float, loop: asyncio.AbstractEventLoop) -> Response:
        """Begin a request: arm the deadline and write the head (and joined body)."""
        assert self.transport is not None
        resp = Response(self)
        self.response = resp
        self._until_eof = False
        self._head_waiter = loop.create_future()
        self._timer = loop.call_at(deadline, self._on_timeout)
        self.uses += 1
        self.transport.write(head)
        return resp

    async def write_body(self, body: bytes | AsyncIterator[bytes], chunked: bool) -> None:
        transport = self.transport
        assert transport is not None
        if isinstance(body, bytes):
            view = memoryview(body)
            for i in range(0, len(body), 256 * 1024):
                if self.closed:
                    return
                transport.write(view[i : i + 256 * 1024])
                await self._drained()
            return
        async for chunk in body:
            if self.closed:
                return
            if not chunk:
                continue
            if chunked:
                transport.write(b"%x\r\n" % len(chunk))
                transport.write(chunk)
                transport.write(b"\r\n")
            else:
                transport.write(chunk)
            await self._drained()
        if chunked and not self.closed:
            transport.write(b"0\r\n\r\n")

    async def _drained(self) -> None:
        if self._paused_writing and not self.closed:
            d = asyncio.get_running_loop().create_future()
            self._drain = d
            await d

    def finish_request(self, reusable: bool) -> None:
        self.response = None
        w = self._head_waiter
        if w is not None:
            self._head_waiter = None
            w.cancel()
        self._cancel_timer()
        self.pool._release(self, reusable and self.keep and not self.closed)


class Pool:
    """Keep-alive connections to one upstream (scheme, host, port), at most ``limit``."""

    def __init__(self, url: str, limit: int) -> None:
        parts = urlsplit(url)
        self.host = parts.hostname or "127.0.0.1"
        default_port = 443 if parts.scheme == "https" else 80
        self.port = parts.port or default_port
        self.ssl: ssl.SSLContext | None = (
            ssl.create_default_context() if parts.scheme == "https" else None
        )
        netloc = parts.netloc.rpartition("@")[2]
        self.host_header = netloc if parts.port not in (None, default_port) else self.host
        if ":" in self.host and not self.host_header.startswith("["):
            self.host_header = f"[{self.host}]"
        self.base_path = parts.path.rstrip("/")
        self.limit = limit
        self.open = 0  # connections open or being opened
        self.closed = False
        self._idle: list[_Connection] = []
        self._waiters: deque[asyncio.Future[_Connection | None]] = deque()
        self._host_line = b"Host: " + _enc(self.host_header) + b"\r\n"

    # -- the one public call ---------------------------------------------------------------

    async def request(
        self,
        method: str,
        path: str,
        headers: Iterable[tuple[str, str]],
        body: bytes | AsyncIterator[bytes] | None,
        timeout: Timeout,
    ) -> Response:
        """Send a request; returns once the answer's status and headers are in.

        ``path`` is the client's raw path and query; the upstream URL's own path is put in
        front of it. Read or release the returned response.
        """
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout.total
        head, chunked = self._head(method, path, headers, body)
        attempt = 0
        while True:
            attempt += 1
            conn = await self._acquire(loop, deadline, timeout.connect)
            reused = conn.uses > 0
            conn.head_request = method == "HEAD"
            joined = isinstance(body, bytes) and len(body) <= _JOIN_BODY
            resp = conn.start(head + body if joined else head, deadline, loop)  # type: ignore[operator]
            waiter = conn._head_waiter
            assert waiter is not None
            try:
                if body is not None and not joined:
                    await conn.write_body(body, chunked)
                return await waiter
            except UpstreamError as exc:
                conn.finish_request(reusable=False)
                # a kept-alive connection the upstream closed as we reused it, before any
                # answer: an idempotent request is sent once more on a new connection
                # (RFC 9112 §9.3.1; other methods are not, the upstream may have acted)
                if (
                    attempt == 1
                    and reused
                    and exc.kind == "reset"
                    and method in _IDEMPOTENT
                    and not isinstance(body, AsyncIterator)
                    and resp.status == 0
                    and loop.time() < deadline
                ):
                    continue
                raise
            except BaseException:
                conn._fail(UpstreamError("reset", "request cancelled"))
                conn.finish_request(reusable=False)
                raise

    # -- internals -------------------------------------------------------------------------

    def _head(
        self,
        method: str,
        path: str,
        headers: Iterable[tuple[str, str]],
        body: bytes | AsyncIterator[bytes] | None,
    ) -> tuple[bytes, bool]:
        lines = [f"{method} {self.base_path}{path} HTTP/1.1\r\n"]
        has_length = False
        for k, v in headers:
            if k.lower() == "content-length":
                has_length = True
                if isinstance(body, bytes):
                    continue  # set from the body below
            lines.append(f"{k}: {v}\r\n")
        chunked = False
        if isinstance(body, bytes):
            lines.append(f"Content-Length: {len(body)}\r\n")
        elif body is None:
            if method in _BODY_METHODS and not has_length:
                lines.append("Content-Length: 0\r\n")
        elif not has_length:
            lines.append("Transfer-Encoding: chunked\r\n")
            chunked = True
        lines.append("\r\n")
        raw = _enc("".join(lines))
        i = raw.index(b"\r\n") + 2
        return raw[:i] + self._host_line + raw[i:], chunked

    async def _acquire(
        self, loop: asyncio.AbstractEventLoop, deadline: float, connect_timeout: float
    ) -> _Connection:
        if self.closed:
            raise UpstreamError("connect", "the upstream's pool is closed")
        idle = self._idle
        now = _monotonic()
        while idle:
            conn = idle.pop()
            if conn.closed:
                continue
            if now - conn.idle_since > KEEPALIVE_TIMEOUT:
                self._discard(conn)
                continue
            return conn
        while self.open >= self.limit:
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise UpstreamError("timeout", "no free connection to the upstream in time")
            w: asyncio.Future[_Connection | None] = loop.create_future()
            self._waiters.append(w)
            try:
                async with asyncio.timeout(remaining):
                    got = await w
            except TimeoutError:
                if w.done() and not w.cancelled() and (handed := w.result()) is not None:
                    self._release(handed, True)  # handed over as the deadline struck
                raise UpstreamError("timeout", "no free connection in time") from None
            finally:
                if not w.done():
                    w.cancel()
                if w in self._waiters:
                    self._waiters.remove(w)
            if got is not None and not got.closed:
                return got
        self.open += 1
        try:
            limit = min(connect_timeout, deadline - loop.time())
            if limit <= 0:
                raise TimeoutError
            async with asyncio.timeout(limit):
                _, proto = await loop.create_connection(
                    lambda: _Connection(self),
                    self.host,
                    self.port,
                    ssl=self.ssl,
                )
        except BaseException as exc:
            self.open -= 1
            self._wake()
            if isinstance(exc, TimeoutError):
                raise UpstreamError("timeout", "connecting took too long") from exc
            if isinstance(exc, OSError | ssl.SSLError):
                raise UpstreamError("connect", str(exc) or type(exc).__name__) from exc
            raise
        return proto

    def _release(self, conn: _Connection, reusable: bool) -> None:
        if not reusable or self.closed:
            self._discard(conn)
            return
        waiters = self._waiters
        while waiters:
            w = waiters.popleft()
            if not w.done():
                w.set_result(conn)
                return
        conn.idle_since = _monotonic()
        self._idle.append(conn)

    def _discard(self, conn: _Connection) -> None:
        """Close a connection now and stop counting it."""
        if conn.transport is not None and not conn.closed:
            conn.transport.abort()
        self._gone(conn)

    def _gone(self, conn: _Connection) -> None:
        """A connection closed, by either side: free its slot once."""
        conn.closed = True
        if conn.counted:
            conn.counted = False
            self.open -= 1
            self._wake()
        if self._idle and conn in self._idle:
            self._idle.remove(conn)

    def _wake(self) -> None:
        """Let one caller waiting for a connection open a new one."""
        waiters = self._waiters
        while waiters:
            w = waiters.popleft()
            if not w.done():
                w.set_result(None)
                return

    async def close(self) -> None:
        self.closed = True
        idle, self._idle = self._idle, []
        for conn in idle:
            self._discard(conn)
        while self._waiters:
            w = self._waiters.popleft()
            if not w.done():
                w.set_result(None)
