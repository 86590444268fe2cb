"""The bake after a promotion, on the judge with a real SQLite store: a regressing candidate
is reverted (also when only delayed labels show it), a clean bake ends promoted, and a
restarted judge resumes the bake with its evidence."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest

from gwhelpers import Clock
from shadowgate.config.model import ShadowgateConfig
from shadowgate.config.reload import ConfigHolder
from shadowgate.judge.judge import Judge
from shadowgate.judge.observe import metrics_hook
from shadowgate.metrics import Metrics
from shadowgate.model.routing import Routing
from shadowgate.rollout.machine import State
from shadowgate.store import OutcomeRecord, Store

BAKE = 60.0


def config(checks: list[dict[str, Any]] | None = None) -> ShadowgateConfig:
    return ShadowgateConfig.model_validate(
        {
            "routes": [
                {
                    "name": "m",
                    "match": {"path_prefix": "/m"},
                    "production": {"url": "http://127.0.0.1:1"},
                    "candidate": {"url": "http://127.0.0.1:2", "version": "v1"},
                    "prediction": {"task": "classification"},
                    "analysis": {
                        "min_samples": 100,
                        "interval": "10ms",
                        "checks": checks
                        or [
                            {"metric": "errors", "margin": 0.02},
                            {"metric": "latency", "margin": 0.1},
                        ],
                    },
                    "after_promotion": {"bake": BAKE, "mirror_percent": 10, "min_samples": 300},
                }
            ]
        }
    )


def pairs(
    rng: np.random.Generator,
    rollout: str,
    n: int,
    ts: float,
    *,
    slow: float = 1.0,
    reverse: bool = False,
    cand_right: float = 0.9,
) -> tuple[list[OutcomeRecord], list[tuple[str, Any]]]:
    out, labels = [], []
    for i in range(n):
        p = float(rng.lognormal(math.log(0.02), 0.3))
        truth = int(rng.integers(2))
        cand = truth if rng.random() < cand_right else 1 - truth
        prod = truth if rng.random() < 0.9 else 1 - truth
        rid = f"r{ts}-{i}"
        out.append(
            OutcomeRecord(
                route="m",
                rollout_id=rollout,
                request_id=rid,
                ts=ts + i * 1e-3,
                kind="shadow",
                variant="candidate" if reverse else "production",
                prod_status=200,
                prod_latency=p,
                cand_status=200,
                cand_latency=p * slow * float(rng.lognormal(0, 0.05)),
                rows=1,
                agree=[prod == cand],
                prod_pred=[prod],
                cand_pred=[cand],
            )
        )
        labels.append((rid, truth))
    return out, labels


async def promote_into_bake(store: Store, judge: Judge, clock: Clock) -> Any:
    rng = np.random.default_rng(7)
    route = judge.holder.current.routes[0]
    ctx = await judge.context(route)
    for _ in range(60):
        rows, _ = pairs(rng, ctx.rollout_id, 100, clock.t)
        await store.insert_outcomes(rows)
        clock.t += 1
        if await judge.look(route) is not None:
            break
    assert ctx.rollout.state is State.BAKING, ctx.rollout
    return ctx


def state(ctx: Any) -> State:
    """The rollout's state, read afresh (an ``is`` check on the attribute narrows it for good)."""
    current: State = ctx.rollout.state
    return current


async def committed(store: Store) -> Routing:
    return Routing.from_dict((await store.read_rollout_states())[0].detail["routing"])


async def test_a_regression_while_baking_reverts_with_the_evidence(store: Store) -> None:
    clock = Clock()
    judge = Judge(store, ConfigHolder(config()), clock=clock)
    ctx = await promote_into_bake(store, judge, clock)
    r = await committed(store)
    assert r.reverse and r.mirror_percent == 10.0 and r.candidate_share == 100.0
    assert ctx.bake is not None and ctx.bake.pairs == 0  # its own tests, from zero
    rng = np.random.default_rng(8)
    route = judge.holder.current.routes[0]
    for _ in range(40):
        rows, _ = pairs(rng, ctx.rollout_id, 100, clock.t, slow=1.5, reverse=True)
        await store.insert_outcomes(rows)
        clock.t += 0.1
        if await judge.look(route) is not None:
            break
    assert ctx.rollout.state is State.ROLLED_BACK
    assert ctx.rollout.reason.startswith("regression while baking: latency")
    metrics = Metrics()  # the gauges show the bake's tests beside the frozen shadow ones
    metrics_hook(metrics)(route, ctx)
    p = metrics.registry.get_sample_value
    audit_p = (await store.read_audit("m", ctx.rollout_id))[-1].p_value
    assert p("shadowgate_check_p_value", {"route": "m", "check": "latency:bake"}) == audit_p
    assert p("shadowgate_check_p_value", {"route": "m", "check": "latency"}) != audit_p
    r = await committed(store)
    assert (r.mode, r.weight, r.reverse, r.final) == ("canary", 0.0, False, True)
    audit = await store.read_audit("m", ctx.rollout_id)
    last = audit[-1]
    assert last.decision == "harm:rolled_back" and last.check == "latency"
    assert last.p_value is not None and last.estimate is not None and last.n
    assert [a.decision for a in audit] == ["passed:baking", "harm:rolled_back"]


