"""The data plane's HTTP/1.1 server: asyncio protocols and llhttp.

Every client request passes through the server twice (its request parsed, its answer
written), so like the upstream client (``proxy/client.py``) it does only what a reverse
proxy needs, and nothing a general web framework adds per request (routing tables,
middleware chains, request objects with dozens of lazily built properties, access-log
machinery):

- requests parsed by llhttp (``httptools``), with limits on the request line (8 190
  bytes, else 414), on each header field (8 190 bytes), on the number of headers (128)
  and on the whole head (64 kB; all three else 431); anything llhttp rejects (bad
  framing, request smuggling with two lengths or a length beside chunked encoding, bad
  versions) gets a JSON 400 and the connection is closed; the handler never sees it;
- keep-alive and pipelining, answered in order: reading pauses while 16 requests wait
  for their turn, and a client that sends 128 at once without reading gets those
  answered and the connection closed;
- request bodies streamed to the handler with read flow control: reading from the
  client pauses while more than 256 kB of an unread body is buffered; ``100 Continue``
  is sent when the handler first waits for the body, so a request refused on its head
  (413, 404) never invites the upload; a body left unread is discarded after the answer
  (the connection is kept when it had fully arrived, else the server reads and drops the
  rest for up to 2 s after a half-close, so the client sees the answer, not a reset);
- answers written whole in one write (``Reply``), or streamed (``StreamReply``, chunked
  when the length is unknown) with write flow control; the next pipelined request
  starts once the previous answer has drained;
- ``client_timeout`` bounds how long a connection may stay idle or take to send a
  request's headers (slowloris): it is then closed; the handler bounds the body;
- a handler that fails gives a JSON 500, a client that goes away never cancels a handler
  (the proxy still records the exchange);
- graceful shutdown: stop accepting, close idle connections, let requests in flight
  finish (their connections close after the answer) within a deadline, then abort.

``Request`` and the replies keep aiohttp's names for what the proxy uses (``headers``,
``path``, ``raw_path``, ``content``, ``prepare``/``write``/``write_eof``), so handlers
read the same as before.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from email.utils import formatdate
from http import HTTPStatus
from typing import Any, cast
from urllib.parse import parse_qsl, unquote

import httptools
from multidict import CIMultiDict, CIMultiDictProxy, MultiDict, MultiDictProxy

log = logging.getLogger("shadowgate.gateway")

#: longest request line (method, target, version) accepted
MAX_LINE = 8190
#: longest header field (name and value) accepted
MAX_FIELD = 8190
#: most header fields accepted in one request
MAX_HEADERS = 128
#: reading from a client pauses while this much of an unread request body is buffered
HIGH_WATER = 256 * 1024
#: most bytes of one request head (request line and header fields together)
MAX_HEAD = 64 * 1024
#: reading from a client pauses while this many pipelined requests wait for their turn
MAX_PIPELINE = 16
#: a client that sends this many requests in one go without reading answers is cut off
MAX_QUEUED = 128
#: after answering a request whose body is still arriving, read and drop the rest this
#: long (seconds) before closing, so that closing does not reset the answer away
LINGER = 2.0
_NO_BODY_STATUS = frozenset({204, 304})
_CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"


def _dec(raw: bytes) -> str:
    return raw.decode("utf-8", "surrogateescape")


def _enc(value: str) -> bytes:
    return value.encode("utf-8", "surrogateescape")


class _Clock:
    """The ``Date`` header value, formatted once a second rather than once an answer."""

    __slots__ = ("_second", "_value")

    def __init__(self) -> None:
        self._second = -1
        self._value = ""

    def __call__(self) -> str:
        now = int(time.time())
        if now != self._second:
            self._second = now
            self._value = formatdate(now, usegmt=True)
        return self._value


_date = _Clock()
_REASONS: dict[int, str] = {s.value: s.phrase for s in HTTPStatus}


class Rejected(Exception):
    """A request head the server refuses (too large, unusable target): its answer."""

    def __init__(self, status: int, error: str, message: str) -> None:
        self.status = status
        self.error = error
        super().__init__(message)


class _QueueFull(Exception):
    """Too many pipelined requests at once: stop parsing, answer those already queued."""


class BadRequestBody(Exception):
    """The client's request body was malformed (e.g. a bad chunk size)."""


class ClientClosed(ConnectionResetError):
    """The client closed its connection before its request was complete."""


