"""Calls that are no evidence about a model: production alone answers, nothing is recorded.

Metadata, readiness and model-control calls on a route's path (see
:mod:`shadowgate.compare.calls`), and server-wide calls such as ``/v2/health/ready`` that no
route's prefix matches, which go to the production of the route chosen by
:meth:`RouteTable.server_route`. Either way there is no mirror and no exchange, so they
never count as pairs.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from shadowgate.dataplane.request import TooLarge, read_body
from shadowgate.dataplane.responses import error_response, too_large
from shadowgate.dataplane.table import RouteEntry, RouteTable
from shadowgate.http.headers import upstream_request_headers
from shadowgate.http.server import Request, Response

#: the handler's ``_serve(request, entry, table, variant, headers, body, rid, pairs)``
Serve = Callable[..., Awaitable[Response]]


async def passthrough(
    serve: Serve, request: Request, entry: RouteEntry | None, table: RouteTable, rid: str
) -> Response:
    """Relay one call to production only (404 ``no_route`` when no route can take it)."""
    entry = entry or table.server_route(request.path)
    if entry is None:
        return error_response(404, "no_route", f"no route matches the path {request.path!r}", rid)
    headers = upstream_request_headers(request.headers, rid, request.remote, request.scheme)
    body: Any = await read_body(request, headers, table.max_body_size, False)
    if isinstance(body, TooLarge):
        return too_large(table.max_body_size, rid)
    return await serve(request, entry, table, "production", headers, body, rid, ())
