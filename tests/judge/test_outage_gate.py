"""The judge with production partly down: no decision while the gate is active, even when
the pairs production survived would decide; the decision comes once it recovers."""

from __future__ import annotations

import pytest

from shadowgate.admin.actions import status_provider
from shadowgate.config.model import ShadowgateConfig
from shadowgate.config.reload import ConfigHolder
from shadowgate.judge.judge import Judge
from shadowgate.store import OutcomeRecord, Store


def config(**outage: object) -> ShadowgateConfig:
    analysis = {
        "min_samples": 50,
        "interval": "10ms",
        "checks": [{"metric": "errors", "margin": 0.05}],
        "production_outage": {"max_error_rate": "20%", "window": "10s", "min_pairs": 10, **outage},
    }
    return ShadowgateConfig.model_validate(
        {
            "routes": [
                {
                    "name": "m",
                    "match": {"path_prefix": "/m"},
                    "production": {"url": "http://127.0.0.1:1"},
                    "candidate": {"url": "http://127.0.0.1:2"},
                    "analysis": analysis,
                }
            ]
        }
    )


def pairs(rollout: str, start: float, n: int, *, every_nth_fails: int = 0) -> list[OutcomeRecord]:
    """n pairs 10 ms apart; production fails (connect) on every n-th when asked."""
    out = []
    for i in range(n):
        down = every_nth_fails > 0 and i % every_nth_fails == 0
        out.append(
            OutcomeRecord(
                route="m",
                rollout_id=rollout,
                request_id=f"r{start}-{i}",
                ts=start + i * 0.01,
                kind="shadow",
                variant="production",
                prod_status=None if down else 200,
                prod_latency=0.01,
                prod_error="connect" if down else None,
                cand_status=200,
                cand_latency=0.01,
                rows=1,
                agree=[True],
                prod_pred=None if down else [1],
                cand_pred=[1],
            )
        )
    return out


@pytest.mark.parametrize("enabled", [True, False])
async def test_no_decision_while_production_fails_then_one_after(
    store: Store, enabled: bool
) -> None:
    holder = ConfigHolder(config(enabled=enabled))
    route = holder.current.routes[0]
    judge = Judge(store, holder, clock=lambda: 5000.0)
    ctx = await judge.context(route)
    # a third of production's answers fail: 400 surviving pairs, far more than the check needs
    await store.insert_outcomes(pairs(ctx.rollout_id, 1000.0, 600, every_nth_fails=3))
    decision = await judge.look(route)
    ctx = judge.contexts["m"]
    if not enabled:  # the old behaviour: production's failures count for the candidate
        assert ctx.outage.excluded == {} and ctx.analysis.pairs == 600
        assert decision is not None and decision.event.value == "passed"
        return
    assert ctx.outage.excluded == {"production_failed": 200}
    assert ctx.analysis.pairs == 400
    assert decision is None and ctx.outage.active
    assert next(r for r in ctx.results() if r.check == "errors").verdict == "passed"
    assert judge.status(route)["outage"]["active"] is True
    # recovery: healthy pairs push the window's failure share under the resume rate
    await store.insert_outcomes(pairs(ctx.rollout_id, 1010.0, 1200))
    decision = await judge.look(route)
    assert decision is not None and decision.event.value == "passed"
    assert not judge.contexts["m"].outage.active
    audit = [a.decision for a in await store.read_audit("m", ctx.rollout_id)]
    assert audit == ["outage_paused:shadow", "outage_resumed:shadow", "passed:promoted"]


async def test_the_gate_survives_a_judge_restart(store: Store) -> None:
    holder = ConfigHolder(config())
    route = holder.current.routes[0]
    judge = Judge(store, holder, clock=lambda: 5000.0)
    ctx = await judge.context(route)
    await store.insert_outcomes(pairs(ctx.rollout_id, 1000.0, 300, every_nth_fails=2))
    assert await judge.look(route) is None
    again = Judge(store, holder, clock=lambda: 5001.0)
    assert await again.look(route) is None
    restored = again.contexts["m"]
    assert restored.outage.active and restored.outage.excluded == {"production_failed": 150}
    # a replica that is not the acting judge shows the committed pause and counts
    provide = status_provider(Judge(store, holder), None)
    shown = (await provide("m"))["rollout"]
    assert shown["outage"]["active"] is True and "production failing" in shown["outage"]["reason"]
    assert shown["excluded"] == {"production_failed": 150}


async def test_sporadic_production_failures_stay_evidence(store: Store) -> None:
    """Below the threshold nothing is left out: leaving out only the pairs production
    failed would charge the candidate with its own independent failures."""
    holder = ConfigHolder(config())
    route = holder.current.routes[0]
    judge = Judge(store, holder, clock=lambda: 5000.0)
    ctx = await judge.context(route)
    await store.insert_outcomes(pairs(ctx.rollout_id, 1000.0, 400, every_nth_fails=20))
    await judge.look(route)
    ctx = judge.contexts["m"]
    assert not ctx.outage.active and ctx.outage.excluded == {}
    assert ctx.analysis.pairs == 400
