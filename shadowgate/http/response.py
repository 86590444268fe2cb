"""An upstream's answer as the client hands it out, and the client's errors.

``Response`` is fed by its connection's protocol callbacks (``upstream_conn.py``) and read
by the caller. It carries the exchange's three timestamps, taken in those callbacks on
``timeout.clock`` (never after a coroutine got scheduled), so that production's and the
candidate's latencies are measured at the same points (``docs/latency.md``):

- ``t_sent``: right after the call that wrote the request's last bytes returned;
- ``t_first_byte``: on the first ``data_received`` of this answer (interim 1xx included);
- ``t_done``: on ``on_message_complete`` (or the EOF that ends an answer without length).
"""

from __future__ import annotations

import asyncio
from collections import deque
from typing import TYPE_CHECKING, Literal

from shadowgate.errors import ShadowgateError

if TYPE_CHECKING:
    from shadowgate.http.upstream_conn import UpstreamConnection

ErrorKind = Literal["connect", "timeout", "reset"]

#: read no further from an upstream while this much of a streamed answer is unconsumed
HIGH_WATER = 512 * 1024


class UpstreamError(ShadowgateError):
    """Talking to an upstream failed; ``kind`` is the transport error class the recorder
    stores (``connect``, ``timeout``, ``reset``). The proxy answers the client 502 (504
    for ``timeout``): check the upstream's URL, health and timeouts."""

    def __init__(self, kind: ErrorKind, detail: str) -> None:
        self.kind: ErrorKind = kind
        super().__init__(f"{kind}: {detail}")

    @property
    def status_hint(self) -> int:
        return 504 if self.kind == "timeout" else 502


class BodyTooLarge(ShadowgateError):
    """An answer's body exceeded the caller's cap (raise ``server.max_body_size`` or
    shrink the answer); the connection is closed rather than drained."""

    def __init__(self, size: int) -> None:
        self.size = size
        super().__init__(f"body larger than the cap (at least {size} bytes)")


def _wake(fut: asyncio.Future[None] | None) -> None:
    """Resolve a waiter, if any and not already resolved or cancelled."""
    if fut is not None and not fut.done():
        fut.set_result(None)


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
        "t_done",
        "t_first_byte",
        "t_sent",
    )

    def __init__(self, conn: UpstreamConnection) -> None:
        self._conn: UpstreamConnection | None = conn
        self.status = 0
        self.reason = ""
        #: raw header lines as sent, decoded like the server side decodes them
        self.headers: list[tuple[str, str]] = []
        self.content_length: int | None = None
        #: the request's last byte written / the answer's first and last byte received
        self.t_sent: float | None = None
        self.t_first_byte: float | None = None
        self.t_done: float | None = None
        self._chunks: deque[bytes] = deque()
        self._buffered = 0
        self._done = False
        self._error: UpstreamError | None = None
        self._waiter: asyncio.Future[None] | None = None

    @property
    def latency(self) -> float | None:
        """``t_done - t_sent`` once the answer is complete, else None."""
        if self.t_done is None or self.t_sent is None:
            return None
        return self.t_done - self.t_sent

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
            if conn is not None and self._buffered >= HIGH_WATER:
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
        if conn is not None and self._buffered < HIGH_WATER // 2:
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
