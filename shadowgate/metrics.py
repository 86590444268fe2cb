"""Every Prometheus metric of shadowgate (DESIGN §4), built on a passed-in registry.

One ``Metrics`` object per process (or per test): it never touches the global
``prometheus_client.REGISTRY``, so tests stay independent. Other packages (judge, store
writer, rollout) use the objects here rather than declaring their own, so the public
names live in one place.

Example::

    registry = CollectorRegistry()
    m = Metrics(registry)
    m.requests_total.labels(route="cancer", variant="production", code="200").inc()
"""

from __future__ import annotations

import os
from typing import Literal

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, values
from prometheus_client.exposition import generate_latest
from prometheus_client.multiprocess import MultiProcessCollector

#: prometheus_client's switch to multi-process mode; must be set before it is imported
MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"

#: upstream latency buckets, 1 ms to 10 s
LATENCY_BUCKETS: tuple[float, ...] = (
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
)

#: every rollout state (DESIGN §4); ``rollout_state{route,state}`` is 1 for the current one
ROLLOUT_STATES: tuple[str, ...] = (
    "shadow",
    "canary",
    "awaiting_approval",
    "baking",
    "promoted",
    "rolled_back",
    "paused",
    "inconclusive",
)

#: the verdict external controllers act on (DESIGN §4, ``/api/routes/{name}/verdict``)
DECISIONS: tuple[str, ...] = ("continue", "promote", "rollback", "inconclusive")
_DECISION_OF_STATE = {"promoted": "promote", "rolled_back": "rollback"}


def decision_for_state(state: str) -> str:
    """``promoted`` → promote, ``rolled_back`` → rollback, ``inconclusive`` → inconclusive;
    every other state (shadow, canary, paused, awaiting_approval, baking) → continue."""
    if state == "inconclusive":
        return state
    return _DECISION_OF_STATE.get(state, "continue")


#: how a gauge's values from several worker processes combine (prometheus_client)
_Mode = Literal[
    "all",
    "liveall",
    "min",
    "livemin",
    "max",
    "livemax",
    "sum",
    "livesum",
    "mostrecent",
    "livemostrecent",
]