class BodyReader:
    """A request body as it arrives: ``readany`` / ``readexactly`` / ``read``.

    ``set_exception`` fails pending and later reads (the body deadline uses it).
    """

    __slots__ = ("_chunks", "_conn", "_continue", "_discard", "_eof", "_exc", "_size", "_waiter")

    def __init__(self, conn: HttpConnection | None) -> None:
        self._conn = conn
        self._chunks: deque[bytes] = deque()
        self._size = 0
        self._eof = False
        self._discard = False
        self._exc: BaseException | None = None
        self._waiter: asyncio.Future[None] | None = None
        #: sends ``100 Continue`` the first time a read has to wait (``Expect`` asked)
        self._continue: Callable[[], None] | None = None

    # -- fed by the connection -------------------------------------------------------------

    def feed(self, data: bytes) -> None:
        if self._discard:
            return
        self._chunks.append(data)
        self._size += len(data)
        self._wake()
        if self._size > HIGH_WATER and self._conn is not None:
            self._conn.pause_for_body(self)

    def discard(self) -> None:
        """The request is answered: drop what is buffered and whatever still arrives."""
        self._discard = True
        self._chunks.clear()
        self._size = 0
        if self._conn is not None:
            self._conn.resume_for_body(self)

    def feed_eof(self) -> None:
        self._eof = True
        self._wake()

    def set_exception(self, exc: BaseException) -> None:
        if not self._eof:
            self._exc = exc
            self._wake()

    def _wake(self) -> None:
        w = self._waiter
        if w is not None:
            self._waiter = None
            if not w.done():
                w.set_result(None)

    # -- read by the handler -----------------------------------------------------------------

    @property
    def complete(self) -> bool:
        """Has the whole body been received (read or not)?"""
        return self._eof

    def is_eof(self) -> bool:
        """Has the whole body been received and read?"""
        return self._eof and not self._chunks

    async def _wait(self) -> None:
        if self._exc is not None:
            raise self._exc
        if self._continue is not None:
            send, self._continue = self._continue, None
            send()
        waiter = asyncio.get_running_loop().create_future()
        self._waiter = waiter
        await waiter
        if self._exc is not None:
            raise self._exc

    def _take(self) -> bytes:
        chunk = self._chunks.popleft()
        self._size -= len(chunk)
        if self._size <= HIGH_WATER // 4 and self._conn is not None:
            self._conn.resume_for_body(self)
        return chunk

    async def readany(self) -> bytes:
        """The next part of the body, or ``b""`` at its end."""
        while not self._chunks:
            if self._exc is not None:
                raise self._exc
            if self._eof:
                return b""
            await self._wait()
        if self._exc is not None:
            raise self._exc
        return self._take()

    async def readexactly(self, n: int) -> bytes:
        """Exactly ``n`` bytes (``asyncio.IncompleteReadError`` if the body is shorter)."""
        parts: list[bytes] = []
        got = 0
        while got < n:
            chunk = await self.readany()
            if not chunk:
                raise asyncio.IncompleteReadError(b"".join(parts), n)
            if got + len(chunk) > n:  # never happens with a declared length; keep the rest
                keep = n - got
                self._chunks.appendleft(chunk[keep:])
                self._size += len(chunk) - keep
                chunk = chunk[:keep]
            parts.append(chunk)
            got += len(chunk)
        return parts[0] if len(parts) == 1 else b"".join(parts)

    async def read(self) -> bytes:
        """The rest of the body."""
        parts = []
        while chunk := await self.readany():
            parts.append(chunk)
        return b"".join(parts)

    async def iter_chunked(self, _size: int = 0) -> AsyncIterator[bytes]:
        """The body's parts as they arrive (their sizes are the network's)."""
        while chunk := await self.readany():
            yield chunk


def parse_cookies(lines: Iterable[str]) -> dict[str, str]:
    """``Cookie`` header lines as a dict, leniently: a malformed pair is skipped, not the
    whole header (one odd cookie from another application must not cost a user their
    sticky canary assignment). The first of repeated names wins (RFC 6265 §5.4 puts the
    most specific first); double quotes around a value are removed."""
    out: dict[str, str] = {}
    for line in lines:
        for pair in line.split(";"):
            name, sep, value = pair.partition("=")
            name = name.strip()
            if not sep or not name or name in out:
                continue
            value = value.strip()
            if len(value) >= 2 and value[0] == value[-1] == '"':
                value = value[1:-1]
            out[name] = value
    return out


