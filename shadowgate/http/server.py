"""The data plane's HTTP/1.1 server: a thin asyncio adapter around ``connection.py``.

Every client request passes through the server twice (its request parsed, its answer
written), so like the upstream client it does only what a reverse proxy needs, and
nothing a general web framework adds per request (routing tables, middleware chains,
request objects with dozens of lazily built properties, access-log machinery).

What a connection does, and when, is decided by its sans-IO state table
(``connection.ServerConnection``: parsing with llhttp and its limits, keep-alive,
pipelining, read flow control, ``100 Continue``, linger after an unread body, the one
deadline). ``HttpConnection`` here only moves bytes between the transport and that
table, runs one handler task per request in order, and keeps one timer on the table's
``deadline``:

- request bodies are streamed to the handler (``request.BodyReader``), reading paused
  while more than 256 kB of an unread body is buffered; a body left unread is discarded
  after the answer;
- answers are written whole in one write (``Reply``), or streamed (``StreamReply``) with
  write flow control; the next pipelined request starts once the previous answer drained;
- a handler that fails gives a JSON 500, a client that goes away never cancels a handler
  (the proxy still records the exchange);
- graceful shutdown: stop accepting, close idle connections, let requests in flight
  finish (their connections close after the answer) within a deadline, then abort.

The names handlers import (``Request``, ``Reply``, ``StreamReply``, ``Response``,
``BodyReader``, ``json_error``, the limits) stay importable from here.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
from collections.abc import Awaitable, Callable
from typing import Any, cast

from multidict import CIMultiDict, CIMultiDictProxy

from shadowgate.http import events as core
from shadowgate.http.connection import (
    LINGER,
    MAX_FIELD,
    MAX_HEAD,
    MAX_HEADERS,
    MAX_LINE,
    MAX_PIPELINE,
    MAX_QUEUED,
    ServerConnection,
)
from shadowgate.http.events import Rejected
from shadowgate.http.reply import HeaderItems, Reply, Response, StreamReply, json_error
from shadowgate.http.request import (
    HIGH_WATER,
    BadRequestBody,
    BodyReader,
    ClientClosed,
    Request,
    parse_cookies,
)

__all__ = [
    "HIGH_WATER",
    "LINGER",
    "MAX_FIELD",
    "MAX_HEAD",
    "MAX_HEADERS",
    "MAX_LINE",
    "MAX_PIPELINE",
    "MAX_QUEUED",
    "BadRequestBody",
    "BodyReader",
    "ClientClosed",
    "Handler",
    "HeaderItems",
    "HttpConnection",
    "HttpServer",
    "Rejected",
    "Reply",
    "Request",
    "Response",
    "StreamReply",
    "json_error",
    "parse_cookies",
]

log = logging.getLogger("shadowgate.gateway")

Handler = Callable[[Request], Awaitable[Response]]


def _dec(raw: bytes) -> str:
    return raw.decode("utf-8", "surrogateescape")


class HttpConnection(asyncio.Protocol):
    """One client connection: bytes to and from its ``ServerConnection``, one handler
    task per request in turn, one timer on the table's deadline."""

    def __init__(self, server: HttpServer) -> None:
        self.server = server
        self.state: ServerConnection | None = None
        self.transport: asyncio.Transport | None = None
        self.remote: str | None = None
        self.closed = False
        self._requests: dict[int, Request] = {}
        self._timer: asyncio.TimerHandle | None = None
        #: when the timer is due (inf: none); a later deadline needs no new timer
        self._armed_for = math.inf
        self._body_pauser: BodyReader | None = None
        self._write_paused = False
        self._drain_waiter: asyncio.Future[None] | None = None

    # -- carrying out the table's events ---------------------------------------------------

    def _do(self, events: list[core.Event]) -> None:
        req: Request | None
        for ev in events:  # the most frequent first
            if isinstance(ev, core.RequestHead):
                new = self._requests[ev.seq] = self._request(ev)
                if not ev.has_body:
                    new.content.feed_eof()
                if ev.start:
                    self.server.spawn(self._run(ev.seq, new))
            elif isinstance(ev, core.Body):
                req = self._requests.get(ev.seq)
                if req is not None:
                    req.content.feed(ev.data)
            elif isinstance(ev, core.BodyEnd):
                req = self._requests.get(ev.seq)
                if req is not None:
                    req.content.feed_eof()
            elif isinstance(ev, core.Write):
                if not self.closed and self.transport is not None:
                    self.transport.write(ev.data)
            elif isinstance(ev, core.StartRequest):
                self.server.spawn(self._run(ev.seq, self._requests[ev.seq]))
            elif isinstance(ev, core.PauseReading):
                if self.transport is not None and not self.closed:
                    self.transport.pause_reading()
            elif isinstance(ev, core.ResumeReading):
                if self.transport is not None and not self.closed:
                    self.transport.resume_reading()
            elif isinstance(ev, core.WriteEof):
                if self.transport is not None and not self.closed:
                    self.transport.write_eof()
            elif isinstance(ev, core.Close):
                self._cancel_timer()
                if self.transport is not None and not self.closed:
                    self.transport.close()
            elif isinstance(ev, core.BodyFailed):
                req = self._requests.get(ev.seq)
                if req is not None:
                    req.content.set_exception(BadRequestBody(ev.message))
            elif isinstance(ev, core.ClientGone):
                for seq in ev.seqs:
                    req = self._requests.get(seq)
                    if req is not None:
                        req.content.set_exception(ClientClosed("the client closed the connection"))
        st = self.state
        if st is not None and (d := st.deadline) is not None and d < self._armed_for:
            self._sync_timer()  # a timer due later than the deadline; an earlier one re-arms

    def _request(self, head: core.RequestHead) -> Request:
        headers = CIMultiDictProxy(CIMultiDict([(_dec(n), _dec(v)) for n, v in head.headers]))
        req = Request(
            self,
            head.method,
            _dec(head.target),
            headers,
            head.version,
            head.keep_alive,
            self.remote,
        )
        if head.expect_continue and head.version == "1.1" and head.has_body:
            req.content._continue = self._send_continue
        return req

    def _sync_timer(self) -> None:
        """One timer per connection, reused across requests: a request only moves the
        deadline (a float); a timer that fires early re-arms itself for what is left."""
        st = self.state
        deadline = st.deadline if st is not None else None
        if deadline is None or self.closed:
            return
        timer = self._timer
        if timer is not None and timer.when() > deadline:  # the deadline came closer
            timer.cancel()
            timer = None
        if timer is None:
            self._timer = asyncio.get_running_loop().call_at(deadline, self._timed_out)
            self._armed_for = deadline

    def _timed_out(self) -> None:
        self._timer = None
        self._armed_for = math.inf
        if self.state is not None and not self.closed:
            self._do(self.state.timer(asyncio.get_running_loop().time()))

    def _cancel_timer(self) -> None:
        self._armed_for = math.inf
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    # -- transport events ------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass
        peer = self.transport.get_extra_info("peername")
        if isinstance(peer, tuple | list) and peer:
            self.remote = str(peer[0])
        self.server.connections.add(self)
        now = asyncio.get_running_loop().time()
        self.state = ServerConnection(
            now, self.server.client_timeout, self.transport.can_write_eof()
        )
        if self.server.stopping:  # accepted as the listener closed
            self._do(self.state.shut_down())
            return
        self._sync_timer()

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self.server.connections.discard(self)
        self._cancel_timer()
        if self.state is not None:
            self._do(self.state.connection_lost())
        w = self._drain_waiter
        if w is not None and not w.done():
            w.set_exception(ConnectionResetError("the client closed the connection"))
        self._drain_waiter = None
        # break the cycles through this connection (requests, their readers)
        self._requests.clear()
        self._body_pauser = None

    def data_received(self, data: bytes) -> None:
        if self.state is not None and (
            events := self.state.receive_data(data, asyncio.get_running_loop().time())
        ):
            self._do(events)

    def pause_writing(self) -> None:
        self._write_paused = True

    def resume_writing(self) -> None:
        self._write_paused = False
        w = self._drain_waiter
        self._drain_waiter = None
        if w is not None and not w.done():
            w.set_result(None)

    # -- answering -------------------------------------------------------------------------

    def _send_continue(self) -> None:
        if self.state is not None:
            self.write(self.state.send_continue())

    async def _run(self, seq: int, req: Request) -> None:
        st = self.state
        assert st is not None
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
            if st.head_sent:  # streamed: finished, or cut off (upstream failed mid-body,
                if not isinstance(reply, StreamReply) or not reply._done:  # handler failed)
                    st.cut_off()  # the client must see an incomplete answer
            elif isinstance(reply, StreamReply):  # never started: an empty answer
                self.write(st.answer(Reply(reply.status, b"", reply.headers, reply.reason)))
            else:
                self.write(st.answer(reply))
            if self._write_paused and not self.closed:  # the client reads slowly: let
                with contextlib.suppress(ConnectionError):  # this answer drain before
                    await self.drain()  # the next pipelined request adds to it
        finally:
            req.content.discard()  # an unread body: dropped (and reading resumed)
            self._requests.pop(seq, None)
            now = asyncio.get_running_loop().time()
            events = st.answered(now, self.server.client_timeout)
            if events or ((d := st.deadline) is not None and d < self._armed_for):
                self._do(events)

    def start_stream(self, req: Request, reply: StreamReply) -> bool:
        """Write a streamed answer's head; True when its body must be sent chunked."""
        assert self.state is not None
        head, chunked = self.state.start_stream(
            reply.status, reply.reason, reply.headers, reply.content_length
        )
        self.write(head)
        return chunked

    def write(self, data: bytes) -> None:
        if data and not self.closed and self.transport is not None:
            self.transport.write(data)

    async def drain(self) -> None:
        if self.closed:
            raise ConnectionResetError("the client closed the connection")
        if not self._write_paused:
            return
        waiter = asyncio.get_running_loop().create_future()
        self._drain_waiter = waiter
        await waiter

    # -- flow control (asked by the body reader) -------------------------------------------

    def pause_for_body(self, reader: BodyReader) -> None:
        self._body_pauser = reader
        if self.state is not None:
            self._do(self.state.pause("body"))

    def resume_for_body(self, reader: BodyReader) -> None:
        if self._body_pauser is reader:
            self._body_pauser = None
            if self.state is not None:
                self._do(self.state.resume("body"))

    def shut_down(self) -> None:
        """Server stopping: close now when idle, else after the answer in progress."""
        if self.state is not None:
            self._do(self.state.shut_down())

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
