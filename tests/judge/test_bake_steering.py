"""The bake on the judge with a real SQLite store: file edits while baking (the mirrored
share, a pull-back to a canary or to shadow), drift and the confirm hook at the bake's end,
and a failing reference (neither promotes nor reverts; the bake's clock stops)."""

from __future__ import annotations

from typing import Any

import numpy as np

from judge.test_bake import BAKE, Clock, committed, pairs, promote_into_bake
from judge.test_lifecycle import canary
from shadowgate.config.model import RouteConfig, ShadowgateConfig
from shadowgate.config.reload import ConfigHolder
from shadowgate.judge.context import RouteContext
from shadowgate.judge.judge import Judge
from shadowgate.rollout.machine import State
from shadowgate.store import OutcomeRecord, Store

ANALYSIS: dict[str, Any] = {
    "min_samples": 100,
    "interval": "10ms",
    "checks": [{"metric": "errors", "margin": 0.02}, {"metric": "latency", "margin": 0.1}],
}


def config(**route: Any) -> ShadowgateConfig:
    r: dict[str, Any] = {
        "name": "m",
        "match": {"path_prefix": "/m"},
        "production": {"url": "http://127.0.0.1:1"},
        "candidate": {"url": "http://127.0.0.1:2", "version": "v1"},
        "analysis": ANALYSIS,
        "canary": {"weight": 0, "step_min_samples": 100},
        "after_promotion": {"bake": BAKE, "mirror_percent": 10, "min_samples": 300},
    }
    r.update(route)
    return ShadowgateConfig.model_validate({"routes": [r]})


async def audit(store: Store) -> list[tuple[str, str, str]]:
    return [(a.decision, a.actor, a.reason) for a in await store.read_audit("m")]


async def baking(store: Store, **route: Any) -> tuple[Judge, ConfigHolder, Clock, RouteContext]:
    clock = Clock()
    holder = ConfigHolder(config(**route))
    judge = Judge(store, holder, clock=clock)
    ctx = await promote_into_bake(store, judge, clock)
    return judge, holder, clock, ctx


def failing_reference(rows: list[OutcomeRecord]) -> list[OutcomeRecord]:
    """The same reverse-shadow pairs with the former production answering 503."""
    for r in rows:
        r.prod_status, r.prod_latency = 503, None
    return rows


async def feed(
    store: Store, judge: Judge, route: RouteConfig, clock: Clock, looks: int, **kw: Any
) -> None:
    rng = np.random.default_rng(looks)
    ctx = judge.contexts["m"]
    for _ in range(looks):
        rows, _ = pairs(rng, ctx.rollout_id, 50, clock.t, reverse=True)
        await store.insert_outcomes(failing_reference(rows) if kw.get("fail") else rows)
        clock.t += kw.get("step", 1.0)
        await judge.look(route)


async def test_a_mirror_edit_while_baking_sets_the_share_mirrored_to_the_former_production(
    store: Store,
) -> None:
    judge, holder, _, ctx = await baking(store)
    assert (await committed(store)).mirror_percent == 10.0
    holder.swap(config(mirror={"percent": 40}))
    await judge.look(holder.current.routes[0])
    r = await committed(store)
    assert (ctx.rollout.state, r.reverse, r.mirror_percent) == (State.BAKING, True, 40.0)
    decision, actor, reason = (await audit(store))[-1]
    assert (decision, actor) == ("edit:baking", "config")
    assert "mirror.percent 100 → 40" in reason and "40% of requests are now mirrored" in reason
    after = {"bake": BAKE, "mirror_percent": 25, "min_samples": 300}
    holder.swap(config(mirror={"percent": 40}, after_promotion=after))
    await judge.look(holder.current.routes[0])
    assert (await committed(store)).mirror_percent == 25.0  # the later edit wins
    assert "after_promotion.mirror_percent 10 → 25" in (await audit(store))[-1][2]


