"""One client connection's HTTP/1.1 state, sans-IO: bytes and "now" in, events out.

No sockets, no asyncio, no clock: the asyncio adapter (``server.py``) feeds what arrives
(``receive_data``), says when a handler finished (``answered``) or the timer fired
(``timer``), and carries out what comes back: ``Write``, ``WriteEof``, ``Close``,
``PauseReading``/``ResumeReading``, and the requests to serve (``RequestHead``, then
``start`` set when its turn is now, else ``StartRequest`` when it comes; its body as
``Body``/``BodyEnd``/``BodyFailed``, a request without a body being complete at once).
``deadline`` is when ``timer`` must next be called (None: no timer needed).

Everything that moves the connection's phase is in ``TRANSITIONS``::

    IDLE ──request──► ANSWERING ──answered_next──► ANSWERING (the next pipelined one)
     │  ▲                 │ └──answered_idle──► IDLE (keep-alive; client_timeout runs)
     │  └─────────────────┘ ├─answered_close─► CLOSED
     │                      └─answered_linger► LINGER (body still arriving / bad input)
     ├──reject──► LINGER ──body_end | timeout──► CLOSED
     └──timeout | shutdown──► CLOSED            (any) ──lost──► CLOSED

Rules kept here: request line ≤ ``MAX_LINE`` (else 414), each header field ≤
``MAX_FIELD``, ≤ ``MAX_HEADERS`` fields and a head ≤ ``MAX_HEAD`` (else 431), anything
llhttp rejects → 400 and close; answers in request order, reading paused while
``MAX_PIPELINE`` requests wait and cut off at ``MAX_QUEUED``; an upgrade is answered as a
plain request, then the connection closes; after an answer whose request body is still
arriving, the connection half-closes and reads and drops for up to ``LINGER`` seconds so
the client sees the answer rather than a reset.
"""

from __future__ import annotations

import logging
from collections import deque
from typing import Final, Literal

import httptools
from multidict import CIMultiDict

from shadowgate.http import events as ev
from shadowgate.http import framing
from shadowgate.http.events import Event, LocalProtocolError, Rejected, RequestHead
from shadowgate.http.reply import Reply, json_error

log = logging.getLogger("shadowgate.gateway")

#: longest request line (method, target, version) accepted
MAX_LINE = 8190
#: longest header field (name and value) accepted
MAX_FIELD = 8190
#: most header fields accepted in one request
MAX_HEADERS = 128
#: most bytes of one request head (request line and header fields together)
MAX_HEAD = 64 * 1024
#: reading from a client pauses while this many pipelined requests wait for their turn
MAX_PIPELINE = 16
#: a client that sends this many requests in one go without reading answers is cut off
MAX_QUEUED = 128
#: after answering a request whose body is still arriving, read and drop the rest this
#: long (seconds) before closing, so that closing does not reset the answer away
LINGER = 2.0
CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"


#: a connection's phase, and what moves it: plain strings in namespaces rather than
#: enums, since an enum member costs ~0.5 µs per access on Python 3.11 and the table is
#: consulted several times per request
Phase = Literal["idle", "answering", "linger", "closed"]
Move = Literal[
    "request",
    "answered_next",
    "answered_idle",
    "answered_close",
    "answered_linger",
    "reject",
    "body_end",
    "timeout",
    "shutdown",
    "lost",
]


class State:
    IDLE: Final = "idle"  # no request being answered; the next head may be arriving
    ANSWERING: Final = "answering"  # a handler runs; later requests queue behind it
    LINGER: Final = "linger"  # answered and half-closed; what still arrives is dropped
    CLOSED: Final = "closed"


class Ev:
    REQUEST: Final = "request"
    ANSWERED_NEXT: Final = "answered_next"
    ANSWERED_IDLE: Final = "answered_idle"
    ANSWERED_CLOSE: Final = "answered_close"
    ANSWERED_LINGER: Final = "answered_linger"
    REJECT: Final = "reject"
    BODY_END: Final = "body_end"
    TIMEOUT: Final = "timeout"
    SHUTDOWN: Final = "shutdown"
    LOST: Final = "lost"


