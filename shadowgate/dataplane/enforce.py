"""``validation.enforce``: answer a request that violates the model's schema 400, before
either model sees it. The check itself (``RequestCheck``) comes from the input watcher;
this is the request path, so it runs only on routes that enforce."""

from __future__ import annotations

from collections.abc import Callable

from shadowgate.dataplane.responses import error_response
from shadowgate.dataplane.table import RouteEntry
from shadowgate.http.server import Response
from shadowgate.metrics import Metrics

#: (route, body) -> a located message ("input 'x' value 3: null where FP32 is expected")
RequestCheck = Callable[[str, bytes | None], str | None]


def enforced(entry: RouteEntry) -> bool:
    v = entry.config.validation
    return v is not None and v.enforce


def rejected(
    check: RequestCheck | None, metrics: Metrics, entry: RouteEntry, body: object, rid: str
) -> Response | None:
    """The 400 answer for an invalid body, or None to forward it."""
    if check is None or not (body is None or isinstance(body, bytes)):
        return None
    message = check(entry.name, body)
    if message is None:
        return None
    metrics.requests_total.labels(route=entry.name, variant="none", code="400").inc()
    return error_response(400, "invalid_input", message, rid)
