"""A client request as the handler sees it: its head at once, its body as it arrives.

``Request`` keeps aiohttp's names for what the proxy uses (``headers``, ``path``,
``raw_path``, ``content``), so handlers read the same as before. ``BodyReader`` is fed by
the connection (``server.py``) and asks it to pause reading while more than
``HIGH_WATER`` bytes of an unread body are buffered.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncIterator, Callable, Iterable
from typing import TYPE_CHECKING
from urllib.parse import parse_qsl, unquote

from multidict import CIMultiDictProxy, MultiDict, MultiDictProxy

from shadowgate.errors import BadRequestError, ShadowgateError

if TYPE_CHECKING:
    from shadowgate.http.server import HttpConnection

#: reading from a client pauses while this much of an unread request body is buffered
HIGH_WATER = 256 * 1024


class BadRequestBody(BadRequestError):
    """The client's request body was malformed (e.g. a bad chunk size): answered 400."""

    def __init__(self, message: str) -> None:
        super().__init__(message, 400)


class ClientClosed(ConnectionResetError, ShadowgateError):
    """The client closed its connection before its request was complete (a
    ``ConnectionError`` too, so handlers that stop on those stop on it)."""


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
