"""Answers to a client: ``Reply`` (written whole, in one write) and ``StreamReply``
(``prepare``, ``write`` parts, ``write_eof``), and the framing of an answer's head.

The head's framing (``Content-Length``, chunking, ``Connection``) is decided by the
connection's state table (``connection.py``); ``render_head`` only writes the lines.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable
from email.utils import formatdate
from http import HTTPStatus
from typing import TYPE_CHECKING

from multidict import CIMultiDict

if TYPE_CHECKING:
    from shadowgate.http.request import Request
    from shadowgate.http.server import HttpConnection


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


def json_error(status: int, error: str, message: str) -> Reply:
    """The server's own JSON error answer (malformed requests, handler failures)."""
    body = json.dumps({"error": error, "message": message}).encode()
    reply = Reply(status, body, content_type="application/json")
    reply.force_close()
    return reply


def render_head(status: int, reason: str | None, headers: CIMultiDict[str], extra: str) -> bytes:
    """An answer's status line and header lines; ``extra`` holds the framing lines."""
    lines = [f"HTTP/1.1 {status} {reason or _REASONS.get(status, 'Unknown')}\r\n"]
    lines.extend(f"{k}: {v}\r\n" for k, v in headers.items())
    if "Date" not in headers:
        lines.append(f"Date: {_date()}\r\n")
    lines.append(extra)
    lines.append("\r\n")
    return _enc("".join(lines))