TRANSITIONS: dict[tuple[Phase, Move], Phase] = {
    (State.IDLE, Ev.REQUEST): State.ANSWERING,
    (State.ANSWERING, Ev.ANSWERED_NEXT): State.ANSWERING,
    (State.ANSWERING, Ev.ANSWERED_IDLE): State.IDLE,
    (State.ANSWERING, Ev.ANSWERED_CLOSE): State.CLOSED,
    (State.ANSWERING, Ev.ANSWERED_LINGER): State.LINGER,
    (State.IDLE, Ev.REJECT): State.LINGER,
    (State.LINGER, Ev.REJECT): State.CLOSED,
    (State.LINGER, Ev.BODY_END): State.CLOSED,
    (State.IDLE, Ev.TIMEOUT): State.CLOSED,
    (State.LINGER, Ev.TIMEOUT): State.CLOSED,
    (State.IDLE, Ev.SHUTDOWN): State.CLOSED,
    (State.LINGER, Ev.SHUTDOWN): State.CLOSED,
    (State.IDLE, Ev.LOST): State.CLOSED,
    (State.ANSWERING, Ev.LOST): State.CLOSED,
    (State.LINGER, Ev.LOST): State.CLOSED,
    (State.CLOSED, Ev.LOST): State.CLOSED,
}


class _QueueFull(Exception):
    """Too many pipelined requests at once: stop parsing, answer those already queued."""


