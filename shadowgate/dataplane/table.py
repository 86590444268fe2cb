"""The routing table: one ``RouteEntry`` per route of a config snapshot, longest prefix first.

Everything a request needs that depends only on the config (timeouts, hashing salts,
header sets, sessions, metric children) is computed here once per reload, not per
request. ``RouteStats`` (counters, mirror slots) is kept per route *name* so it survives
reloads.
"""

from __future__ import annotations

from typing import Any

from prometheus_client import Counter, Histogram

from shadowgate.compare.calls import is_inference, is_server_call, knows_paths
from shadowgate.config.model import RouteConfig, ShadowgateConfig
from shadowgate.dataplane.pools import Upstream, UpstreamPools
from shadowgate.dataplane.runtime import RoutingBoard
from shadowgate.dataplane.split import salt
from shadowgate.http.client import Timeout
from shadowgate.metrics import Metrics
from shadowgate.model.routing import Routing

_NAME_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.~")


class RouteStats:
    """Per-route counts shown by /api/status, mirror slots, and cached metric children."""

    __slots__ = (
        "_counters",
        "_metrics",
        "_name",
        "latency",
        "mirror_dropped",
        "mirrored",
        "mirrors_in_flight",
        "pairs",
        "requests",
    )

    def __init__(self, name: str, metrics: Metrics) -> None:
        self._name = name
        self._metrics = metrics
        self.requests: dict[str, int] = {"production": 0, "candidate": 0}
        self.mirrored = 0
        self.mirror_dropped = 0
        self.mirrors_in_flight = 0
        self.pairs = 0
        self._counters: dict[tuple[str, int], Counter] = {}
        self.latency: dict[str, Histogram] = {
            v: metrics.upstream_latency_seconds.labels(route=name, variant=v)
            for v in ("production", "candidate")
        }

    def served(self, variant: str, status: int) -> None:
        """Count one client response (``status`` is what the client got)."""
        self.requests[variant] += 1
        c = self._counters.get((variant, status))
        if c is None:
            c = self._counters[(variant, status)] = self._metrics.requests_total.labels(
                route=self._name, variant=variant, code=str(status)
            )
        c.inc()

    def dropped(self, reason: str) -> None:
        self.mirror_dropped += 1
        self._metrics.mirror_dropped_total.labels(route=self._name, reason=reason).inc()

    def to_dict(self) -> dict[str, Any]:
        return {
            "requests": dict(self.requests),
            "mirrored": self.mirrored,
            "mirror_dropped": self.mirror_dropped,
            "mirrors_in_flight": self.mirrors_in_flight,
            "pairs": self.pairs,
        }


def _timeout(total: float, connect: float) -> Timeout:
    return Timeout(total, connect)


class RouteEntry:
    """A route of one config snapshot, ready for the hot path."""

    __slots__ = (
        "canary_salt",
        "candidate",
        "candidate_timeout",
        "config",
        "drop_headers",
        "inference_only",
        "max_in_flight",
        "mirror_salt",
        "mirror_timeout",
        "name",
        "noise_percent",
        "noise_salt",
        "prefix",
        "production",
        "production_timeout",
        "routing",
        "segment_header",
        "stats",
        "sticky_kind",
        "sticky_name",
    )

    def __init__(
        self, cfg: RouteConfig, pools: UpstreamPools, routing: Routing, stats: RouteStats
    ) -> None:
        self.config = cfg
        self.name = cfg.name
        self.prefix = cfg.match.path_prefix
        #: the split in force, as published (replaced whole on every publication)
        self.routing = routing
        self.stats = stats
        self.production: Upstream = pools.get(cfg.production)
        # without a candidate (a steady state) its published split never sends to it
        cand = cfg.candidate if cfg.candidate is not None else cfg.production
        self.candidate: Upstream = pools.get(cand)
        self.production_timeout = _timeout(cfg.production.timeout, cfg.production.connect_timeout)
        self.candidate_timeout = _timeout(cand.timeout, cand.connect_timeout)
        mirror_total = cfg.mirror.timeout or cand.timeout
        self.mirror_timeout = _timeout(mirror_total, cand.connect_timeout)
        self.max_in_flight = cfg.mirror.max_in_flight
        self.drop_headers = frozenset(h.lower() for h in cfg.mirror.drop_headers)
        self.noise_percent = cfg.noise.percent
        self.mirror_salt = salt(cfg.name, "mirror")
        self.noise_salt = salt(cfg.name, "noise")
        self.canary_salt = salt(cfg.name, "canary")
        kind, _, key = (cfg.canary.sticky or "").partition(":")
        self.sticky_kind = kind or None
        self.sticky_name = key.lower() if kind == "header" else key
        self.segment_header = cfg.segment.header if cfg.segment is not None else None
        only = cfg.match.inference_only
        self.inference_only = knows_paths(cfg.protocol) if only is None else only

    def is_evidence(self, method: str, path: str) -> bool:
        """Whether a call is mirrored, recorded and judged (only inference, by default)."""
        return not self.inference_only or is_inference(self.config.protocol, method, path)


class RouteTable:
    """The routes of one config snapshot; ``match`` finds the longest matching prefix."""

    __slots__ = ("_by_name", "_servers", "config", "entries", "max_body_size")

    def __init__(
        self,
        config: ShadowgateConfig,
        pools: UpstreamPools,
        board: RoutingBoard,
        stats: dict[str, RouteStats],
        metrics: Metrics,
    ) -> None:
        self.config = config
        self.max_body_size = config.server.max_body_size
        entries = []
        for r in config.routes:
            st = stats.get(r.name)
            if st is None:
                st = stats[r.name] = RouteStats(r.name, metrics)
            entries.append(RouteEntry(r, pools, board.routing(r), st))
        #: config order, for the server-wide calls: the marked route first
        self._servers = tuple(sorted(entries, key=lambda e: not e.config.match.server_calls))
        entries.sort(key=lambda e: len(e.prefix), reverse=True)
        self.entries: tuple[RouteEntry, ...] = tuple(entries)
        self._by_name = {e.name: e for e in entries}

    def entry(self, name: str) -> RouteEntry | None:
        return self._by_name.get(name)

    def server_route(self, path: str) -> RouteEntry | None:
        """The route whose production answers a server-wide call (``/v2/health/ready``)."""
        for e in self._servers:
            if is_server_call(e.config.protocol, path):
                return e
        return None

    def match(self, path: str) -> RouteEntry | None:
        """The route with the longest prefix of ``path`` that ends on a name boundary.

        ``/v2/models/m`` matches ``/v2/models/m``, ``/v2/models/m/infer`` and
        ``/v1/models/m:predict``, but not ``/v2/models/mnist``.
        """
        for e in self.entries:
            prefix = e.prefix
            if path.startswith(prefix):
                n = len(prefix)
                if len(path) == n or prefix[-1] == "/" or path[n] not in _NAME_CHARS:
                    return e
        return None