class Request:
    """One client request: its head at once, its body (``content``) as it arrives."""

    __slots__ = (
        "_conn",
        "_cookies",
        "_path",
        "_query",
        "chunked",
        "content",
        "content_length",
        "expect_continue",
        "headers",
        "keep_alive",
        "method",
        "raw_path",
        "remote",
        "version",
    )

    scheme = "http"

    def __init__(
        self,
        conn: HttpConnection | None,
        method: str,
        raw_path: str,
        headers: CIMultiDictProxy[str],
        version: str = "1.1",
        keep_alive: bool = True,
        remote: str | None = None,
    ) -> None:
        self._conn = conn
        self.method = method
        #: the request target as sent: path and query, percent-encoded
        self.raw_path = raw_path
        self.headers = headers
        self.version = version
        self.keep_alive = keep_alive
        self.remote = remote
        length = headers.get("Content-Length")
        self.content_length: int | None = int(length) if length is not None else None
        te = headers.get("Transfer-Encoding")
        self.chunked = te is not None and "chunked" in te.lower()
        expect = headers.get("Expect")
        self.expect_continue = expect is not None and expect.lower() == "100-continue"
        self.content = BodyReader(conn)
        self._path: str | None = None
        self._query: MultiDictProxy[str] | None = None
        self._cookies: dict[str, str] | None = None

    @property
    def body_exists(self) -> bool:
        return self.chunked or bool(self.content_length)

    @property
    def path(self) -> str:
        """The path, percent-decoded, without the query."""
        if self._path is None:
            p = self.raw_path.partition("?")[0]
            self._path = unquote(p) if "%" in p else p
        return self._path

    @property
    def path_qs(self) -> str:
        return self.raw_path

    @property
    def query(self) -> MultiDictProxy[str]:
        if self._query is None:
            qs = self.raw_path.partition("?")[2]
            self._query = MultiDictProxy(MultiDict(parse_qsl(qs, keep_blank_values=True)))
        return self._query

    @property
    def cookies(self) -> dict[str, str]:
        if self._cookies is None:
            self._cookies = parse_cookies(self.headers.getall("Cookie", ()))
        return self._cookies

    @property
    def transport(self) -> asyncio.Transport | None:
        conn = self._conn
        return conn.transport if conn is not None else None


HeaderItems = CIMultiDict[str] | Iterable[tuple[str, str]]


class Reply:
    """A whole answer, written in one piece (head and body)."""

    __slots__ = ("body", "close", "headers", "reason", "status")

    def __init__(
        self,
        status: int = 200,
        body: bytes = b"",
        headers: HeaderItems | None = None,
        reason: str | None = None,
        content_type: str | None = None,
    ) -> None:
        self.status = status
        self.body = body
        self.reason = reason
        self.headers: CIMultiDict[str] = (
            headers if isinstance(headers, CIMultiDict) else CIMultiDict(headers or ())
        )
        if content_type is not None:
            self.headers["Content-Type"] = content_type
        #: close the connection after this answer
        self.close = False

    def force_close(self) -> None:
        self.close = True

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", "replace")


class StreamReply:
    """An answer written as it comes: ``prepare``, then ``write`` parts, then ``write_eof``.

    With ``content_length`` unset the body is sent chunked (HTTP/1.1) or delimited by
    closing the connection (HTTP/1.0).
    """

    __slots__ = ("_chunked", "_conn", "_done", "content_length", "headers", "reason", "status")

    def __init__(
        self, status: int = 200, reason: str | None = None, headers: HeaderItems | None = None
    ) -> None:
        self.status = status
        self.reason = reason
        self.headers: CIMultiDict[str] = (
            headers if isinstance(headers, CIMultiDict) else CIMultiDict(headers or ())
        )
        self.content_length: int | None = None
        self._conn: HttpConnection | None = None
        self._chunked = False
        self._done = False

    @property
    def prepared(self) -> bool:
        return self._conn is not None

    async def prepare(self, request: Request) -> None:
        conn = request._conn
        assert conn is not None, "not a request of a connection"
        self._conn = conn
        self._chunked = conn.start_stream(request, self)

    async def write(self, data: bytes) -> None:
        conn = self._conn
        assert conn is not None, "prepare() first"
        if conn.closed:
            raise ConnectionResetError("the client closed the connection")
        if not data:
            return
        if self._chunked:
            conn.write(b"%x\r\n%b\r\n" % (len(data), data))
        else:
            conn.write(data)
        await conn.drain()

    async def write_eof(self) -> None:
        conn = self._conn
        assert conn is not None, "prepare() first"
        if self._done:
            return
        self._done = True
        if self._chunked and not conn.closed:
            conn.write(b"0\r\n\r\n")


