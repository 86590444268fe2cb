"""A route's decision status as the acting judge last committed it.

The admin port of a process whose judge does not act (``serve --judge-process``, the other
workers of ``--workers N``, replicas) answers ``/api/status`` and ``/verdict`` from the
store; it must say what the acting judge would: state, split, checks, samples, what holds
a decision (``pending``), the outage gate, output kinds and labels set aside.
"""

from __future__ import annotations

from typing import Any

from shadowgate.compare.kind_tally import KindTally
from shadowgate.config.outage import ProductionOutageConfig
from shadowgate.judge.context import stored_bake
from shadowgate.judge.judge import Judge
from shadowgate.rollout.outage import OutageGate


async def stored_status(judge: Judge, route_name: str) -> dict[str, Any]:
    """The committed status of the route's current rollout ({} before it has one); raises
    ``StoreError`` when the store cannot be read."""
    rollout = await judge.store.current_rollout(route_name)
    if rollout is None:
        return {}
    saved = await judge.store.load_judge_state(route_name, rollout.rollout_id)
    if saved is None:
        return {"rollout_id": rollout.rollout_id, "state": "shadow", "checks": []}
    data = saved.data
    route = judge.holder.current.route(route_name)
    outage_cfg = route.analysis.production_outage if route else ProductionOutageConfig()
    routing = saved.detail.get("routing") or {}
    analysis = data.get("analysis") or {}
    canary = analysis.get("canary") or [0, 0]
    return {
        "rollout_id": rollout.rollout_id,
        "state": saved.state,
        "effective": {k: routing.get(k) for k in ("mode", "weight", "mirror")},
        "last_decision": data.get("last_decision"),
        "pending": data.get("pending"),
        "checks": data.get("results", []),
        **OutageGate.from_dict(outage_cfg, data.get("outage") or {}).status(),
        "kind_mismatch": KindTally.from_dict(data.get("kinds") or {}).status(
            route.prediction.map_kinds if route else True
        ),
        "samples": {
            "pairs": analysis.get("pairs", 0),
            "labels": analysis.get("labels", 0),
            "canary_production": canary[0],
            "canary_candidate": canary[1],
            "canary_labels": analysis.get("canary_labels", 0),
            "labels_rejected": dict(data.get("labels_rejected") or {}),
        },
        "bake": stored_bake(route, saved) if route else None,
        "note": "state as last committed by the acting judge",
    }