async def test_an_edit_pulls_a_promotion_back_to_a_canary_that_bakes_again(store: Store) -> None:
    judge, holder, clock, ctx = await baking(store)
    await feed(store, judge, holder.current.routes[0], clock, 4)
    first_bake = ctx.bake
    assert first_bake is not None and first_bake.pairs == 200
    holder.swap(config(mode="canary", canary={"weight": 30, "step_min_samples": 100}))
    route = holder.current.routes[0]
    await judge.look(route)
    r = await committed(store)
    assert (ctx.rollout.state, r.mode, r.weight, r.reverse) == (State.CANARY, "canary", 30.0, False)
    decision, actor, reason = (await audit(store))[-1]
    assert (decision, actor) == ("edit:canary", "config")
    assert "pulled back to a canary at 30%" in reason and "the bake stops after 200 pairs" in reason
    assert ctx.analysis.srm_weight == 30.0  # the split check follows the new shares
    assert await judge.look(route) is None  # the old evidence does not promote it again at once
    rng = np.random.default_rng(5)
    clock.t += 3  # past the split's settling window
    for _ in range(20):
        await store.insert_outcomes(canary(rng, ctx.rollout_id, 100, 30.0, clock.t))
        clock.t += 1
        if await judge.look(route) is not None:
            break
    assert ctx.rollout.state is State.BAKING, ctx.rollout
    assert ctx.bake is first_bake and ctx.bake.pairs == 200  # the bake's tests go on
    assert (await committed(store)).mirror_percent == 10.0


async def test_an_edit_pulls_a_promotion_back_to_shadow_which_needs_new_pairs(
    store: Store,
) -> None:
    judge, holder, clock, ctx = await baking(store)
    full = {"weight": 100, "step_min_samples": 100}
    holder.swap(config(mode="canary", canary=full))
    await judge.look(holder.current.routes[0])
    assert ctx.rollout.state is State.BAKING  # 100 %: what the bake serves already
    assert "already serves 100% while baking" in (await audit(store))[-1][2]
    holder.swap(config(mode="shadow", canary=full))
    route = holder.current.routes[0]
    await judge.look(route)
    r = await committed(store)
    assert (ctx.rollout.state, r.mode, r.mirror, r.reverse) == (State.SHADOW, "shadow", True, False)
    assert "pulled back to shadow" in (await audit(store))[-1][2]
    rng = np.random.default_rng(6)
    rows, _ = pairs(rng, ctx.rollout_id, 99, clock.t)
    await store.insert_outcomes(rows)
    clock.t += 1
    assert await judge.look(route) is None  # min_samples (100) new pairs first
    rows, _ = pairs(rng, ctx.rollout_id, 1, clock.t)
    await store.insert_outcomes(rows)
    clock.t += 1
    assert await judge.look(route) is not None
    assert ctx.rollout.state is State.BAKING


async def test_a_drift_alarm_while_baking_is_audited_and_block_promotion_holds_its_end(
    store: Store,
) -> None:
    judge, holder, clock, ctx = await baking(store)
    alarm: list[str] = []
    judge.holds.append(lambda route: alarm[0] if alarm else None)
    asked: list[str] = []

    async def confirm(route: RouteConfig, ctx: RouteContext) -> bool:
        asked.append(route.name)
        return True

    judge.confirm = confirm
    route = holder.current.routes[0]
    await feed(store, judge, route, clock, 3)
    alarm.append("promotion held: inputs drift (x[0]); drift.on_drift is block_promotion")
    await feed(store, judge, route, clock, 4)
    drift = [a for a in await audit(store) if a[0] == "drift_alarm:baking"]
    assert len(drift) == 1 and "inputs drift (x[0])" in drift[0][2]  # said once
    assert judge.status(route)["bake"]["drift"] == alarm[0]
    clock.t = ctx.rollout.since + BAKE
    assert await judge.look(route) is None
    assert ctx.rollout.state is State.BAKING  # held: still watched, the candidate serving
    assert ctx.pending_event is not None and ctx.pending_event.startswith("bake done, but")
    alarm.clear()  # the alarm cleared (a restart of the monitor): the bake ends
    assert await judge.look(route) is not None
    assert ctx.rollout.state is State.PROMOTED
    assert asked == []  # confirmed before the bake: not asked again at its end


