"""The running process: config holder, data plane, admin app, sink and background tasks.

``Gateway`` owns every long-lived piece and starts/stops them in order. Later layers
plug in without touching the data plane:

- the outcome **recorder/store** is the ``sink`` (constructor argument or ``gateway.sink
  = ...`` before ``start``), opened and flushed through ``on_start``/``on_stop`` hooks;
- the **judge** and the **rollout sync** are background tasks (``add_background``) and
  steer traffic by publishing each route's ``Routing`` on ``gateway.routing``
  (a ``RoutingBoard``);
- admin endpoints are added to ``gateway.admin_app`` before ``start`` (see
  ``shadowgate.admin.api``).

Shutdown order: stop accepting and drain in-flight client requests (up to
``server.shutdown_timeout``), let in-flight mirrors finish in the time left, stop
background tasks, run ``on_stop`` hooks (last added first, e.g. flush the recorder, close
the store), close the admin listener, close the upstream pools.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

from aiohttp import web

from shadowgate.admin.api import ADMIN, AdminContext, build_admin_app
from shadowgate.config.model import ShadowgateConfig
from shadowgate.config.reload import ConfigHolder, ReloadResult, watch
from shadowgate.config.types import split_listen
from shadowgate.dataplane.handler import Proxy
from shadowgate.dataplane.responses import error_response
from shadowgate.dataplane.runtime import RoutingBoard
from shadowgate.errors import ClientError
from shadowgate.http.headers import X_REQUEST_ID
from shadowgate.http.server import BodyReader, HttpServer, Request, Response
from shadowgate.metrics import Metrics
from shadowgate.model.sink import ExchangeSink, MemorySink

log = logging.getLogger("shadowgate")

Hook = Callable[[], Awaitable[None]]
TaskFactory = Callable[[], Coroutine[Any, Any, None]]


class Gateway:
    """shadowgate's data plane and admin listener, with their lifecycle.

    Example::

        gw = Gateway(ConfigHolder(load_config(path), path))
        await gw.start()          # binds server.listen and server.admin_listen
        ...
        await gw.stop()
    """

    def __init__(
        self,
        holder: ConfigHolder,
        *,
        sink: ExchangeSink | None = None,
        metrics: Metrics | None = None,
        routing: RoutingBoard | None = None,
        watch_config: bool = True,
        watch_poll: float = 0.25,
        listen: str | None = None,
        admin_listen: str | None = None,
        serve_admin: bool = True,
        reuse_port: bool = False,
        serve_data: bool = True,
    ) -> None:
        self.holder = holder
        self.metrics = metrics if metrics is not None else Metrics()
        self.routing = routing if routing is not None else RoutingBoard()
        self.proxy = Proxy(
            holder, sink if sink is not None else MemorySink(), self.metrics, self.routing
        )
        self.admin_app = build_admin_app(
            holder, self.metrics, self.ready, status_providers=[self.proxy.route_status]
        )
        self._listen = listen or holder.current.server.listen
        self._admin_listen = admin_listen or holder.current.server.admin_listen
        #: False in the workers of ``serve --workers N`` but one: the admin port is served once
        self.serve_admin = serve_admin
        #: SO_REUSEPORT on the data port, so several processes share it (the kernel spreads
        #: connections over them)
        self.reuse_port = reuse_port
        #: False in the judge process of ``serve --judge-process``: it decides, serves no one
        self.serve_data = serve_data
        self._background: list[tuple[str, TaskFactory]] = []
        self._tasks: list[asyncio.Task[None]] = []
        self._on_start: list[Hook] = []
        self._on_stop: list[Hook] = []
        self._data_server: HttpServer | None = None
        self._admin_runner: web.AppRunner | None = None
        self.data_address: tuple[str, int] | None = None
        self.admin_address: tuple[str, int] | None = None
        self._stopped = asyncio.Event()
        if watch_config and holder.path is not None:
            self.add_background("config-watch", lambda: watch(holder, poll=watch_poll))
        self._hook_reloads()

    # -- extension points ------------------------------------------------------------------

    @property
    def sink(self) -> ExchangeSink:
        return self.proxy.sink

    @sink.setter
    def sink(self, sink: ExchangeSink) -> None:
        """Replace the outcome sink (e.g. with the store's recorder) before ``start``."""
        self.proxy.sink = sink

    @property
    def admin(self) -> AdminContext:
        return self.admin_app[ADMIN]

    def add_background(self, name: str, factory: TaskFactory) -> None:
        """Run ``factory()`` as a task from ``start`` until ``stop`` (it is cancelled)."""
        self._background.append((name, factory))

    def on_start(self, hook: Hook) -> None:
        """Await ``hook()`` during ``start``, before the listeners open."""
        self._on_start.append(hook)

    def on_stop(self, hook: Hook) -> None:
        """Await ``hook()`` during ``stop``, after traffic has drained (last added first)."""
        self._on_stop.append(hook)

    # -- state -----------------------------------------------------------------------------

    def ready(self) -> bool:
        return self.data_address is not None and self.proxy.ready()

    @property
    def data_url(self) -> str:
        assert self.data_address is not None, "not started"
        return _url(self.data_address)

    @property
    def admin_url(self) -> str:
        assert self.admin_address is not None, "not started"
        return _url(self.admin_address)

    # -- lifecycle -------------------------------------------------------------------------

    async def start(self) -> None:
        """Open pools, run start hooks, bind both listeners, start background tasks."""
        self.proxy.start()
        for hook in self._on_start:
            await hook()
        cfg = self.holder.current
        # a connection must complete each request's headers within server.client_timeout
        # of opening (or of its previous answer), else it is closed (slowloris); the
        # server reads the current value, so a reload applies to the next deadline
        if self.serve_data:
            self._data_server = HttpServer(self._handle, client_timeout=cfg.server.client_timeout)
            host, port = split_listen(self._listen)
            self.data_address = await self._data_server.start(
                host, port, reuse_port=self.reuse_port
            )
        if self.serve_admin:
            self._admin_runner = web.AppRunner(
                self.admin_app, access_log=None, shutdown_timeout=1.0, handle_signals=False
            )
            await self._admin_runner.setup()
            self.admin_address = await _bind(self._admin_runner, self._admin_listen)
        loop = asyncio.get_running_loop()
        for name, factory in self._background:
            self._tasks.append(loop.create_task(factory(), name=name))

    async def _handle(self, request: Request) -> Response:
        """The proxy, with a deadline on receiving the request body (``client_timeout``).

        Most bodies have arrived with their headers: no timer then. Otherwise a slow body
        fails the proxy's read at the deadline and the client gets a JSON 408.
        """
        content = request.content
        if content.complete:
            return await self.proxy(request)
        timeout = self.holder.current.server.client_timeout
        timer = asyncio.get_running_loop().call_later(timeout, _expire_body, content)
        try:
            return await self.proxy(request)
        except BodyTimeout:
            rid = request.headers.get(X_REQUEST_ID) or uuid.uuid4().hex
            msg = f"the request body did not arrive within server.client_timeout ({timeout:g}s)"
            resp = error_response(408, "client_timeout", msg, rid)
            resp.force_close()
            return resp
        finally:
            timer.cancel()

    async def stop(self) -> None:
        """Graceful stop: drain clients, then mirrors, then everything else."""
        started = time.monotonic()
        budget = self.holder.current.server.shutdown_timeout
        if self._data_server is not None:
            await self._data_server.shutdown(budget)  # stop accepting, wait for in-flight
            self._data_server = None
        await self.proxy.drain_mirrors(max(0.0, budget - (time.monotonic() - started)))
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._tasks.clear()
        for hook in reversed(self._on_stop):
            try:
                await hook()
            except Exception:
                log.exception("stop hook failed")
        if self._admin_runner is not None:
            await self._admin_runner.cleanup()
            self._admin_runner = None
        await self.proxy.close()
        self.data_address = self.admin_address = None
        self._stopped.set()

    async def wait_stopped(self) -> None:
        await self._stopped.wait()

    def _hook_reloads(self) -> None:
        previous = self.holder.on_result
        counter = self.metrics.config_reloads_total

        def on_result(result: ReloadResult) -> None:
            counter.labels(result="ok" if result.ok else "error").inc()
            if previous is not None:
                previous(result)

        self.holder.on_result = on_result
        self.holder.subscribe(self._warn_restart_needed)
        self.holder.subscribe(self._apply_client_timeout)

    def _apply_client_timeout(self, _old: ShadowgateConfig, new: ShadowgateConfig) -> None:
        if self._data_server is not None:
            self._data_server.client_timeout = new.server.client_timeout

    def _warn_restart_needed(self, old: ShadowgateConfig, new: ShadowgateConfig) -> None:
        for key in ("listen", "admin_listen"):
            if getattr(old.server, key) != getattr(new.server, key):
                log.warning("server.%s changed: it takes effect after a restart", key)


class BodyTimeout(ClientError):
    """The client did not finish sending its request body within ``server.client_timeout``."""


def _expire_body(content: BodyReader) -> None:
    if not content.complete:  # still receiving: fail the reader, the handler answers 408
        content.set_exception(BodyTimeout())


async def _bind(runner: web.BaseRunner, address: str, reuse_port: bool = False) -> tuple[str, int]:
    host, port = split_listen(address)
    site = web.TCPSite(runner, host, port, reuse_address=True, reuse_port=reuse_port or None)
    await site.start()
    server = site._server
    assert server is not None
    sockets = getattr(server, "sockets", None) or []
    bound = sockets[0].getsockname() if sockets else (host, port)
    return str(bound[0]), int(bound[1])


def _url(address: tuple[str, int]) -> str:
    host, port = address
    if ":" in host:
        host = f"[{host}]"
    return f"http://{host}:{port}"
