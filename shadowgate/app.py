"""Plug the store, recorder, judge, state sync and admin API into a ``Gateway``.

    data plane ──Exchange──► Recorder ──OutcomeRecord──► BatchWriter ──► Store
                                                                          ▲   │
    POST /api/feedback ──labels───────────────────────────────────────────┘   │
    Judge (leader only) ◄──cursor reads──────────────────────────────────────┘
      └─ commits state + Routing + audit ──► Store ──► StateSync (every replica)
                                                  └─ publishes Routing ──► RoutingBoard
    Recorder tags each outcome with the published Routing's rollout id

Every process runs a recorder, a writer and a state sync; the judge runs everywhere but
acts only while its process holds the leader lock.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import dataclass
from typing import Any

from shadowgate.admin.actions import add_action_routes, status_provider
from shadowgate.admin.verdict import add_verdict_routes
from shadowgate.config.model import ShadowgateConfig
from shadowgate.config.reload import ConfigHolder
from shadowgate.dataplane.runtime import RoutingBoard
from shadowgate.gateway import Gateway
from shadowgate.judge.judge import Judge
from shadowgate.judge.leader import Leadership, leadership_for
from shadowgate.judge.notify import Notifier
from shadowgate.judge.observe import install
from shadowgate.judge.sync import StateSync
from shadowgate.metrics import Metrics
from shadowgate.model.exchange import Exchange
from shadowgate.recording.inputs_watch import InputWatch
from shadowgate.recording.monitor_store import MonitorSaver, StoredAlarms, process_owner
from shadowgate.recording.recorder import Recorder
from shadowgate.rollout.outage import PRODUCTION_FAILED
from shadowgate.store import Store, open_store
from shadowgate.store.writer import BatchWriter

log = logging.getLogger("shadowgate")

#: why outcome records can be lost between the data plane and the store
DROP_REASONS = ("queue_full", "store_error", "shutdown", "write_error", "no_route", "lookup_error")


@dataclass
class Control:
    """The control-plane pieces attached to one gateway (handy in tests)."""

    store: Store
    writer: BatchWriter
    recorder: Recorder
    judge: Judge
    sync: StateSync
    leader: Leadership
    notifier: Notifier
    inputs: InputWatch | None = None


def attach_control(
    gateway: Gateway,
    *,
    store: Store | None = None,
    leader: Leadership | None = None,
    judge_enabled: bool = True,
    worker: int | None = None,
) -> Control:
    """Create and register everything; resources open in ``gateway.start``.

    ``worker`` is the process's ``--workers`` index (it names the process's drift monitor
    snapshots in the store)."""
    holder: ConfigHolder = gateway.holder
    metrics: Metrics = gateway.metrics
    cfg = holder.current.store
    store = store or open_store(cfg.url, retention=cfg.retention, max_rows=cfg.max_rows)
    writer = BatchWriter(
        store,
        queue_size=cfg.queue_size,
        batch_size=cfg.batch_size,
        flush_interval=cfg.flush_interval,
        on_drop=lambda route, reason, n: metrics.outcomes_dropped_total.labels(
            route=route, reason=reason
        ).inc(n),
    )
    sync = StateSync(store, holder, gateway.routing)
    recorder = Recorder(
        route_config=lambda name: holder.current.route(name),
        routing=gateway.routing.get,
        write=writer.put,
        queue_size=cfg.queue_size,
        on_drop=lambda route, reason, n: metrics.outcomes_dropped_total.labels(
            route=route, reason=reason
        ).inc(n),
        idle=gateway.proxy.idle,
    )
    gateway.sink = _SettledFilter(recorder, gateway.routing)
    leader = leader or leadership_for(cfg.url)

    def complete(route: str) -> bool:
        if not writer.healthy:
            return False  # records are stuck behind a failing store: wait for them
        if writer.incomplete(route):
            # drops were counted (queue full or store outage); the store is healthy again,
            # so what is stored is a random subsample from here on: note it and go on
            log.warning("route %s: outcomes were dropped; deciding on what was stored", route)
            writer.acknowledge(route)
        return True

    judge = Judge(store, holder, is_leader=leader.is_leader, complete=complete)
    notifier = Notifier()
    install(judge, metrics, notifier)
    # this process applies its own decisions at once; other replicas within sync.poll
    judge.listeners.append(lambda route, ctx, decision, before: sync.refresh())
    metrics_judge_heartbeat(judge, metrics)
    control = Control(store, writer, recorder, judge, sync, leader, notifier)
    control.inputs = _attach_inputs(gateway, recorder, judge, notifier)

    def precreate(cfg: ShadowgateConfig) -> None:
        # drop counters exist at 0 from the start, so dashboards and alerts see a series
        for r in cfg.routes:
            metrics.mirror_dropped_total.labels(route=r.name, reason="full")
            for reason in DROP_REASONS:
                metrics.outcomes_dropped_total.labels(route=r.name, reason=reason)
            metrics.pairs_excluded_total.labels(route=r.name, reason=PRODUCTION_FAILED)

    precreate(holder.current)
    holder.subscribe(lambda old, new: precreate(new))

    saver = MonitorSaver(control.inputs, store, process_owner(worker))
    if worker is not None and judge_enabled:
        # other processes see traffic this judge does not (--workers, --judge-process):
        # the alarms their saved monitors hold count for promotion holds and notices too
        stored = StoredAlarms(control.inputs, store)
        control.inputs.elsewhere = stored.alarmed
        gateway.add_background("stored-drift-alarms", stored.run)

    async def start() -> None:
        await store.open()
        writer.start()
        await sync.refresh()
        await saver.restore()

    async def stop() -> None:
        await recorder.close()
        await saver.save(force=True)  # what the recorder fed last included
        await writer.close(timeout=holder.current.server.shutdown_timeout)
        await notifier.close()
        await leader.close()
        await store.close()

    gateway.on_start(start)
    gateway.on_stop(stop)
    gateway.add_background("recorder", recorder.run)
    gateway.add_background("state-sync", sync.run)
    gateway.add_background("drift-snapshots", saver.run)

    async def follow_leadership() -> None:
        gauge = metrics.judge_leader  # 1 in the acting process; sums to 1 over workers
        while True:
            gauge.set(1.0 if judge_enabled and leader.is_leader() else 0.0)
            await asyncio.sleep(0.5)

    gateway.add_background("leader-gauge", follow_leadership)
    if judge_enabled:
        gateway.add_background("leader", leader.run)
        gateway.add_background("judge", judge.run)
        gateway.add_background("retention", lambda: _prune_forever(store, judge))
    app = gateway.admin_app
    add_action_routes(app, judge, sync)
    add_verdict_routes(app, judge, metrics)
    gateway.admin.status_providers.append(status_provider(judge, sync))
    gateway.admin.extra_providers.append(lambda: _writer_status(writer, recorder, leader))
    try:
        from shadowgate.admin.feedback import add_feedback_routes
    except ImportError:  # pragma: no cover - the feedback module ships with the store
        log.warning("feedback API unavailable")
    else:
        add_feedback_routes(
            app, lambda: store, config_getter=lambda: holder.current, metrics=metrics
        )
    return control


def _attach_inputs(
    gateway: Gateway, recorder: Recorder, judge: Judge, notifier: Notifier
) -> InputWatch:
    """Schema checks and drift monitors on the recording path (DESIGN §1), their metrics,
    status, ``drift`` webhook event, promotion hold, and ``enforce`` on the request path."""
    from shadowgate.inputs import REASONS, FeatureAlarm
    from shadowgate.recording.input_files import input_file_problems
    from shadowgate.recording.schema_fetch import refresh_schemas

    holder, metrics = gateway.holder, gateway.metrics
    # a reload naming a schema or reference file that cannot be used is rejected, located
    holder.checks.append(input_file_problems)

    def drift(route: str, alarm: FeatureAlarm) -> None:
        metrics.drift_alarm.labels(route=route, feature=alarm.feature).set(1.0)
        cfg = holder.current.route(route)
        if cfg is not None and cfg.webhooks:
            event = {
                "type": "shadowgate.drift",
                "route": route,
                "rollout_id": gateway.routing.routing(cfg).rollout_id,
                "on_drift": cfg.drift.on_drift if cfg.drift else None,
                **alarm.to_dict(),
            }
            notifier.send(cfg.webhooks, event)

    def e_values(route: str, values: Any, alarmed: set[str]) -> None:
        for feature, e in values.items():
            metrics.drift_e_value.labels(route=route, feature=feature).set(e)
            metrics.drift_alarm.labels(route=route, feature=feature).set(float(feature in alarmed))

    watch = InputWatch(
        on_violation=lambda r, reason, n: metrics.input_violations_total.labels(
            route=r, reason=reason
        ).inc(n),
        on_drift=drift,
        on_e_values=e_values,
    )

    def configure(cfg: ShadowgateConfig) -> None:
        watch.configure(cfg)
        for r in cfg.routes:  # counters at 0 from the start, so dashboards see a series
            if r.validation is not None:
                for reason in REASONS:
                    metrics.input_violations_total.labels(route=r.name, reason=reason)
        for name, state in watch.routes.items():
            if state.monitor is not None:
                for f in state.monitor.names:
                    metrics.drift_alarm.labels(route=name, feature=f)

    configure(holder.current)
    tasks: set[asyncio.Task[None]] = set()

    def reloaded(_old: ShadowgateConfig, new: ShadowgateConfig) -> None:
        configure(new)
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # reloaded outside the loop (tests): start() fetches
            return
        task = loop.create_task(refresh_schemas(watch, new))
        tasks.add(task)
        task.add_done_callback(tasks.discard)

    holder.subscribe(reloaded)
    gateway.on_start(lambda: refresh_schemas(watch, holder.current))
    recorder.observers.append(watch.observe)
    judge.holds.append(lambda route: watch.drifting(route.name))
    judge.notices.append(lambda route: watch.drift_notice(route.name))
    gateway.proxy.request_check = watch.reject
    gateway.admin.status_providers.append(watch.status)
    return watch


class _SettledFilter:
    """Once a rollout has ended, the requests production serves alone are not evidence of
    anything: they are not recorded (mirrored pairs still are, e.g. while awaiting
    approval)."""

    def __init__(self, recorder: Recorder, board: RoutingBoard) -> None:
        self.recorder = recorder
        self.board = board

    def submit(self, exchange: Exchange) -> bool | None:
        if exchange.kind == "canary":
            routing = self.board.get(exchange.route)
            if routing is not None and routing.final:
                return None  # not recorded, so not a pair: the counters must match the store
        return self.recorder.submit(exchange)


def metrics_judge_heartbeat(judge: Judge, metrics: Metrics) -> None:
    """Expose when the judge last looked (alert: judge stalled)."""
    gauge = metrics.judge_last_run_timestamp_seconds
    judge.on_look.append(lambda route, ctx: gauge.set(time.time()))


def _writer_status(writer: BatchWriter, recorder: Recorder, leader: Leadership) -> dict[str, Any]:
    w = writer.stats()
    r = recorder.stats()
    return {
        "judge": {"leader": leader.is_leader()},
        "recording": {
            "exchanges_submitted": r.submitted,
            "exchanges_pending": r.pending,
            "exchanges_dropped": r.dropped_total,
            "outcomes_written": w.written,
            "outcomes_pending": w.pending,
            "outcomes_dropped": w.dropped_total,
            "store_healthy": w.healthy,
            "store_error": w.last_error,
        },
    }


async def _prune_forever(store: Store, judge: Judge, every: float = 300.0) -> None:
    while True:
        await asyncio.sleep(every)
        if not judge.is_leader():
            continue
        with contextlib.suppress(Exception):
            await store.prune(time.time())
