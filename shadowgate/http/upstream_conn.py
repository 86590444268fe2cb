"""One keep-alive connection to an upstream: an asyncio Protocol around llhttp.

One request at a time. The answer is parsed by ``httptools`` (llhttp) and fed to its
``Response``; the exchange's timestamps are taken here, in the protocol callbacks
(``response.py`` lists them). The connection remembers how long it may sit idle: the
pool's ``idle_timeout``, lowered to what the upstream announces in ``Keep-Alive:
timeout=N``, so it is never reused after the upstream has dropped it.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, cast

import httptools

from shadowgate.http.response import HIGH_WATER, Response, UpstreamError
from shadowgate.http.timeout import Clock

if TYPE_CHECKING:
    from shadowgate.http.pool import Pool

_KEEP_ALIVE_TIMEOUT = re.compile(r"(?:^|[,;\s])timeout\s*=\s*(\d+(?:\.\d+)?)", re.IGNORECASE)
#: bytes of a body written per write before waiting for the transport to drain
_WRITE_SLICE = 256 * 1024


def _wake(fut: asyncio.Future[None] | None) -> None:
    if fut is not None and not fut.done():
        fut.set_result(None)


def keep_alive_limit(value: str) -> float | None:
    """How long (s) to keep a connection idle after ``Keep-Alive: <value>``, or None.

    The upstream's clock started when it sent its answer, ours when the answer arrived:
    leave a margin (1 s, or half of a timeout under 2 s) so our idle limit ends first.
    """
    m = _KEEP_ALIVE_TIMEOUT.search(value)
    if m is None:
        return None
    n = float(m.group(1))
    return max(n - 1.0, n / 2)


#: the parser of a connection not (or no longer) connected. A connection's own parser holds
#: its callbacks, the connection, so the two form a reference cycle that only the garbage
#: collector can free: it is made on connecting and dropped on closing, so that connects
#: that fail (uvloop makes the protocol before connecting; a dead upstream costs one per
#: mirror) and closed connections leave no cyclic garbage behind
_DETACHED = httptools.HttpResponseParser(object())


class UpstreamConnection(asyncio.Protocol):
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
        "clock",
        "closed",
        "counted",
        "head_request",
        "idle_limit",
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
        self.clock: Clock = pool.clock
        self.transport: asyncio.Transport | None = None
        self.parser = _DETACHED
        self.response: Response | None = None
        self.closed = False
        self.counted = True  # counts toward the pool's open connections
        self.keep = True  # may be reused after the current answer
        self.head_request = False
        self.idle_since = 0.0
        #: seconds this connection may stay idle and still be reused
        self.idle_limit = pool.idle_timeout
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
        resp = self.response
        if resp is None:
            self._fail(UpstreamError("reset", "data from the upstream while idle"))
            return
        if resp.t_first_byte is None:
            resp.t_first_byte = self.clock()
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
                resp.t_done = self.clock()
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
            elif lk == "keep-alive":
                limit = keep_alive_limit(v)
                if limit is not None and limit < self.idle_limit:
                    self.idle_limit = limit
        resp.content_length = length
        no_body = self.head_request or status in (204, 304)
        self._until_eof = length is None and not chunked and not no_body
        w = self._head_waiter
        self._head_waiter = None
        if self.head_request:
            # llhttp cannot be told a request was HEAD: the answer ends with its headers,
            # and this connection is not reused (the parser would expect a body)
            self.keep = False
            resp.t_done = self.clock()
            resp._finish(None)
            self._cancel_timer()
        if w is not None and not w.done():
            w.set_result(resp)

    def on_body(self, body: bytes) -> None:
        resp = self.response
        if resp is None or resp._done:
            return
        resp._feed(body)
        if resp._buffered >= HIGH_WATER and not self._paused_reading:
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
        resp.t_done = self.clock()
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

    def start(
        self, head: bytes, deadline: float, loop: asyncio.AbstractEventLoop, last: bool
    ) -> Response:
        """Begin a request: arm the deadline and write the head (and joined body).

        ``last``: these are the request's last bytes, so ``t_sent`` is taken right after
        the write returns; otherwise ``write_body`` takes it after the body's last write.
        """
        assert self.transport is not None
        resp = Response(self)
        self.response = resp
        self._until_eof = False
        self._head_waiter = loop.create_future()
        self._timer = loop.call_at(deadline, self._on_timeout)
        self.uses += 1
        self.transport.write(head)
        if last:
            resp.t_sent = self.clock()
        return resp

    async def write_body(self, body: bytes | AsyncIterator[bytes], chunked: bool) -> None:
        transport = self.transport
        assert transport is not None
        if isinstance(body, bytes):
            view = memoryview(body)
            for i in range(0, len(body), _WRITE_SLICE):
                if self.closed:
                    return
                transport.write(view[i : i + _WRITE_SLICE])
                if i + _WRITE_SLICE >= len(body):
                    self._sent()
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
        if self.closed:
            return
        if chunked:
            transport.write(b"0\r\n\r\n")
        self._sent()

    def _sent(self) -> None:
        resp = self.response
        if resp is not None and resp.t_sent is None:
            resp.t_sent = self.clock()

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