async def test_a_precision_drop_seen_only_in_delayed_labels_is_reverted(store: Store) -> None:
    clock = Clock()
    checks = [{"metric": "errors", "margin": 0.02}, {"metric": "accuracy", "margin": 0.05}]
    judge = Judge(store, ConfigHolder(config(checks)), clock=clock)
    rng = np.random.default_rng(9)
    route = judge.holder.current.routes[0]
    ctx = await judge.context(route)
    for _ in range(80):  # same accuracy: promoted into the bake once labels show it
        rows, labels = pairs(rng, ctx.rollout_id, 100, clock.t)
        await store.insert_outcomes(rows)
        await store.add_labels(labels, now=clock.t)
        clock.t += 1
        if await judge.look(route) is not None:
            break
    assert ctx.rollout.state is State.BAKING
    held: list[tuple[str, Any]] = []
    for _ in range(40):  # the candidate's precision drops; labels arrive later
        rows, labels = pairs(rng, ctx.rollout_id, 100, clock.t, reverse=True, cand_right=0.5)
        await store.insert_outcomes(rows)
        held += labels
        clock.t += 0.1
        assert await judge.look(route) is None  # no label yet: nothing else differs
    await store.add_labels(held, now=clock.t)
    assert await judge.look(route) is not None
    assert state(ctx) is State.ROLLED_BACK
    assert ctx.rollout.reason.startswith("regression while baking: accuracy")


async def test_a_clean_bake_ends_promoted_and_a_restart_resumes_it(store: Store) -> None:
    clock = Clock()
    holder = ConfigHolder(config())
    judge = Judge(store, holder, clock=clock)
    ctx = await promote_into_bake(store, judge, clock)
    since = ctx.rollout.since
    rng = np.random.default_rng(10)
    route = holder.current.routes[0]
    rows, _ = pairs(rng, ctx.rollout_id, 200, clock.t, reverse=True)
    await store.insert_outcomes(rows)
    await judge.look(route)
    # the process dies mid-bake: a new judge resumes with the bake's evidence
    again = Judge(store, holder, clock=clock)
    ctx2 = await again.context(route)
    assert ctx2.rollout.state is State.BAKING and ctx2.rollout.since == since
    assert ctx2.bake is not None and ctx2.bake.pairs == 200
    rows, _ = pairs(rng, ctx.rollout_id, 200, clock.t + 1, reverse=True)
    await store.insert_outcomes(rows)
    assert await again.look(route) is None  # enough pairs, but the bake has not elapsed
    status = again.status(route)["bake"]
    assert status["pairs"] == 400 and status["ends_at"] == since + BAKE
    clock.t = since + BAKE
    assert await again.look(route) is not None
    assert state(ctx2) is State.PROMOTED
    assert (await committed(store)).weight == 100.0


@pytest.mark.parametrize(
    ("action", "ended", "split"),
    [
        ("promote", State.PROMOTED, ("canary", 100.0, False)),  # the candidate keeps serving
        ("rollback", State.ROLLED_BACK, ("canary", 0.0, False)),  # production serves again
    ],
)
async def test_an_operator_ends_a_bake_early_either_way(
    store: Store, action: str, ended: State, split: tuple[str, float, bool]
) -> None:
    clock = Clock()
    judge = Judge(store, ConfigHolder(config()), clock=clock)
    await promote_into_bake(store, judge, clock)
    assert (await committed(store)).reverse  # baking: the former production is mirrored
    ctx = await judge.act("m", action, actor="operator:bob")
    assert ctx.rollout.state is ended
    r = await committed(store)
    assert (r.mode, r.weight, r.reverse) == split and r.final
    audit = await store.read_audit("m", ctx.rollout_id)
    assert (audit[-1].decision, audit[-1].actor) == (f"{action}:{ended.value}", "operator:bob")
    assert audit[-1].reason == f"{action} by operator:bob"


async def test_pairs_recorded_before_the_promotion_and_read_after_it_are_no_bake_evidence(
    store: Store,
) -> None:
    clock = Clock()
    judge = Judge(store, ConfigHolder(config()), clock=clock)
    ctx = await promote_into_bake(store, judge, clock)
    assert ctx.bake is not None
    shadow_pairs = ctx.analysis.pairs
    rng = np.random.default_rng(11)
    # mirrored before the promotion, reaching the store only after it (a writer's batch)
    late, _ = pairs(rng, ctx.rollout_id, 40, ctx.rollout.since - 0.5)
    baked, _ = pairs(rng, ctx.rollout_id, 60, ctx.rollout.since, reverse=True)
    await store.insert_outcomes(late + baked)
    assert await judge.look(judge.holder.current.routes[0]) is None
    assert ctx.bake.pairs == 60  # the bake's tests see the reverse-shadow pairs alone
    assert ctx.analysis.pairs == shadow_pairs + 40
    status = judge.status(judge.holder.current.routes[0])["bake"]
    assert status["samples"]["pairs"] == 60 and status["active"] is True
    assert {c["phase"] for c in status["checks"]} == {"bake"}
