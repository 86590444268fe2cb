"""Talking to upstreams: send a request, relay or capture the answer, classify failures.

Two ways to read an answer:
- ``relay``: production's (or the canary variant's) answer goes to the client. Small
  bodies with a known length are read in one piece (one write, cheapest); anything else
  is streamed chunk by chunk, copied aside up to ``cap`` bytes when it will be recorded.
- ``capture``: a mirror's answer is only recorded; it is read up to ``cap`` bytes, and a
  larger one is cut off and classified ``too_large`` (a 50 MB candidate answer costs
  one buffer, not 50 MB).

Latency, for both sides alike, is ``Response.latency``: from right after the request's
last byte was written to the answer's last byte received, both stamped in the client's
protocol callbacks (``docs/latency.md``). Only an exchange that failed before its answer
was complete falls back to the time the coroutine saw.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from typing import Any

from multidict import CIMultiDict

from shadowgate.dataplane.pools import Upstream
from shadowgate.http.client import BodyTooLarge, Response, Timeout, UpstreamError
from shadowgate.http.headers import client_response_headers
from shadowgate.http.server import Reply, Request, StreamReply
from shadowgate.http.server import Response as ClientResponse
from shadowgate.http.timeout import clock
from shadowgate.metrics import Metrics
from shadowgate.model.exchange import Side, TransportError

#: answers up to this size with a known length are read whole, then sent in one write
SMALL_BODY = 256 * 1024
_perf = clock

Body = bytes | AsyncIterator[bytes] | None


def classify(exc: BaseException) -> TransportError:
    """The transport error class of an exception raised while talking to an upstream."""
    if isinstance(exc, UpstreamError):
        return exc.kind
    if isinstance(exc, asyncio.TimeoutError | TimeoutError):
        return "timeout"
    return "reset"


OnRetry = Callable[[], None] | None


def counted(metrics: Metrics, route: str, kind: str) -> Callable[[], None]:
    """What counts a request sent again after a reused connection was reset: the race of
    a keep-alive connection closed as it was reused, not a failure of the upstream.
    ``kind`` is the variant, or the mirror's kind (``shadow``: to the candidate)."""
    variant = "candidate" if kind in ("candidate", "shadow") else "production"
    counter = metrics.upstream_retries_total
    return lambda: counter.labels(route=route, variant=variant).inc()


def _latency(resp: Response, t0: float) -> float:
    """The symmetric latency when the answer completed, else what the caller saw."""
    latency = resp.latency
    return latency if latency is not None else _perf() - t0


def send(
    up: Upstream,
    method: str,
    path: str,
    headers: CIMultiDict[str],
    body: Body,
    timeout: Timeout,
    on_retry: OnRetry = None,
) -> Coroutine[Any, Any, Response]:
    """Send one request (written at once when a kept-alive connection is free); the
    response's body is still to be read (or released)."""
    return up.pool.request(method, path, headers.items(), body, timeout, on_retry=on_retry)


def start_capture(
    up: Upstream,
    method: str,
    path: str,
    headers: CIMultiDict[str],
    body: bytes | None,
    timeout: Timeout,
    cap: int,
    on_retry: OnRetry = None,
) -> Coroutine[Any, Any, Side]:
    """Write a request now (when a kept-alive connection is free) and return what reads
    its whole answer (at most ``cap`` bytes) into a ``Side``.

    A mirror started this way leaves in the same loop iteration as the production request
    that follows it, so both are timed from the same moment of the exchange.
    """
    t0 = _perf()
    try:
        pending = up.pool.start(method, path, headers.items(), body, timeout, on_retry=on_retry)
    except Exception as exc:
        return _failed(Side(None, _perf() - t0, None, None, classify(exc)))
    return _captured(pending, t0, cap)


async def _failed(side: Side) -> Side:
    return side


async def _captured(pending: Awaitable[Response], t0: float, cap: int) -> Side:
    status: int | None = None
    ctype: str | None = None
    try:
        resp = await pending
        status = resp.status
        ctype = resp.header("Content-Type")
        length = resp.content_length
        if length is not None and length > cap:
            resp.close()
            return Side(status, _perf() - t0, None, ctype, "too_large")
        try:
            data = await resp.read(cap)
        except BodyTooLarge:
            return Side(status, _perf() - t0, None, ctype, "too_large")
        finally:
            resp.close()
    except Exception as exc:
        return Side(status, _perf() - t0, None, ctype, classify(exc))
    return Side(status, _latency(resp, t0), data, ctype)


async def relay(
    request: Request,
    resp: Response,
    request_id: str,
    t0: float,
    cap: int | None,
) -> tuple[ClientResponse, Side]:
    """Send an upstream answer to the client byte-for-byte.

    Returns the client response and the upstream's ``Side`` (body kept only when ``cap``
    is given and the body fits). The caller has counted ``t0`` at sending time.
    """
    status = resp.status
    ctype = resp.header("Content-Type")
    headers = client_response_headers(resp.headers, request_id)
    length = resp.content_length
    error: TransportError | None = None
    head = request.method == "HEAD"
    if head and length is not None:  # the length of the body a GET would have had
        headers["Content-Length"] = str(length)
    try:
        if head or (length is not None and length <= SMALL_BODY):
            try:
                data = await resp.read()
            except Exception as exc:
                # the upstream broke off mid-body: nothing has reached the client yet
                raise UpstreamBodyError(classify(exc), _perf() - t0) from exc
            out = Reply(status, data, headers, resp.reason)
            latency = _latency(resp, t0)
            if cap is not None and len(data) > cap:
                return out, Side(status, latency, None, ctype, "too_large")
            return out, Side(status, latency, data if cap is not None else None, ctype)
        stream = StreamReply(status, resp.reason, headers)
        if length is not None:
            stream.content_length = length
        await stream.prepare(request)
        parts: list[bytes] | None = [] if cap is not None else None
        total = 0
        try:
            while True:
                try:
                    chunk = await resp.readany()
                except Exception as exc:
                    error = classify(exc)
                    break
                if not chunk:
                    break
                await stream.write(chunk)
                if parts is not None:
                    total += len(chunk)
                    if cap is not None and total > cap:
                        parts = None  # keep relaying, stop copying: recorded as too_large
                    else:
                        parts.append(chunk)
        except ConnectionError:
            error = "client_closed"
        if error is None:
            await stream.write_eof()
        elif request.transport is not None:
            request.transport.close()  # the client must see a cut-off body
        latency = _latency(resp, t0)
        if error is None and cap is not None and parts is None:
            return stream, Side(status, latency, None, ctype, "too_large")
        body = b"".join(parts) if parts is not None and error is None else None
        return stream, Side(status, latency, body, ctype, error)
    finally:
        resp.close()  # a no-op once the body was read to its end (and the connection kept)


class UpstreamBodyError(Exception):
    """An upstream failed while its body was read, before anything reached the client."""

    def __init__(self, kind: TransportError, latency: float) -> None:
        self.kind = kind
        self.latency = latency
        super().__init__(kind)
