"""The data plane's request handler: route, pick the serving variant, mirror, relay.

Per request: match the longest path prefix, take the request id (the client's
``X-Request-Id`` or a new one), then

- **shadow** mode: production serves; ``mirror.percent`` of requests (by a hash of the
  request id) are also sent to the candidate, started *before* awaiting production so
  both see the request at the same moment, on a bounded number of in-flight slots
  (a plain counter; when full the mirror is dropped and counted). When both answers are
  in, the pair goes to the sink as an ``Exchange``. The client never waits for a mirror.
- **canary** mode: a sticky hash of the user key picks the variant that serves; the
  served exchange goes to the sink.

Mode, weight and mirroring come from the route's published ``model.Routing`` (see
``dataplane.runtime``), applied as it is: the handler never derives a split itself.
Bodies that will not be recorded are streamed rather than buffered.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Coroutine
from typing import Any, Literal

from multidict import CIMultiDict

from shadowgate.config.model import ShadowgateConfig
from shadowgate.config.reload import ConfigHolder
from shadowgate.dataplane.enforce import RequestCheck, enforced, rejected
from shadowgate.dataplane.forward import (
    UpstreamBodyError,
    classify,
    counted,
    relay,
    send,
    start_capture,
)
from shadowgate.dataplane.log_limit import RateLimitedLog
from shadowgate.dataplane.pair import Pair
from shadowgate.dataplane.passthrough import passthrough
from shadowgate.dataplane.pools import Upstream, UpstreamPools
from shadowgate.dataplane.request import (
    TOO_LARGE,
    RequestBody,
    TooLarge,
    new_request_id,
    read_body,
    sticky_key,
)
from shadowgate.dataplane.responses import (
    log_upstream_failure,
    too_large,
    upstream_error,
)
from shadowgate.dataplane.runtime import RoutingBoard
from shadowgate.dataplane.split import chosen
from shadowgate.dataplane.table import RouteEntry, RouteStats, RouteTable
from shadowgate.http.headers import (
    X_MIRROR,
    X_REQUEST_ID,
    X_VARIANT,
    mirror_request_headers,
    upstream_request_headers,
)
from shadowgate.http.idle import DataPlaneIdle
from shadowgate.http.server import Request, Response
from shadowgate.metrics import Metrics
from shadowgate.model.exchange import Exchange, Side
from shadowgate.model.routing import Routing
from shadowgate.model.sink import ExchangeSink

log = logging.getLogger("shadowgate.proxy")

Variant = Literal["production", "candidate"]
_perf = time.perf_counter
_MAX_REQUEST_ID = 200


class Proxy:
    """The data plane: the ``HttpServer``'s handler."""

    def __init__(
        self,
        holder: ConfigHolder,
        sink: ExchangeSink,
        metrics: Metrics,
        routing: RoutingBoard | None = None,
    ) -> None:
        self.holder = holder
        self.failure_log = RateLimitedLog(log)
        self.sink = sink
        self.metrics = metrics
        self.routing = routing if routing is not None else RoutingBoard()
        self.pools = UpstreamPools()
        self.stats: dict[str, RouteStats] = {}
        self._table: RouteTable | None = None
        self._mirrors: set[asyncio.Task[None]] = set()
        #: client requests in flight: background work (the recorder) waits for none
        self.idle = DataPlaneIdle()
        #: ``validation.enforce``: (route, body) -> a located message to answer 400 with
        self.request_check: RequestCheck | None = None
        holder.subscribe(self._on_config)
        self.routing.subscribe(self._on_routing)

    # -- lifecycle -------------------------------------------------------------------------

    def start(self) -> None:
        """Open the upstream pools for the current config (inside the running loop)."""
        self._apply(self.holder.current)

    @property
    def table(self) -> RouteTable:
        assert self._table is not None, "Proxy.start() was not called"
        return self._table

    def ready(self) -> bool:
        """Config loaded and every upstream pool of it open."""
        return self._table is not None and self.pools.ready(self._table.config)

    @property
    def mirrors_in_flight(self) -> int:
        return len(self._mirrors)

    async def drain_mirrors(self, timeout: float) -> None:
        """Wait up to ``timeout`` for in-flight mirrors, then cancel what is left."""
        if self._mirrors:
            _, pending = await asyncio.wait(set(self._mirrors), timeout=timeout)
            for t in pending:
                t.cancel()
            if pending:
                await asyncio.wait(pending)

    async def close(self) -> None:
        await self.drain_mirrors(0)
        await self.pools.close()

    def _on_config(self, _old: ShadowgateConfig, new: ShadowgateConfig) -> None:
        if self._table is not None:  # not started yet: start() applies it
            self._apply(new)

    def _apply(self, config: ShadowgateConfig) -> None:
        self.pools.sync(config)
        self._table = RouteTable(config, self.pools, self.routing, self.stats, self.metrics)
        for e in self._table.entries:
            self.metrics.candidate_weight.labels(route=e.name).set(e.routing.candidate_share)

    def _on_routing(self, route: str, routing: Routing) -> None:
        """A new publication: in force from the next request of the current table."""
        entry = self._table.entry(route) if self._table is not None else None
        if entry is not None:
            entry.routing = routing
            self.metrics.candidate_weight.labels(route=route).set(routing.candidate_share)

    def route_status(self, name: str) -> dict[str, Any] | None:
        """The proxy's part of a route's ``/api/status`` entry (an admin status provider)."""
        if self._table is None:
            return None
        entry = self._table.entry(name)
        if entry is None:
            return None
        cfg, r = entry.config, entry.routing
        weight = r.candidate_share
        return {
            "mode": r.mode,
            "configured_mode": cfg.mode,
            "weights": {"production": 100.0 - weight, "candidate": weight},
            "configured_weight": cfg.canary.weight,
            "mirror": {
                "percent": r.mirror_percent,
                "enabled": r.mirror,
                "max_in_flight": cfg.mirror.max_in_flight,
            },
            "rollout_id": r.rollout_id,
            "routing": r.to_dict(),
            "counts": entry.stats.to_dict(),
        }

    # -- the handler -----------------------------------------------------------------------

    async def __call__(self, request: Request) -> Response:
        idle = self.idle
        idle.enter()
        try:
            table = self.table
            rid = request.headers.get(X_REQUEST_ID)
            if not rid or len(rid) > _MAX_REQUEST_ID:
                rid = new_request_id()
            entry = table.match(request.path)
            if entry is None or not entry.is_evidence(request.method, request.path):
                return await passthrough(self._serve, request, entry, table, rid)
            length = request.content_length
            if length is not None and length > table.max_body_size:
                return too_large(table.max_body_size, rid)
            if entry.routing.mode == "canary":
                return await self._canary(request, entry, table, rid)
            return await self._shadow(request, entry, table, rid)
        finally:
            idle.leave()

    async def _shadow(
        self, request: Request, entry: RouteEntry, table: RouteTable, rid: str
    ) -> Response:
        routing = entry.routing
        mirror = routing.mirror and chosen(entry.mirror_salt, rid, routing.mirror_percent)
        noise = (
            entry.noise_percent > 0.0
            and not routing.reverse
            and chosen(entry.noise_salt, rid, entry.noise_percent)
        )
        headers = upstream_request_headers(request.headers, rid, request.remote, request.scheme)
        enforce = self.request_check is not None and enforced(entry)
        body = await read_body(request, headers, table.max_body_size, mirror or noise or enforce)
        if body is TOO_LARGE:
            return too_large(table.max_body_size, rid)
        assert not isinstance(body, TooLarge)
        if enforce and (bad := rejected(self.request_check, self.metrics, entry, body, rid)):
            return bad
        pairs: list[Pair] = []
        # baking after a promotion (reverse): the candidate serves, production is mirrored
        served: Variant = "candidate" if routing.reverse else "production"
        if mirror or noise:
            assert body is None or isinstance(body, bytes)
            ts = time.time()
            if mirror:
                mh = mirror_request_headers(headers, entry.drop_headers)
                target = entry.production if routing.reverse else entry.candidate
                p = self._mirror(request, entry, "shadow", target, mh, body, rid, ts, served)
                if p is not None:
                    pairs.append(p)
            if noise:
                nh = headers.copy()
                nh[X_MIRROR] = "1"
                p = self._mirror(request, entry, "noise", entry.production, nh, body, rid, ts)
                if p is not None:
                    pairs.append(p)
        return await self._serve(request, entry, table, served, headers, body, rid, pairs)

    async def _canary(
        self, request: Request, entry: RouteEntry, table: RouteTable, rid: str
    ) -> Response:
        cfg = entry.config
        variant: Variant | None = None
        forced = None
        if cfg.canary.allow_override:
            forced = request.headers.get(X_VARIANT)
            if forced == "production":
                variant = "production"
            elif forced == "candidate":
                variant = "candidate"
        if variant is None:
            key = sticky_key(request, entry) or rid
            weight = entry.routing.weight
            variant = "candidate" if chosen(entry.canary_salt, key, weight) else "production"
        headers = upstream_request_headers(request.headers, rid, request.remote, request.scheme)
        body = await read_body(request, headers, table.max_body_size, True)
        if body is TOO_LARGE:
            return too_large(table.max_body_size, rid)
        assert body is None or isinstance(body, bytes)
        if enforced(entry) and (
            bad := rejected(self.request_check, self.metrics, entry, body, rid)
        ):
            return bad
        exchange = self._exchange(request, entry, "canary", variant, body, rid, time.time())
        exchange.forced = forced is not None and variant == forced
        return await self._serve(request, entry, table, variant, headers, body, rid, (), exchange)

    async def _serve(
        self,
        request: Request,
        entry: RouteEntry,
        table: RouteTable,
        variant: Variant,
        headers: CIMultiDict[str],
        body: RequestBody,
        rid: str,
        pairs: list[Pair] | tuple[()],
        exchange: Exchange | None = None,
    ) -> Response:
        """Send to the serving upstream, relay its answer, hand the result on."""
        if variant == "production":
            up, timeout = entry.production, entry.production_timeout
        else:
            up, timeout = entry.candidate, entry.candidate_timeout
        cap = table.max_body_size if (pairs or exchange is not None) else None
        up.active += 1
        t0 = _perf()
        failed = False
        try:
            try:
                retried = counted(self.metrics, entry.name, variant)
                resp = await send(
                    up, request.method, request.raw_path, headers, body, timeout, retried
                )
            except Exception as exc:
                side = Side(None, _perf() - t0, None, None, classify(exc))
                out: Response = upstream_error(entry, variant, side, timeout, rid)
                failed = True
            else:
                try:
                    out, side = await relay(request, resp, rid, t0, cap)
                except UpstreamBodyError as exc:
                    side = Side(resp.status, exc.latency, None, None, exc.kind)
                    out = upstream_error(entry, variant, side, timeout, rid)
                    failed = True
        finally:
            up.release()
        if failed:
            log_upstream_failure(
                self.failure_log,
                route=entry.name,
                variant=variant,
                side=side,
                status=out.status,
                request=request,
                headers=headers,
                body=body,
                rid=rid,
                sensitive=self.holder.current.server.log_sensitive,
            )
        st = entry.stats
        st.served(variant, out.status)
        if side.status is not None and side.latency is not None:
            st.latency[variant].observe(side.latency)
        for p in pairs:
            p.served_done(side)
        if exchange is not None:
            if variant == "production":
                exchange.production = side
            else:
                exchange.candidate = side
            self._submit(exchange)
        return out

    # -- mirrors ---------------------------------------------------------------------------

    def _mirror(
        self,
        request: Request,
        entry: RouteEntry,
        kind: Literal["shadow", "noise"],
        up: Upstream,
        headers: CIMultiDict[str],
        body: bytes | None,
        rid: str,
        ts: float,
        served: Variant = "production",
    ) -> Pair | None:
        """Start a mirror now, or drop it (counted) when every slot is taken."""
        st = entry.stats
        if st.mirrors_in_flight >= entry.max_in_flight:
            st.dropped("full")
            return None
        st.mirrors_in_flight += 1
        st.mirrored += 1
        pair = Pair(self._exchange(request, entry, kind, served, body, rid, ts), self._submit)
        shadow = kind == "shadow" and not pair.reverse  # the candidate is the mirror
        timeout = entry.mirror_timeout if shadow else entry.production_timeout
        up.active += 1
        # written now, before production's request in the same loop iteration (when a
        # kept-alive connection is free): both sides are timed from the same moment
        cap, retried = self.table.max_body_size, counted(self.metrics, entry.name, kind)
        started = start_capture(
            up, request.method, request.raw_path, headers, body, timeout, cap, retried
        )
        coro = self._run_mirror(entry, up, started, pair)
        task = asyncio.get_running_loop().create_task(coro)
        self._mirrors.add(task)
        task.add_done_callback(self._mirrors.discard)
        return pair

    async def _run_mirror(
        self, entry: RouteEntry, up: Upstream, started: Coroutine[Any, Any, Side], pair: Pair
    ) -> None:
        try:
            side = await started
        finally:
            entry.stats.mirrors_in_flight -= 1
            up.release()
        if side.status is not None and side.latency is not None and pair.exchange.kind == "shadow":
            mirrored = "production" if pair.reverse else "candidate"
            entry.stats.latency[mirrored].observe(side.latency)
        pair.mirror_done(side)

    # -- hand-off --------------------------------------------------------------------------

    def _exchange(
        self,
        request: Request,
        entry: RouteEntry,
        kind: Literal["shadow", "canary", "noise"],
        variant: Variant,
        body: bytes | None,
        rid: str,
        ts: float,
    ) -> Exchange:
        seg = entry.segment_header
        return Exchange(
            route=entry.name,
            request_id=rid,
            ts=ts,
            kind=kind,
            variant=variant,
            method=request.method,
            path=request.raw_path,
            request_body=body,
            request_content_type=request.headers.get("Content-Type"),
            segment=request.headers.get(seg) if seg is not None else None,
            production=None,
            candidate=None,
        )

    def _submit(self, exchange: Exchange) -> None:
        try:
            accepted = self.sink.submit(exchange)
        except Exception:
            log.exception("outcome sink failed; exchange dropped")
            accepted = False
            self.metrics.outcomes_dropped_total.labels(
                route=exchange.route, reason="sink_error"
            ).inc()
        if accepted is not None:  # recorded, or dropped and counted: a pair either way
            st = self.stats.get(exchange.route)
            if st is not None:
                st.pairs += 1
            self.metrics.pairs_total.labels(route=exchange.route).inc()
