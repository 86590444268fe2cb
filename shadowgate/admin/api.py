"""The admin listener (its own port): health, readiness, metrics and the JSON API.

``build_admin_app`` returns a plain ``web.Application``. Other modules extend it before
the server starts:

- add routes: ``app.router.add_post("/api/feedback", handler)``; the context is in
  ``app[ADMIN]`` (config holder, metrics, ...);
- contribute per-route status: ``app[ADMIN].status_providers.append(fn)`` where
  ``fn(route_name)`` returns a dict (or an awaitable of one, or None) merged into that
  route's entry of ``/api/status``;
- contribute top-level status: ``app[ADMIN].extra_providers.append(fn)``, ``fn()`` returns
  a dict merged into the top level.

Every non-GET call under ``/api/`` needs ``Authorization: Bearer <server.admin_token>``
when a token is configured (read from the config in force, so a reload can rotate it).
"""

from __future__ import annotations

import hmac
import inspect
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from shadowgate.config.reload import ConfigHolder
from shadowgate.metrics import Metrics

StatusResult = Mapping[str, Any] | None
StatusProvider = Callable[[str], StatusResult | Awaitable[StatusResult]]
ExtraProvider = Callable[[], StatusResult | Awaitable[StatusResult]]


@dataclass
class AdminContext:
    """What the admin handlers read; shared with modules that add routes."""

    holder: ConfigHolder
    metrics: Metrics
    #: True once config is loaded and upstream pools are open
    ready: Callable[[], bool]
    status_providers: list[StatusProvider] = field(default_factory=list)
    extra_providers: list[ExtraProvider] = field(default_factory=list)
    started_at: float = field(default_factory=time.time)


ADMIN: web.AppKey[AdminContext] = web.AppKey("shadowgate_admin", AdminContext)

_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def build_admin_app(
    holder: ConfigHolder,
    metrics: Metrics,
    ready: Callable[[], bool],
    status_providers: list[StatusProvider] | None = None,
) -> web.Application:
    """The admin application with /healthz, /readyz, /metrics and /api/status."""
    app = web.Application(middlewares=[_token_middleware])
    app[ADMIN] = AdminContext(
        holder=holder, metrics=metrics, ready=ready, status_providers=list(status_providers or [])
    )
    app.router.add_get("/healthz", _healthz)
    app.router.add_get("/readyz", _readyz)
    app.router.add_get("/metrics", _metrics)
    app.router.add_get("/api/status", _status)
    return app


def admin_token(request: web.Request) -> str | None:
    return request.app[ADMIN].holder.current.server.admin_token


def check_token(request: web.Request) -> None:
    """Raise 401 unless the request carries the configured admin token (if any)."""
    token = admin_token(request)
    if token is None:
        return
    given = request.headers.get("Authorization", "")
    scheme, _, value = given.partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(value.strip(), token):
        raise web.HTTPUnauthorized(
            text='{"error": "unauthorized", "message": "send Authorization: Bearer <admin_token>"}',
            content_type="application/json",
            headers={"WWW-Authenticate": "Bearer"},
        )


@web.middleware
async def _token_middleware(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    read_only = getattr(request.match_info.handler, "read_only", False)  # e.g. verdict gates
    if request.method not in _SAFE_METHODS and request.path.startswith("/api/") and not read_only:
        check_token(request)
    return await handler(request)


async def _healthz(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


async def _readyz(request: web.Request) -> web.Response:
    ctx = request.app[ADMIN]
    if ctx.ready():
        return web.json_response({"ready": True})
    return web.json_response(
        {"ready": False, "reason": "upstream pools are not open yet"}, status=503
    )


async def _metrics(request: web.Request) -> web.Response:
    body = request.app[ADMIN].metrics.exposition()
    resp = web.Response(body=body)
    resp.headers["Content-Type"] = CONTENT_TYPE_LATEST
    return resp


async def _call(fn: Callable[..., Any], *args: Any) -> dict[str, Any]:
    result = fn(*args)
    if inspect.isawaitable(result):
        result = await result
    return dict(result) if result else {}


async def collect_status(ctx: AdminContext) -> dict[str, Any]:
    """The /api/status document (also usable in-process, e.g. by the demo's live view)."""
    cfg = ctx.holder.current
    routes: dict[str, dict[str, Any]] = {}
    for r in cfg.routes:
        entry: dict[str, Any] = {"name": r.name, "path_prefix": r.match.path_prefix}
        for provider in ctx.status_providers:
            entry.update(await _call(provider, r.name))
        routes[r.name] = entry
    doc: dict[str, Any] = {
        "ready": ctx.ready(),
        "uptime": round(time.time() - ctx.started_at, 3),
        "config": {
            "path": str(ctx.holder.path) if ctx.holder.path is not None else None,
            "digest": cfg.digest(),
            "last_reload": ctx.holder.last_reload.to_dict(),
            "reloads": {"ok": ctx.holder.reloads_ok, "error": ctx.holder.reloads_error},
        },
        "routes": routes,
    }
    for extra in ctx.extra_providers:
        doc.update(await _call(extra))
    return doc


async def _status(request: web.Request) -> web.Response:
    return web.json_response(await collect_status(request.app[ADMIN]))
