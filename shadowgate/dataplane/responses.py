"""The proxy's own JSON error answers (404, 413, 502, 504): off the success path."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, Protocol

from shadowgate.dataplane.table import RouteEntry
from shadowgate.http.client import Timeout
from shadowgate.http.headers import X_REQUEST_ID
from shadowgate.http.server import Reply, Request
from shadowgate.model.exchange import Side

_JSON = "application/json"


def error_response(status: int, error: str, message: str, request_id: str) -> Reply:
    """A JSON error from the proxy itself (never on the success path)."""
    body = {"error": error, "message": message, "request_id": request_id}
    return Reply(
        status, json.dumps(body).encode(), [(X_REQUEST_ID, request_id)], content_type=_JSON
    )


def too_large(limit: int, rid: str) -> Reply:
    return error_response(
        413,
        "body_too_large",
        f"the request body exceeds server.max_body_size ({limit} bytes)",
        rid,
    )


def upstream_error(
    entry: RouteEntry, variant: str, side: Side, timeout: Timeout, rid: str
) -> Reply:
    total = timeout.total
    if side.error == "timeout":
        return error_response(
            504,
            "upstream_timeout",
            f"the {variant} upstream of route {entry.name!r} did not answer within {total:g}s",
            rid,
        )
    if side.error == "connect":
        msg = f"cannot connect to the {variant} upstream of route {entry.name!r}"
        return error_response(502, "upstream_unreachable", msg, rid)
    msg = (
        f"the {variant} upstream of route {entry.name!r} closed the connection "
        "or sent an invalid response"
    )
    return error_response(502, "upstream_failed", msg, rid)


class Warns(Protocol):
    def warning(self, msg: str, *args: Any) -> None: ...


def log_upstream_failure(
    log: Warns,
    *,
    route: str,
    variant: str,
    side: Side,
    status: int,
    request: Request,
    headers: Mapping[str, str],
    body: object,
    rid: str,
    sensitive: bool,
) -> None:
    """A warning line per failed client request (rate-limited by ``log``: see
    ``dataplane.log_limit``). Paths only by default: query strings, credentials and bodies
    appear only with ``server.log_sensitive: true``."""
    latency = f"{side.latency * 1000:.1f}ms" if side.latency is not None else "-"
    if not sensitive:
        log.warning(
            "route %s: %s upstream failed (%s) after %s: %s %s -> %d [request %s]",
            route,
            variant,
            side.error or "error",
            latency,
            request.method,
            request.path,
            status,
            rid,
        )
        return
    shown = {k: v for k, v in headers.items()}
    excerpt = body[:1024] if isinstance(body, bytes) else None
    log.warning(
        "route %s: %s upstream failed (%s) after %s: %s %s -> %d [request %s] headers=%r body=%r",
        route,
        variant,
        side.error or "error",
        latency,
        request.method,
        request.path_qs,
        status,
        rid,
        shown,
        excerpt,
    )