Response = Reply | StreamReply
Handler = Callable[[Request], Awaitable[Response]]


def json_error(status: int, error: str, message: str) -> Reply:
    """The server's own JSON error answer (malformed requests, handler failures)."""
    body = json.dumps({"error": error, "message": message}).encode()
    reply = Reply(status, body, content_type="application/json")
    reply.force_close()
    return reply


def _head(status: int, reason: str | None, headers: CIMultiDict[str], extra: str) -> bytes:
    lines = [f"HTTP/1.1 {status} {reason or _REASONS.get(status, 'Unknown')}\r\n"]
    lines.extend(f"{k}: {v}\r\n" for k, v in headers.items())
    if "Date" not in headers:
        lines.append(f"Date: {_date()}\r\n")
    lines.append(extra)
    lines.append("\r\n")
    return _enc("".join(lines))


#: stands in for a closed connection's parser: its own parser holds the connection (its
#: callbacks), a reference cycle that would otherwise wait for the garbage collector
_DETACHED = httptools.HttpRequestParser(object())


class HttpConnection(asyncio.Protocol):
    """One client connection: parse requests, run the handler for each in turn, answer."""

    def __init__(self, server: HttpServer) -> None:
        self.server = server
        self.parser = httptools.HttpRequestParser(self)
        self.transport: asyncio.Transport | None = None
        self.remote: str | None = None
        self.closed = False
        #: close once the answer in progress is written (shutdown, upgrade, bad input)
        self.closing = False
        self._url = b""
        self._headers: list[tuple[bytes, bytes]] = []
        self._parsing: Request | None = None
        self._in_message = False
        self._in_head = False
        self._head_bytes = 0
        #: the head of the answer in progress is out (an error now can only cut it off)
        self._head_sent = False
        #: answered while its body was still arriving: reading and dropping the rest
        self._lingering = False
        self._parser_failed = False
        self._body_pauser: BodyReader | None = None
        self._queue: deque[Request] = deque()
        self._busy = False
        self._pending_error: Reply | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._deadline: float | None = None
        self._paused_for: set[str] = set()
        self._write_paused = False
        self._drain_waiter: asyncio.Future[None] | None = None

    # -- transport events ------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass
        peer = self.transport.get_extra_info("peername")
        if isinstance(peer, tuple | list) and peer:
            self.remote = str(peer[0])
        self.server.connections.add(self)
        if self.server.stopping:  # accepted as the listener closed
            self.transport.close()
            return
        self._arm_timer()

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self.server.connections.discard(self)
        self._cancel_timer()
        if self._parsing is not None and not self._parsing.content.complete:
            self._parsing.content.set_exception(ClientClosed("the client closed the connection"))
        for req in self._queue:
            req.content.set_exception(ClientClosed("the client closed the connection"))
        self._queue.clear()
        w = self._drain_waiter
        if w is not None and not w.done():
            w.set_exception(ConnectionResetError("the client closed the connection"))
        self._drain_waiter = None
        # break the cycles through this connection (parser callbacks, the last request),
        # so a closed connection is freed at once rather than by the garbage collector
        self.parser = _DETACHED
        self._parsing = None
        self._body_pauser = None

    def data_received(self, data: bytes) -> None:
        if self._lingering and self._parser_failed:
            return  # read and dropped until the linger ends
        if self._in_head:  # llhttp holds a header field whole until its line ends
            self._head_bytes += len(data)
            if self._head_bytes > MAX_HEAD:
                msg = f"the request head exceeds {MAX_HEAD} bytes"
                self._reject(json_error(431, "header_too_large", msg))
                return
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            # upgrades are not proxied (Upgrade is hop-by-hop): the request is answered as
            # a plain one, then the connection closes, since what follows is not HTTP/1.1
            if self._parsing is not None:
                self._parsing.keep_alive = False
            self._pause("upgrade")
        except httptools.HttpParserCallbackError as exc:
            cause = exc.__context__
            if isinstance(cause, Rejected):
                self._reject(json_error(cause.status, cause.error, str(cause)))
            elif isinstance(cause, _QueueFull):
                self._queue[-1].keep_alive = False  # answer what is queued, then close
                self._pause("queue-full")
            else:
                log.exception("request parsing failed", exc_info=cause)
                self._reject(json_error(400, "bad_request", "the request could not be parsed"))
        except httptools.HttpParserError as exc:
            msg = f"malformed HTTP request: {exc}"
            if self._parsing is not None and not self._parsing.content.complete:
                self._parsing.content.set_exception(BadRequestBody(msg))
            self._reject(json_error(400, "bad_request", msg))

    def pause_writing(self) -> None:
        self._write_paused = True

    def resume_writing(self) -> None:
        self._write_paused = False
        w = self._drain_waiter
        self._drain_waiter = None
        if w is not None and not w.done():
            w.set_result(None)

    # -- llhttp callbacks --------------------------------------------------------------------

    def on_message_begin(self) -> None:
        self._in_message = True
        self._in_head = True
        self._head_bytes = 0
        self._url = b""
        self._headers = []

    def on_url(self, url: bytes) -> None:
        self._url += url
        if len(self._url) > MAX_LINE:
            raise Rejected(414, "uri_too_long", f"the request target exceeds {MAX_LINE} bytes")

    def on_header(self, name: bytes, value: bytes) -> None:
        if len(name) + len(value) > MAX_FIELD:
            raise Rejected(431, "header_too_large", f"a header field exceeds {MAX_FIELD} bytes")
        if len(self._headers) >= MAX_HEADERS:
            msg = f"the request has more than {MAX_HEADERS} header fields"
            raise Rejected(431, "header_too_large", msg)
        self._headers.append((name, value))

    def on_headers_complete(self) -> None:
        self._in_head = False
        if self._lingering:  # after a cut-off body: nothing more is served here
            return
        self._disarm_timer()
        p = self.parser
        url = self._url
        if url[:1] != b"/" and url[:4].lower() == b"http":  # absolute form: keep path+query
            try:
                parts = httptools.parse_url(url)
            except httptools.HttpParserInvalidURLError:
                msg = "the request target is not a valid URL"
                raise Rejected(400, "bad_request", msg) from None
            url = (parts.path or b"/") + (b"?" + parts.query if parts.query else b"")
        headers = CIMultiDictProxy(CIMultiDict([(_dec(n), _dec(v)) for n, v in self._headers]))
        req = Request(
            self,
            p.get_method().decode("ascii"),
            _dec(url),
            headers,
            p.get_http_version(),
            p.should_keep_alive(),
            self.remote,
        )
        if not req.body_exists:
            req.content.feed_eof()
        elif req.expect_continue and req.version == "1.1":
            req.content._continue = self._send_continue
        self._parsing = req
        if self._busy:
            self._queue.append(req)
            if len(self._queue) >= MAX_PIPELINE:
                self._pause("pipeline")
            if len(self._queue) >= MAX_QUEUED:
                raise _QueueFull
        else:
            self._start(req)

    def on_body(self, body: bytes) -> None:
        if self._parsing is not None:
            self._parsing.content.feed(body)

    def on_message_complete(self) -> None:
        self._in_message = False
        if self._lingering:  # the cut-off body is all in: close cleanly now
            self._close()
            return
        if self._parsing is not None:
            self._parsing.content.feed_eof()

    # -- answering -----------------------------------------------------------------------------

    def _start(self, req: Request) -> None:
        self._busy = True
        self._head_sent = False
        self.server.spawn(self._run(req))

    def _send_continue(self) -> None:
        if not self._head_sent:
            self.write(_CONTINUE)

    async def _run(self, req: Request) -> None:
        try:
            reply: Response
            try:
                reply = await self.server.handler(req)
            except BadRequestBody as exc:
                reply = json_error(400, "bad_request", str(exc))
            except Exception as exc:
                if not (isinstance(exc, ConnectionError) and self.closed):
                    log.exception("handler failed")
                reply = json_error(500, "internal_error", "the proxy failed on this request")
            if self._head_sent:  # streamed: finished, or cut off (upstream failed mid-body,
                if not isinstance(reply, StreamReply) or not reply._done:  # handler failed)
                    self.closing = True  # the client must see an incomplete answer
            elif isinstance(reply, StreamReply):  # never started: an empty answer
                self._write_reply(req, Reply(reply.status, b"", reply.headers, reply.reason))
            else:
                self._write_reply(req, reply)
            if self._write_paused and not self.closed:  # the client reads slowly: let
                with contextlib.suppress(ConnectionError):  # this answer drain before
                    await self.drain()  # the next pipelined request adds to it
        finally:
            self._busy = False
            self._after(req)

    def _keep(self, req: Request, close: bool) -> bool:
        return (
            req.keep_alive
            and not close
            and not self.closing
            and req.content.complete
            and not self.server.stopping
        )

    def _write_reply(self, req: Request, reply: Reply) -> None:
        if self.closed:
            return
        keep = self._keep(req, reply.close)
        status = reply.status
        body = reply.body
        if status in _NO_BODY_STATUS or status < 200 or req.method == "HEAD":
            extra = ""
            body = b""
        else:
            if "Content-Length" in reply.headers:
                del reply.headers["Content-Length"]  # framed here, from the body
            extra = f"Content-Length: {len(body)}\r\n"
        if not keep:
            extra += "Connection: close\r\n"
            self.closing = True
        elif req.version == "1.0":
            extra += "Connection: keep-alive\r\n"
        head = _head(status, reply.reason, reply.headers, extra)
        assert self.transport is not None
        self.transport.write(head + body if body else head)

    def start_stream(self, req: Request, reply: StreamReply) -> bool:
        """Write a streamed answer's head; True when its body must be sent chunked."""
        keep = self._keep(req, False)
        status = reply.status
        chunked = False
        extra = ""
        if status in _NO_BODY_STATUS or status < 200 or req.method == "HEAD":
            pass
        elif reply.content_length is not None:
            extra = f"Content-Length: {reply.content_length}\r\n"
        elif req.version == "1.1":
            extra = "Transfer-Encoding: chunked\r\n"
            chunked = True
        else:
            keep = False  # HTTP/1.0 without a length: the end of the body is the close
        if not keep:
            extra += "Connection: close\r\n"
            self.closing = True
        elif req.version == "1.0":
            extra += "Connection: keep-alive\r\n"
        self._head_sent = True
        self.write(_head(status, reply.reason, reply.headers, extra))
        return chunked

    def write(self, data: bytes) -> None:
        if not self.closed and self.transport is not None:
            self.transport.write(data)

    async def drain(self) -> None:
        if self.closed:
            raise ConnectionResetError("the client closed the connection")
        if not self._write_paused:
            return
        waiter = asyncio.get_running_loop().create_future()
        self._drain_waiter = waiter
        await waiter

    def _after(self, req: Request) -> None:
        """A request is answered: go on with the next, or close, or wait for one."""
        req.content.discard()  # an unread body: dropped (and reading resumed)
        if self.closed:
            return
        if self.closing:
            if req.content.complete:
                self._close()
            else:
                self._linger()
            return
        if self._queue:
            nxt = self._queue.popleft()
            if len(self._queue) < MAX_PIPELINE:
                self._resume("pipeline")
            self._start(nxt)
            return
        if self._pending_error is not None:
            self._write_reply(req, self._pending_error)
            self._linger(parser_failed=True)
            return
        if self.server.stopping:
            self._close()
            return
        self._arm_timer()  # also covers the head of a next request already begun

    def _reject(self, reply: Reply) -> None:
        """Answer bad input once the requests before it are answered, then close."""
        if self._lingering:
            self._close()
            return
        self._pause("rejected")
        if self._busy:
            self._pending_error = reply
            return
        if self.transport is not None and not self.closed:
            probe = Request(None, "GET", "/", CIMultiDictProxy(CIMultiDict()), "1.1", False)
            probe.content.feed_eof()
            self._write_reply(probe, reply)
        self._linger(parser_failed=True)

    def _linger(self, parser_failed: bool = False) -> None:
        """Answered, but the client may still be sending: half-close, then read and drop
        what comes for up to ``LINGER`` seconds (or until the cut-off body ends), so the
        kernel does not answer unread data with a reset that destroys the answer."""
        if self.closed or self.transport is None:
            return
        self._lingering = True
        self._parser_failed = parser_failed
        self._cancel_timer()
        transport = self.transport
        if not transport.can_write_eof():
            self._close()
            return
        transport.write_eof()
        if self._paused_for:
            self._paused_for.clear()
            transport.resume_reading()
        self._timer = asyncio.get_running_loop().call_later(LINGER, self._close)

    def _close(self) -> None:
        self._cancel_timer()
        if self.transport is not None and not self.closed:
            self.transport.close()

    # -- flow control and timers ---------------------------------------------------------------

    def _pause(self, why: str) -> None:
        if not self._paused_for and self.transport is not None and not self.closed:
            self.transport.pause_reading()
        self._paused_for.add(why)

    def _resume(self, why: str) -> None:
        if why in self._paused_for:
            self._paused_for.discard(why)
            if not self._paused_for and self.transport is not None and not self.closed:
                self.transport.resume_reading()

    def pause_for_body(self, reader: BodyReader) -> None:
        self._body_pauser = reader
        self._pause("body")

    def resume_for_body(self, reader: BodyReader) -> None:
        if self._body_pauser is reader:
            self._body_pauser = None
            self._resume("body")

    def _arm_timer(self) -> None:
        """Start the ``client_timeout`` deadline for the next request's headers.

        One timer per connection is reused across requests: a request only moves the
        deadline (a float), and a timer that fires early re-arms itself for what is left,
        so a busy keep-alive connection costs no timer churn per request.
        """
        loop = asyncio.get_running_loop()
        self._deadline = deadline = loop.time() + self.server.client_timeout
        timer = self._timer
        if timer is not None and timer.when() > deadline:  # client_timeout was lowered
            timer.cancel()
            timer = None
        if timer is None:
            self._timer = loop.call_at(deadline, self._timed_out)

    def _disarm_timer(self) -> None:
        """The headers are in: no deadline until the answer is written."""
        self._deadline = None

    def _cancel_timer(self) -> None:
        self._deadline = None
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _timed_out(self) -> None:
        """Idle, or still sending headers, for ``client_timeout``: hang up."""
        self._timer = None
        deadline = self._deadline
        if deadline is None or self._busy or self.closed:
            return  # a request is being answered: the deadline restarts after it
        loop = asyncio.get_running_loop()
        if loop.time() < deadline:  # moved on since this timer was set
            self._timer = loop.call_at(deadline, self._timed_out)
            return
        self._close()

    def shut_down(self) -> None:
        """Server stopping: close now when idle, else after the answer in progress."""
        if self._busy:
            self.closing = True
        else:
            self._close()

    def abort(self) -> None:
        if self.transport is not None and not self.closed:
            self.transport.abort()


