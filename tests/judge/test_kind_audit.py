"""Outputs that differ in kind: audited once per rollout, also across a judge's restart,
counted on from where the restarted judge left off, and shown by processes that are not
the acting judge (real SQLite store)."""

from __future__ import annotations

from pathlib import Path

from shadowgate.admin.actions import status_provider
from shadowgate.config.model import ShadowgateConfig
from shadowgate.config.reload import ConfigHolder
from shadowgate.judge.judge import Judge
from shadowgate.store import OutcomeRecord, Store, open_store

CONFIG = ShadowgateConfig.model_validate(
    {
        "routes": [
            {
                "name": "m",
                "match": {"path_prefix": "/m"},
                "production": {"url": "http://127.0.0.1:1"},
                "candidate": {"url": "http://127.0.0.1:2", "version": "v1"},
                "analysis": {"min_samples": 10_000, "checks": [{"metric": "errors"}]},
            }
        ]
    }
)
KINDS = "production: labels [2] INT64; candidate: probabilities [2,2] FP64"


def pairs(rollout: str, n: int, start: int) -> list[OutcomeRecord]:
    out = []
    for i in range(start, start + n):
        r = OutcomeRecord("m", rollout, f"q{i}", 1000.0 + i, "shadow", "production")
        r.prod_status = r.cand_status = 200
        r.prod_latency = r.cand_latency = 0.01
        r.rows, r.agree = 2, [True, True]
        r.prod_pred, r.cand_pred = [0, 1], [[0.9, 0.1], [0.2, 0.8]]
        r.extra = {"kind_mismatch": KINDS} if i % 2 == 0 else {}
        out.append(r)
    return out


async def kind_audits(store: Store, rollout: str) -> list[str]:
    return [a.decision for a in await store.read_audit("m", rollout) if "kind" in a.decision]


async def test_audited_once_per_rollout_across_a_restart(tmp_path: Path) -> None:
    store = open_store(f"sqlite:///{tmp_path}/j.db")
    await store.open()
    try:
        route = CONFIG.routes[0]
        judge = Judge(store, ConfigHolder(CONFIG))
        rollout = (await judge.context(route)).rollout_id
        await store.insert_outcomes(pairs(rollout, 20, 0))
        await judge.look(route)
        assert await kind_audits(store, rollout) == ["kind_mismatch:shadow"]
        status = judge.status(route)["kind_mismatch"]
        assert (status["pairs"], status["compared"], status["mapped"]) == (10, 20, 0)
        assert status["differs"] == KINDS.replace("[2", "[N")
        # a process that is not the acting judge shows what the acting one committed
        other = status_provider(Judge(store, ConfigHolder(CONFIG), is_leader=lambda: False), None)
        shown = (await other("m"))["rollout"]
        assert shown["note"] == "state as last committed by the acting judge"
        assert shown["kind_mismatch"] == status
        live = judge.status(route)["samples"]
        assert shown["samples"]["pairs"] == live["pairs"] == 20
        assert shown["samples"]["labels_rejected"] == {}

        restarted = Judge(store, ConfigHolder(CONFIG))
        await store.insert_outcomes(pairs(rollout, 20, 20))
        await restarted.look(route)
        await restarted.look(route)
        assert await kind_audits(store, rollout) == ["kind_mismatch:shadow"]
        status = restarted.status(route)["kind_mismatch"]
        assert (status["pairs"], status["compared"]) == (20, 40)
    finally:
        await store.close()
