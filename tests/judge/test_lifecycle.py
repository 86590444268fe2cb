"""File edits as operator actions, restart, and the sample-ratio check across weight changes,
on the judge with a real SQLite store."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from gwhelpers import Clock
from shadowgate.config.model import ShadowgateConfig
from shadowgate.config.reload import ConfigHolder
from shadowgate.judge.judge import Judge
from shadowgate.model.routing import Routing
from shadowgate.rollout.machine import State
from shadowgate.store import OutcomeRecord, Store


def config(**route: Any) -> ShadowgateConfig:
    r: dict[str, Any] = {
        "name": "m",
        "match": {"path_prefix": "/m"},
        "production": {"url": "http://127.0.0.1:1"},
        "candidate": {"url": "http://127.0.0.1:2", "version": "v1"},
        "analysis": {
            "min_samples": 100000,
            "interval": "10ms",
            "checks": [{"metric": "errors", "margin": 0.02}],
        },
    }
    r.update(route)
    return ShadowgateConfig.model_validate({"routes": [r]})


async def committed(store: Store) -> Routing:
    st = (await store.read_rollout_states())[0]
    return Routing.from_dict(st.detail["routing"])


async def audit(store: Store) -> list[tuple[str, str]]:
    return [(a.decision, a.actor) for a in await store.read_audit("m")]


def canary(rng: np.random.Generator, rollout: str, n: int, weight: float, ts: float) -> list[Any]:
    cand = rng.random(n) < weight / 100
    return [
        OutcomeRecord(
            route="m",
            rollout_id=rollout,
            request_id=f"c{ts}-{i}",
            ts=ts + i * 1e-3,
            kind="canary",
            variant="candidate" if c else "production",
            prod_status=None if c else 200,
            prod_latency=None if c else 0.01,
            cand_status=200 if c else None,
            cand_latency=0.01 if c else None,
        )
        for i, c in enumerate(cand.tolist())
    ]


async def test_an_edit_in_shadow_moves_to_canary_audited_by_config(store: Store) -> None:
    holder = ConfigHolder(config())
    judge = Judge(store, holder)
    route = holder.current.routes[0]
    await judge.look(route)
    assert (await committed(store)).mode == "shadow"
    holder.swap(config(mode="canary", canary={"weight": 10}))
    await judge.look(holder.current.routes[0])
    ctx = judge.contexts["m"]
    assert ctx.rollout.state is State.CANARY
    r = await committed(store)
    assert (r.mode, r.weight) == ("canary", 10.0)
    assert await audit(store) == [("edit:canary", "config")]
    assert (await store.read_audit("m"))[0].reason == (
        "file edit: mode shadow → canary, canary.weight 0 → 10"
    )
    # the sample-ratio check now expects the new shares
    assert ctx.analysis.srm_weight == 10.0 and ctx.analysis.srm is not None
    holder.swap(config(mode="canary", canary={"weight": 20}, mirror={"percent": 50}))
    await judge.look(holder.current.routes[0])
    r = await committed(store)
    assert (r.weight, r.mirror_percent) == (20.0, 50.0)
    assert ctx.analysis.srm_weight == 20.0
    assert [d for d, _ in await audit(store)] == ["edit:canary", "edit:canary"]
    # and back to shadow: the shadow evidence was never dropped
    holder.swap(config(mode="shadow", canary={"weight": 20}, mirror={"percent": 50}))
    await judge.look(holder.current.routes[0])
    assert ctx.rollout.state is State.SHADOW and (await committed(store)).mode == "shadow"


async def test_a_weight_edit_with_steps_moves_the_rollout_to_that_weight(store: Store) -> None:
    steps = {"weight": 0, "steps": [5, 25, 50]}
    holder = ConfigHolder(config(mode="canary", canary=steps))
    judge = Judge(store, holder)
    await judge.look(holder.current.routes[0])
    assert (await committed(store)).weight == 5.0
    holder.swap(config(mode="canary", canary={**steps, "weight": 30}))
    await judge.look(holder.current.routes[0])
    ctx = judge.contexts["m"]
    assert (ctx.rollout.state, ctx.rollout.step, ctx.rollout.weight) == (State.CANARY, 1, 30.0)
    assert (await committed(store)).weight == 30.0 and ctx.analysis.srm_weight == 30.0


async def test_an_edit_while_paused_changes_what_resume_returns_to(store: Store) -> None:
    holder = ConfigHolder(config())
    judge = Judge(store, holder)
    await judge.look(holder.current.routes[0])
    await judge.act("m", "pause")
    holder.swap(config(mode="canary", canary={"weight": 40}))
    await judge.look(holder.current.routes[0])
    ctx = judge.contexts["m"]
    assert ctx.rollout.state is State.PAUSED and ctx.rollout.paused_from is State.CANARY
    assert (await committed(store)).weight == 40.0  # the split follows the edit while paused
    assert judge.contexts["m"].analysis.srm_weight == 40.0  # and so does the split check
    await judge.act("m", "resume")
    assert judge.contexts["m"].rollout.state is State.CANARY


async def test_a_terminal_state_applies_no_edit_and_restart_begins_a_new_rollout(
    store: Store,
) -> None:
    holder = ConfigHolder(config())
    judge = Judge(store, holder)
    await judge.look(holder.current.routes[0])
    old = (await judge.act("m", "rollback")).rollout_id
    holder.swap(config(mode="canary", canary={"weight": 50}))
    await judge.look(holder.current.routes[0])
    assert judge.contexts["m"].rollout.state is State.ROLLED_BACK
    assert (await committed(store)).weight == 0.0
    assert await audit(store) == [("rollback:rolled_back", "operator")]
    ctx = await judge.restart("m", actor="operator:alice")
    assert ctx.rollout_id != old and ctx.rollout.state is State.CANARY  # the file's mode
    assert ctx.last_decision is not None and old in ctx.last_decision["reason"]
    assert [(a.decision, a.actor) for a in await store.read_audit("m", ctx.rollout_id)] == [
        ("restart:canary", "operator:alice")
    ]
    rollouts = await store.list_rollouts("m")
    assert [r.rollout_id for r in rollouts] == [old, ctx.rollout_id]
    saved = await store.load_judge_state("m", old)
    assert saved is not None and saved.state == "rolled_back"  # the old one stays queryable
    # a fresh judge (a restart of the process) finds the restarted rollout current
    again = Judge(store, holder)
    assert (await again.context(holder.current.routes[0])).rollout_id == ctx.rollout_id


@pytest.mark.parametrize(("served_at", "paused"), [(50.0, False), (20.0, True)])
async def test_a_live_weight_edit_rebases_the_sample_ratio_check(
    store: Store, served_at: float, paused: bool
) -> None:
    """At weight 20 then an edit to 50: a split that follows (50 %) is never paused, one
    that stays at 20 % (broken) is."""
    rng = np.random.default_rng(3)
    clock = Clock()
    holder = ConfigHolder(config(mode="canary", canary={"weight": 20}))
    judge = Judge(store, holder, clock=clock)
    route = holder.current.routes[0]
    ctx = await judge.context(route)
    for _ in range(10):
        await store.insert_outcomes(canary(rng, ctx.rollout_id, 300, 20.0, clock.t))
        clock.t += 1
        await judge.look(route)
    assert ctx.rollout.state is State.CANARY
    holder.swap(config(mode="canary", canary={"weight": 50}))
    route = holder.current.routes[0]
    await judge.look(route)
    clock.t += 3  # past the settling window
    for _ in range(30):
        await store.insert_outcomes(canary(rng, ctx.rollout_id, 300, served_at, clock.t))
        clock.t += 1
        await judge.look(route)
        if ctx.rollout.state is State.PAUSED:
            break
    assert (ctx.rollout.state is State.PAUSED) is paused, ctx.analysis.srm_p_value()


async def test_an_edit_while_awaiting_approval_keeps_the_state_and_moves_the_split(
    store: Store,
) -> None:
    from judge.test_bake import pairs

    cfg: dict[str, Any] = {
        "analysis": {
            "min_samples": 100,
            "interval": "10ms",
            "on_success": "await_approval",
            "checks": [{"metric": "errors", "margin": 0.02}],
        }
    }
    holder = ConfigHolder(config(**cfg))
    clock = Clock()
    judge = Judge(store, holder, clock=clock)
    route = holder.current.routes[0]
    ctx = await judge.context(route)
    rng = np.random.default_rng(4)
    for _ in range(60):
        rows, _ = pairs(rng, ctx.rollout_id, 100, clock.t)
        await store.insert_outcomes(rows)
        clock.t += 1
        if await judge.look(route) is not None:
            break
    assert ctx.rollout.state is State.AWAITING_APPROVAL
    assert (await committed(store)).mode == "shadow"  # holds the last stage: mirroring
    holder.swap(config(mode="canary", canary={"weight": 15}, **cfg))
    await judge.look(holder.current.routes[0])
    assert ctx.rollout.state is State.AWAITING_APPROVAL
    r = await committed(store)
    assert (r.mode, r.weight) == ("canary", 15.0)
    assert (await audit(store))[-1] == ("edit:awaiting_approval", "config")
