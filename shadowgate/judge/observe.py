"""Judge → Prometheus gauges and webhooks: what operators see of each look."""

from __future__ import annotations

import math
from typing import Any

from shadowgate.config.model import RouteConfig
from shadowgate.config.reload import ConfigHolder
from shadowgate.judge.context import RouteContext
from shadowgate.judge.judge import Judge
from shadowgate.judge.notify import Notifier, event_for
from shadowgate.judge.outage import excluded_metric, outage_webhooks
from shadowgate.metrics import Metrics
from shadowgate.rollout.machine import State
from shadowgate.rollout.policy import Decision


def _set(gauge: Any, value: float | None) -> None:
    gauge.set(math.nan if value is None else value)


def metrics_hook(metrics: Metrics) -> Any:
    """Set check and state gauges after each look of the judge: ``check`` is the check's
    label, ``<label>:canary`` in canary, and ``<label>:bake`` for the bake's own tests."""

    def hook(route: RouteConfig, ctx: RouteContext) -> None:
        named = [
            (r, r.check if r.phase == "shadow" else f"{r.check}:canary") for r in ctx.results()
        ]
        if ctx.bake is not None and ctx.bake_evidence:  # the bake's own tests, as in the report
            named += [(r, f"{r.check}:bake") for r in ctx.bake.results("shadow")]
        for r, name in named:
            if r.segment is not None:
                continue
            _set(metrics.check_p_value.labels(route=route.name, check=name), r.p_value)
            _set(metrics.check_estimate.labels(route=route.name, check=name), r.estimate)
            _set(metrics.check_ci_lower.labels(route=route.name, check=name), r.ci_lower)
            _set(metrics.check_ci_upper.labels(route=route.name, check=name), r.ci_upper)
        metrics.set_rollout_state(route.name, ctx.rollout.state.value)
        if ctx.noise.rate is not None:
            metrics.noise_disagreement_rate.labels(route=route.name).set(ctx.noise.rate)
        if ctx.noise.latency_bias is not None:
            metrics.noise_latency_bias.labels(route=route.name).set(ctx.noise.latency_bias)

    return hook


def notify_listener(holder: ConfigHolder, notifier: Notifier) -> Any:
    """On every state change: webhooks, and the on_promote hook after a promotion."""

    def listener(
        route_name: str, ctx: RouteContext, decision: Decision | None, before: str
    ) -> None:
        route = holder.current.route(route_name)
        if route is None or before == ctx.rollout.state.value:
            return
        event = event_for(route, ctx.rollout_id, before, ctx.rollout.state.value, ctx.last_decision)
        if route.webhooks:
            notifier.send(route.webhooks, event)
        if ctx.rollout.state is State.PROMOTED and route.on_promote is not None:
            notifier.run_hook(route.on_promote, event)

    return listener


def confirm_gate(notifier: Notifier) -> Any:
    async def confirm(route: RouteConfig, ctx: RouteContext) -> bool:
        hook = route.confirm_promotion
        if hook is None:
            return True
        event = event_for(route, ctx.rollout_id, ctx.rollout.state.value, "promoted", None)
        event["type"] = "shadowgate.confirm_promotion"
        return await notifier.confirm(hook, event)

    return confirm


def rejected_metric(metrics: Metrics) -> Any:
    """``shadowgate_labels_rejected_total`` += the labels the judge set aside at the join."""

    def hook(route: RouteConfig, counts: dict[str, int]) -> None:
        for reason, n in counts.items():
            metrics.labels_rejected_total.labels(route=route.name, reason=reason).inc(n)

    return hook


def install(judge: Judge, metrics: Metrics, notifier: Notifier) -> None:
    judge.on_look.append(metrics_hook(metrics))
    judge.listeners.append(notify_listener(judge.holder, notifier))
    judge.confirm = confirm_gate(notifier)
    judge.on_outage.append(outage_webhooks(judge.holder, notifier))
    judge.on_look.append(excluded_metric(metrics))
    judge.on_labels_rejected.append(rejected_metric(metrics))