class ServerConnection:
    """The state of one client connection (see the module's docstring)."""

    def __init__(self, now: float, client_timeout: float, can_write_eof: bool = True) -> None:
        self.state: Phase = State.IDLE
        self.parser = httptools.HttpRequestParser(self)
        self.can_write_eof = can_write_eof
        #: when ``timer`` must next be called
        self.deadline: float | None = now + client_timeout
        #: close once the answer in progress is written (shutdown, upgrade, bad input)
        self.closing = False
        #: the head of the answer in progress is out (an error now can only cut it off)
        self.head_sent = False
        self.current: RequestHead | None = None
        self._out: list[Event] = []
        self._seq = 0
        self._parsing: RequestHead | None = None
        self._queue: deque[RequestHead] = deque()
        self._url = b""
        self._headers: list[tuple[bytes, bytes]] = []
        self._in_head = False
        self._head_bytes = 0
        self._parser_failed = False
        self._pending_error: Reply | None = None
        self._paused_for: set[str] = set()

    # -- the table ---------------------------------------------------------------------------

    def _go(self, move: Move) -> None:
        nxt = TRANSITIONS.get((self.state, move))
        if nxt is None:
            msg = f"{move} is not allowed in state {self.state}"
            raise LocalProtocolError(msg)
        self.state = nxt
        if nxt == State.CLOSED:
            self.deadline = None

    def _take(self) -> list[Event]:
        out, self._out = self._out, []
        return out

    # -- fed by the adapter ------------------------------------------------------------------

    def receive_data(self, data: bytes, now: float) -> list[Event]:
        if self.state == State.CLOSED or (self.state == State.LINGER and self._parser_failed):
            return []  # read and dropped until the linger ends
        if self._in_head:  # llhttp holds a header field whole until its line ends
            self._head_bytes += len(data)
            if self._head_bytes > MAX_HEAD:
                msg = f"the request head exceeds {MAX_HEAD} bytes"
                self._reject(json_error(431, "header_too_large", msg), now)
                return self._take()
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
                self._reject(json_error(cause.status, cause.error, str(cause)), now)
            elif isinstance(cause, _QueueFull):
                self._queue[-1].keep_alive = False  # answer what is queued, then close
                self._pause("queue-full")
            else:
                log.exception("request parsing failed", exc_info=cause)
                self._reject(json_error(400, "bad_request", "the request could not be parsed"), now)
        except httptools.HttpParserError as exc:
            msg = f"malformed HTTP request: {exc}"
            p = self._parsing
            if p is not None and not p.complete:
                self._out.append(ev.BodyFailed(p.seq, msg))
            self._reject(json_error(400, "bad_request", msg), now)
        return self._take()

    def timer(self, now: float) -> list[Event]:
        """The timer fired: hang up when the deadline has passed, else wait on."""
        if self.deadline is None or now < self.deadline:
            return []
        if self.state in (State.IDLE, State.LINGER):
            self._close(Ev.TIMEOUT)
        return self._take()

    def connection_lost(self) -> list[Event]:
        gone = [h.seq for h in self._queue]
        if self._parsing is not None and not self._parsing.complete:
            gone.insert(0, self._parsing.seq)
        self._go(Ev.LOST)
        self._queue.clear()
        self._parsing = None
        self.parser = _DETACHED  # breaks the parser <-> connection cycle
        return [ev.ClientGone(tuple(gone))] if gone else []

    def shut_down(self) -> list[Event]:
        """Server stopping: close now when not answering, else after this answer."""
        if self.state == State.ANSWERING:
            self.closing = True
        elif self.state != State.CLOSED:
            self._close(Ev.SHUTDOWN)
        return self._take()

    # -- reading flow control ----------------------------------------------------------------

    def pause(self, why: str) -> list[Event]:
        self._pause(why)
        return self._take()

    def resume(self, why: str) -> list[Event]:
        self._resume(why)
        return self._take()

    def _pause(self, why: str) -> None:
        if not self._paused_for and self.state != State.CLOSED:
            self._out.append(ev.PauseReading())
        self._paused_for.add(why)

    def _resume(self, why: str) -> None:
        if why in self._paused_for:
            self._paused_for.discard(why)
            if not self._paused_for and self.state != State.CLOSED:
                self._out.append(ev.ResumeReading())

    # -- answering ---------------------------------------------------------------------------

    def send_continue(self) -> bytes:
        """The handler waits for a body whose client asked ``Expect: 100-continue``: the
        interim answer to write, unless the answer's head is already out."""
        if not self.head_sent and self.state == State.ANSWERING:
            return CONTINUE
        return b""

    def _keep(self, req: RequestHead, close: bool) -> bool:
        return req.keep_alive and not close and not self.closing and req.complete

    def _render(self, req: RequestHead, reply: Reply) -> bytes:
        keep = req.keep_alive and not reply.close and not self.closing and req.complete
        if not keep:
            self.closing = True
        return framing.whole(req, reply, keep)

    def answer(self, reply: Reply) -> bytes:
        """The handler's whole answer: its bytes, framed, to write in one piece (as h11's
        ``send``; nothing once the connection is closed)."""
        req = self.current
        if req is None or self.state == State.CLOSED:
            return b""
        return self._render(req, reply)

    def start_stream(
        self,
        status: int,
        reason: str | None,
        headers: CIMultiDict[str],
        content_length: int | None,
    ) -> tuple[bytes, bool]:
        """A streamed answer's head to write; True when its body must be sent chunked."""
        req = self.current
        assert req is not None, "no request is being answered"
        head, chunked, keep = framing.stream_head(
            req, status, reason, headers, content_length, self._keep(req, False)
        )
        if not keep:
            self.closing = True
        self.head_sent = True
        return head, chunked

    def cut_off(self) -> None:
        """A streamed answer ended early: the client must see it incomplete (close)."""
        self.closing = True

    def answered(self, now: float, client_timeout: float) -> list[Event]:
        """The current request is answered: go on with the next, or close, or wait."""
        req = self.current
        self.current = None
        if self.state != State.ANSWERING or req is None:
            return self._take()
        if self.closing:
            if req.complete:
                self._close(Ev.ANSWERED_CLOSE)
            else:
                self._linger(Ev.ANSWERED_LINGER, now, parser_failed=False)
        elif self._queue:
            nxt = self._queue.popleft()
            if len(self._queue) < MAX_PIPELINE:
                self._resume("pipeline")
            self._go(Ev.ANSWERED_NEXT)
            self._begin(nxt)
        elif self._pending_error is not None:
            self._out.append(ev.Write(self._render(_PROBE, self._pending_error)))
            self._linger(Ev.ANSWERED_LINGER, now, parser_failed=True)
        else:
            self._go(Ev.ANSWERED_IDLE)
            self.deadline = now + client_timeout  # also covers a next head already begun
        return self._take()

    def _begin(self, req: RequestHead) -> None:
        self.current = req
        self.head_sent = False
        self._out.append(ev.StartRequest(req.seq))

    def _reject(self, reply: Reply, now: float) -> None:
        """Answer bad input once the requests before it are answered, then close."""
        if self.state == State.LINGER:
            self._close(Ev.REJECT)
            return
        self._pause("rejected")
        if self.state == State.ANSWERING:
            self._pending_error = reply
            return
        if self.state == State.IDLE:
            self._out.append(ev.Write(self._render(_PROBE, reply)))
            self._linger(Ev.REJECT, now, parser_failed=True)

    def _linger(self, move: Move, now: float, parser_failed: bool) -> None:
        """Answered, but the client may still be sending: half-close, then read and drop
        what comes for up to ``LINGER`` seconds (or until the cut-off body ends), so the
        kernel does not answer unread data with a reset that destroys the answer."""
        self._go(move)
        if not self.can_write_eof:
            self._close(Ev.BODY_END)
            return
        self._parser_failed = parser_failed
        self._out.append(ev.WriteEof())
        if self._paused_for:
            self._paused_for.clear()
            self._out.append(ev.ResumeReading())
        self.deadline = now + LINGER

    def _close(self, move: Move) -> None:
        self._go(move)
        self._out.append(ev.Close())

    # -- llhttp callbacks --------------------------------------------------------------------

    def on_message_begin(self) -> None:
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
        if self.state == State.LINGER:  # after a cut-off body: nothing more is served here
            return
        self.deadline = None  # the head is in: no deadline until the answer is written
        p = self.parser
        url = self._url
        if url[:1] != b"/" and url[:4].lower() == b"http":  # absolute form: keep path+query
            try:
                parts = httptools.parse_url(url)
            except httptools.HttpParserInvalidURLError:
                msg = "the request target is not a valid URL"
                raise Rejected(400, "bad_request", msg) from None
            url = (parts.path or b"/") + (b"?" + parts.query if parts.query else b"")
        has_body, expect = ev.body_expected(self._headers)
        self._seq += 1
        head = RequestHead(
            self._seq,
            p.get_method().decode("ascii"),
            url,
            self._headers,
            p.get_http_version(),
            p.should_keep_alive(),
            has_body,
            expect,
            complete=not has_body,
        )
        self._parsing = head
        self._out.append(head)
        if self.state == State.ANSWERING:
            self._queue.append(head)
            if len(self._queue) >= MAX_PIPELINE:
                self._pause("pipeline")
            if len(self._queue) >= MAX_QUEUED:
                raise _QueueFull
        else:
            self._go(Ev.REQUEST)
            self.current = head
            self.head_sent = False
            head.start = True

    def on_body(self, body: bytes) -> None:
        if self._parsing is not None and self.state != State.LINGER:
            self._out.append(ev.Body(self._parsing.seq, body))

    def on_message_complete(self) -> None:
        if self.state == State.LINGER:  # the cut-off body is all in: close cleanly now
            self._close(Ev.BODY_END)
            return
        p = self._parsing
        if p is not None and not p.complete:
            p.complete = True
            self._out.append(ev.BodyEnd(p.seq))


#: the context of an answer to bad input: no request to go with it, the connection closes
_PROBE = RequestHead(0, "GET", b"/", [], "1.1", False, False, False, complete=True)
#: stands in for a closed connection's parser: its own parser holds the connection (its
#: callbacks), a reference cycle that would otherwise wait for the garbage collector
_DETACHED = httptools.HttpRequestParser(object())
