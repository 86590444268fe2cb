"""Keep-alive connections to one upstream, and the one call that sends a request.

- at most ``limit`` connections (callers beyond it wait for one, inside their deadline),
  the most recently used idle one first;
- an idle connection is reused only while younger than its idle limit: ``idle_timeout``
  (1.5 s by default, below the 2 s of the shortest common server keep-alive), lowered to
  what the upstream announced in ``Keep-Alive: timeout=N``;
- a request on a reused connection that the upstream reset or closed before any byte of
  an answer is sent once more on a new connection, when it is safe to repeat: idempotent
  methods always (RFC 9112 §9.3.1), any method with ``retry_on_reset`` (model inference
  has no side effect), never a streamed upload;
- ``request`` writes the request before it returns when an idle connection is free, so
  two requests started one after the other leave in the same loop iteration.
"""

from __future__ import annotations

import asyncio
import ssl
from collections import deque
from collections.abc import AsyncIterator, Callable, Coroutine, Iterable
from typing import Any
from urllib.parse import urlsplit

from shadowgate.http.response import Response, UpstreamError
from shadowgate.http.timeout import Clock, Timeout, clock
from shadowgate.http.upstream_conn import UpstreamConnection

#: bodies up to this size are joined to the request head and sent in one write
JOIN_BODY = 64 * 1024
#: idle keep-alive connections older than this (s) are closed rather than reused
IDLE_TIMEOUT = 1.5
_BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})
_IDEMPOTENT = frozenset({"GET", "HEAD", "OPTIONS", "TRACE", "PUT", "DELETE"})

Body = bytes | AsyncIterator[bytes] | None


def _enc(value: str) -> bytes:
    return value.encode("utf-8", "surrogateescape")


class _Request:
    """What a request needs across its attempts."""

    __slots__ = ("body", "chunked", "connect", "deadline", "head", "head_only", "on_retry")

    def __init__(
        self,
        head: bytes,
        body: Body,
        chunked: bool,
        deadline: float,
        connect: float,
        head_only: bool,
        on_retry: Callable[[], None] | None,
    ) -> None:
        self.head = head
        self.body = body
        self.chunked = chunked
        self.deadline = deadline
        self.connect = connect
        self.head_only = head_only
        self.on_retry = on_retry