async def test_a_drift_alarm_under_alert_is_named_in_the_promotion(store: Store) -> None:
    judge, holder, clock, ctx = await baking(store)
    note = "inputs drift (x[0]); drift.on_drift is alert, so the promotion is not held"
    judge.notices.append(lambda route: note)
    route = holder.current.routes[0]
    await feed(store, judge, route, clock, 7)
    clock.t = ctx.rollout.since + BAKE
    assert await judge.look(route) is not None
    assert ctx.rollout.state is State.PROMOTED and ctx.rollout.reason.endswith(note)
    assert [a[0] for a in await audit(store)] == [
        "passed:baking",
        "drift_alarm:baking",
        "passed:promoted",
    ]


async def test_a_failing_reference_neither_reverts_nor_promotes(store: Store) -> None:
    # the outage gate would stop the clock: here it never sees enough pairs to act, so only
    # "pairs with a failed reference are no evidence" stands between the bake and its end
    outage = {"min_pairs": 100_000}
    analysis = {**ANALYSIS, "production_outage": outage}
    judge, holder, clock, ctx = await baking(store, analysis=analysis)
    route = holder.current.routes[0]
    await feed(store, judge, route, clock, 10, fail=True)
    clock.t = ctx.rollout.since + 2 * BAKE
    assert await judge.look(route) is None
    assert ctx.rollout.state is State.BAKING
    assert ctx.bake is not None and (ctx.bake.pairs, ctx.bake.answered) == (500, 0)
    assert ctx.pending_event is not None and "only 0 of the 300 pairs" in ctx.pending_event
    assert judge.status(route)["bake"]["answered"] == 0
    await feed(store, judge, route, clock, 6)  # it answers again: 300 pairs, promoted
    assert ctx.rollout.state is State.PROMOTED
    assert ctx.rollout.reason.startswith("bake of 60s done: 300 pairs")


async def test_the_bake_clock_stops_while_the_reference_is_down(store: Store) -> None:
    outage = {"min_pairs": 20, "window": "5s"}
    analysis = {**ANALYSIS, "production_outage": outage}
    judge, holder, clock, ctx = await baking(store, analysis=analysis)
    route = holder.current.routes[0]
    since = ctx.rollout.since
    await feed(store, judge, route, clock, 8)  # 400 good pairs, 8 s of the bake
    await feed(store, judge, route, clock, 20, fail=True)  # the reference is down for 20 s
    assert ctx.outage.active
    assert [a[0] for a in await audit(store)][-1] == "outage_paused:baking"
    assert "the bake's clock stops" in (await audit(store))[-1][2]
    clock.t = since + BAKE + 1
    assert await judge.look(route) is None  # paused: nothing is decided
    await feed(store, judge, route, clock, 8)  # it recovers
    assert not ctx.outage.active and ctx.rollout.state is State.BAKING
    stopped = ctx.bake_stopped
    assert stopped > 20.0, stopped  # from the outage's start to its end
    status = judge.status(route)["bake"]
    assert status["ends_at"] == since + BAKE + stopped
    clock.t = since + BAKE + stopped - 1
    assert await judge.look(route) is None  # 1 s of working reference still to go
    assert ctx.rollout.state is State.BAKING
    clock.t = since + BAKE + stopped
    assert await judge.look(route) is not None and ctx.rollout.state is State.PROMOTED
    # and a restarted judge resumes the same clock
    again = Judge(store, holder, clock=clock)
    assert (await again.context(route)).bake_stopped == stopped