class Metrics:
    """The project's metric objects, registered on ``registry``."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        r = self.registry

        def counter(name: str, doc: str, labels: list[str]) -> Counter:
            return Counter(name, doc, labels, registry=r)

        def gauge(name: str, doc: str, labels: list[str], mode: _Mode = "all") -> Gauge:
            return Gauge(name, doc, labels, registry=r, multiprocess_mode=mode)

        self.requests_total = counter(
            "shadowgate_requests_total",
            "Client requests answered, by route, serving variant and HTTP status.",
            ["route", "variant", "code"],
        )
        self.upstream_latency_seconds = Histogram(
            "shadowgate_upstream_latency_seconds",
            "Time from sending a request upstream to the end of its response body.",
            ["route", "variant"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.upstream_retries_total = counter(
            "shadowgate_upstream_retries_total",
            "Requests sent once more on a new connection after a reused keep-alive "
            "connection was reset before any answer byte (not counted as failures).",
            ["route", "variant"],
        )
        self.mirror_dropped_total = counter(
            "shadowgate_mirror_dropped_total",
            "Mirrored requests not sent or not recorded (full: no free in-flight slot).",
            ["route", "reason"],
        )
        self.pairs_total = counter(
            "shadowgate_pairs_total",
            "Finished exchanges (pairs in shadow mode) handed to recording: stored + dropped "
            "(requests production serves alone after a rollout ended are not recorded, so "
            "not counted).",
            ["route"],
        )
        self.pairs_excluded_total = counter(
            "shadowgate_pairs_excluded_total",
            "Pairs the judge left out of the checks, by reason (production_failed: during a "
            "production outage, production itself failed with connect, timeout, reset or "
            "5xx, so the pair says nothing about the candidate).",
            ["route", "reason"],
        )
        self.outcomes_dropped_total = counter(
            "shadowgate_outcomes_dropped_total",
            "Outcome records dropped before reaching the store (queue full, store down).",
            ["route", "reason"],
        )
        self.labels_rejected_total = counter(
            "shadowgate_labels_rejected_total",
            "Posted labels that did not fit the outcome they join (kept apart, not scored).",
            ["route", "reason"],
        )
        self.input_violations_total = counter(
            "shadowgate_input_violations_total",
            "Recorded requests violating the model's input schema, once per request and reason.",
            ["route", "reason"],
        )
        self.drift_alarm = gauge(
            "shadowgate_drift_alarm",
            "1 while a feature's anytime-valid drift monitor is in alarm, else 0.",
            ["route", "feature"],
            "livemax",
        )
        self.drift_e_value = gauge(
            "shadowgate_drift_e_value",
            "Current e-value of a feature's drift monitor (alarm at features / alpha).",
            ["route", "feature"],
            "livemax",
        )
        check_labels = ["route", "check"]
        self.check_p_value = gauge(
            "shadowgate_check_p_value",
            "Always-valid p-value of a check (the smaller of its harm/pass tests).",
            check_labels,
            "livemostrecent",
        )
        self.check_estimate = gauge(
            "shadowgate_check_estimate",
            "Point estimate of a check's effect (candidate vs production).",
            check_labels,
            "livemostrecent",
        )
        self.check_ci_lower = gauge(
            "shadowgate_check_ci_lower",
            "Lower end of a check's anytime-valid confidence interval.",
            check_labels,
            "livemostrecent",
        )
        self.check_ci_upper = gauge(
            "shadowgate_check_ci_upper",
            "Upper end of a check's anytime-valid confidence interval.",
            check_labels,
            "livemostrecent",
        )
        self.rollout_state = gauge(
            "shadowgate_rollout_state",
            "1 for a route's current rollout state, 0 for the others.",
            ["route", "state"],
            "livemostrecent",
        )
        self.candidate_weight = gauge(
            "shadowgate_candidate_weight",
            "Percent of a route's traffic the candidate serves right now (canary weight).",
            ["route"],
            "livemostrecent",
        )
        self.config_reloads_total = counter(
            "shadowgate_config_reloads_total",
            "Config reloads by result (ok, or error: the previous config kept serving).",
            ["result"],
        )
        # both results exist from the start, so dashboards see 0 rather than no series
        self.config_reloads_total.labels(result="ok")
        self.config_reloads_total.labels(result="error")
        self.judge_last_run_timestamp_seconds = gauge(
            "shadowgate_judge_last_run_timestamp_seconds",
            "Unix time of the acting judge's last look at the evidence (alert when stale).",
            [],
            "max",
        )
        self.noise_disagreement_rate = gauge(
            "shadowgate_noise_disagreement_rate",
            "Share of rows where production disagreed with itself (the noise floor).",
            ["route"],
            "livemostrecent",
        )
        self.noise_latency_bias = gauge(
            "shadowgate_noise_latency_bias",
            "Relative latency of production's mirrored copy over its answer to the client "
            "(the measurement's own bias; 0 is unbiased).",
            ["route"],
            "livemostrecent",
        )
        self.decision = gauge(
            "shadowgate_decision",
            "1 for a route's current verdict (continue, promote, rollback, inconclusive).",
            ["route", "decision"],
            "livemostrecent",
        )
        self.judge_leader = gauge(
            "shadowgate_judge_leader",
            "1 in the process whose judge acts (holds the leader lock); sums to 1 over workers.",
            [],
            "livesum",
        )

    def set_rollout_state(self, route: str, state: str) -> None:
        """Mark ``state`` as the route's current rollout state (one-hot over ROLLOUT_STATES)."""
        for s in ROLLOUT_STATES:
            self.rollout_state.labels(route=route, state=s).set(1.0 if s == state else 0.0)
        self.set_decision(route, decision_for_state(state))

    def set_decision(self, route: str, decision: str) -> None:
        """Mark ``decision`` as the route's current verdict (one-hot over DECISIONS)."""
        for d in DECISIONS:
            self.decision.labels(route=route, decision=d).set(1.0 if d == decision else 0.0)

    def exposition(self) -> bytes:
        """The registry in Prometheus text format.

        Under ``serve --workers N`` (``PROMETHEUS_MULTIPROC_DIR`` set before start) every
        worker writes its values to files there, and a scrape reads all of them through a
        fresh registry: counters and histograms add up over workers, gauges follow their
        ``multiprocess_mode``.
        """
        directory = os.environ.get(MULTIPROC_ENV)
        if directory and multiprocess_active():
            registry = CollectorRegistry()
            MultiProcessCollector(registry, path=directory)  # type: ignore[no-untyped-call]
            return generate_latest(registry)
        return generate_latest(self.registry)


def multiprocess_active() -> bool:
    """True when prometheus_client keeps values in shared files (workers' mode)."""
    return values.ValueClass is not values.MutexValue