class HttpServer:
    """Serves ``handler`` on a TCP address with ``HttpConnection`` protocols.

    Example::

        server = HttpServer(handler, client_timeout=30.0)
        host, port = await server.start("127.0.0.1", 8080)
        ...
        await server.shutdown(timeout=10.0)
    """

    def __init__(self, handler: Handler, *, client_timeout: float = 30.0) -> None:
        self.handler = handler
        #: idle / header deadline of a connection (seconds); may change while serving
        self.client_timeout = client_timeout
        self.connections: set[HttpConnection] = set()
        self.stopping = False
        self._tasks: set[asyncio.Task[None]] = set()
        self._server: asyncio.AbstractServer | None = None

    async def start(
        self, host: str, port: int, *, reuse_port: bool = False, backlog: int = 1024
    ) -> tuple[str, int]:
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(
            lambda: HttpConnection(self),
            host,
            port,
            reuse_address=True,
            reuse_port=reuse_port or None,
            backlog=backlog,
        )
        sockets = self._server.sockets
        bound = sockets[0].getsockname() if sockets else (host, port)
        return str(bound[0]), int(bound[1])

    def spawn(self, coro: Any) -> None:
        task: asyncio.Task[None] = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def shutdown(self, timeout: float) -> None:
        """Stop accepting; let requests in flight finish within ``timeout``; close all."""
        self.stopping = True
        if self._server is not None:
            self._server.close()
        for conn in list(self.connections):
            conn.shut_down()
        deadline = asyncio.get_running_loop().time() + timeout
        while self.connections or self._tasks:
            left = deadline - asyncio.get_running_loop().time()
            if left <= 0:
                break
            waiting: list[Any] = list(self._tasks)
            if not waiting:  # connections closing: their transports finish on their own
                await asyncio.sleep(min(0.01, left))
                continue
            await asyncio.wait(waiting, timeout=left)
        for conn in list(self.connections):
            conn.abort()
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.wait(list(self._tasks))
        await asyncio.sleep(0)  # let aborted transports report connection_lost
        self._server = None