class Pool:
    """Keep-alive connections to one upstream (scheme, host, port), at most ``limit``."""

    def __init__(
        self,
        url: str,
        limit: int,
        *,
        idle_timeout: float = IDLE_TIMEOUT,
        retry_on_reset: bool = False,
        clock: Clock = clock,
    ) -> None:
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
        self.idle_timeout = idle_timeout
        #: repeat any method (not only idempotent ones) after a reset of a reused connection
        self.retry_on_reset = retry_on_reset
        self.clock = clock
        self.open = 0  # connections open or being opened
        self.closed = False
        #: requests sent a second time after a reused connection was reset
        self.retries = 0
        self._idle: list[UpstreamConnection] = []
        self._waiters: deque[asyncio.Future[UpstreamConnection | None]] = deque()
        self._host_line = b"Host: " + _enc(self.host_header) + b"\r\n"

    # -- the public calls ------------------------------------------------------------------

    def request(
        self,
        method: str,
        path: str,
        headers: Iterable[tuple[str, str]],
        body: Body,
        timeout: Timeout,
        *,
        on_retry: Callable[[], None] | None = None,
    ) -> Coroutine[Any, Any, Response]:
        """Send a request; the returned coroutine gives the answer once its status and
        headers are in. Read or release that response.

        The request is written before this returns when an idle connection is free (else
        when the coroutine first runs), so two requests started one after the other leave
        in the same loop iteration. ``path`` is the client's raw path and query; the
        upstream URL's own path is put in front of it. ``on_retry`` is called when the
        request is sent a second time (a reused connection was reset).
        """
        loop = asyncio.get_running_loop()
        head, chunked = self._head(method, path, headers, body)
        deadline = loop.time() + timeout.total
        req = _Request(head, body, chunked, deadline, timeout.connect, method == "HEAD", on_retry)
        repeatable = (method in _IDEMPOTENT or self.retry_on_reset) and not isinstance(
            body, AsyncIterator
        )
        conn = None if self.closed else self._take_idle()
        if conn is None:
            return self._send(req, loop, repeatable, fresh=False)
        resp, waiter = self._begin(conn, req, loop)
        return self._finish(conn, resp, waiter, req, loop, repeatable)

    #: the name that says the request leaves now
    start = request

    # -- one attempt -----------------------------------------------------------------------

    async def _send(
        self, req: _Request, loop: asyncio.AbstractEventLoop, repeatable: bool, fresh: bool
    ) -> Response:
        conn = await self._acquire(loop, req.deadline, req.connect, fresh)
        resp, waiter = self._begin(conn, req, loop)
        return await self._finish(conn, resp, waiter, req, loop, repeatable and not fresh)

    def _begin(
        self, conn: UpstreamConnection, req: _Request, loop: asyncio.AbstractEventLoop
    ) -> tuple[Response, asyncio.Future[Response]]:
        """Write the request's head (and small body); the answer and its head's waiter.

        The waiter is taken now: the connection may fail before the caller next runs
        (then it holds the error, and the connection has let go of it)."""
        conn.head_request = req.head_only
        body = req.body
        if body is None:
            resp = conn.start(req.head, req.deadline, loop, True)
        elif isinstance(body, bytes) and len(body) <= JOIN_BODY:
            resp = conn.start(req.head + body, req.deadline, loop, True)
        else:
            resp = conn.start(req.head, req.deadline, loop, False)
        waiter = conn._head_waiter
        assert waiter is not None
        return resp, waiter

    async def _finish(
        self,
        conn: UpstreamConnection,
        resp: Response,
        waiter: asyncio.Future[Response],
        req: _Request,
        loop: asyncio.AbstractEventLoop,
        repeatable: bool,
    ) -> Response:
        """Write what is left of the body and wait for the answer's head; on a reset of a
        reused connection before any answer byte, send once more on a new connection."""
        reused = conn.uses > 1
        try:
            if req.body is not None and resp.t_sent is None:
                await conn.write_body(req.body, req.chunked)
            return await waiter
        except UpstreamError as exc:
            conn.finish_request(reusable=False)
            if (
                repeatable
                and reused
                and exc.kind == "reset"
                and resp.t_first_byte is None
                and loop.time() < req.deadline
            ):
                self.retries += 1
                if req.on_retry is not None:
                    req.on_retry()
                return await self._send(req, loop, False, fresh=True)
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
        body: Body,
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

    def _take_idle(self) -> UpstreamConnection | None:
        """The most recently used idle connection still young enough to reuse."""
        idle = self._idle
        now = self.clock()
        while idle:
            conn = idle.pop()
            if conn.closed:
                continue
            if now - conn.idle_since >= conn.idle_limit:
                self._discard(conn)  # the upstream may have closed it by now
                continue
            return conn
        return None

    async def _acquire(
        self,
        loop: asyncio.AbstractEventLoop,
        deadline: float,
        connect_timeout: float,
        fresh: bool = False,
    ) -> UpstreamConnection:
        if self.closed:
            raise UpstreamError("connect", "the upstream's pool is closed")
        if not fresh and (conn := self._take_idle()) is not None:
            return conn
        while self.open >= self.limit:
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise UpstreamError("timeout", "no free connection to the upstream in time")
            w: asyncio.Future[UpstreamConnection | None] = loop.create_future()
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
                    lambda: UpstreamConnection(self),
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

    def _release(self, conn: UpstreamConnection, reusable: bool) -> None:
        if not reusable or self.closed:
            self._discard(conn)
            return
        waiters = self._waiters
        while waiters:
            w = waiters.popleft()
            if not w.done():
                w.set_result(conn)
                return
        conn.idle_since = self.clock()
        self._idle.append(conn)

    def _discard(self, conn: UpstreamConnection) -> None:
        """Close a connection now and stop counting it."""
        if conn.transport is not None and not conn.closed:
            conn.transport.abort()
        self._gone(conn)

    def _gone(self, conn: UpstreamConnection) -> None:
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
