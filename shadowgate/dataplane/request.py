"""What the handler reads from a client request: its body (bounded) and its sticky key."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator

from multidict import CIMultiDict

from shadowgate.dataplane.forward import SMALL_BODY
from shadowgate.dataplane.table import RouteEntry
from shadowgate.http.server import Request


class TooLarge:
    """Marker: the request body exceeded ``server.max_body_size`` (answer 413)."""


TOO_LARGE = TooLarge()
RequestBody = bytes | AsyncIterator[bytes] | None


def sticky_key(request: Request, entry: RouteEntry) -> str | None:
    """The value users are kept sticky by (``canary.sticky``), or None if absent."""
    kind = entry.sticky_kind
    if kind is None:
        return None
    if kind == "header":
        return request.headers.get(entry.sticky_name)
    if kind == "cookie":
        return request.cookies.get(entry.sticky_name)
    return request.query.get(entry.sticky_name)


async def read_body(
    request: Request, headers: CIMultiDict[str], limit: int, buffer: bool
) -> RequestBody | TooLarge:
    """The request body: bytes, or a stream (large, known length, not recorded), or None."""
    length = request.content_length
    if length is not None:
        if length == 0:
            return b""
        if not buffer and length > SMALL_BODY:
            headers["Content-Length"] = str(length)
            return request.content.iter_chunked(64 * 1024)
        return await request.content.readexactly(length)
    if not request.body_exists:
        return None
    parts: list[bytes] = []
    total = 0
    while chunk := await request.content.readany():
        total += len(chunk)
        if total > limit:
            return TOO_LARGE
        parts.append(chunk)
    return b"".join(parts)


class _RequestIds:
    """128-bit random request ids, 256 per ``os.urandom`` call rather than one (a syscall
    per request showed in profiles)."""

    __slots__ = ("_hex", "_pos")

    def __init__(self) -> None:
        self._hex = ""
        self._pos = 0

    def __call__(self) -> str:
        i = self._pos
        if i >= len(self._hex):
            self._hex = os.urandom(4096).hex()
            i = 0
        self._pos = i + 32
        return self._hex[i : i + 32]


#: a new request id: 32 lowercase hex digits, like ``uuid.uuid4().hex``
new_request_id = _RequestIds()
