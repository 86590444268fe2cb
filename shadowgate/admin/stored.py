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
from shadowgate.rollout.analysis import RouteAnalysis
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
    samples: dict[str, Any] = {}
    if route is not None and data.get("analysis"):
        # the analysis as committed, read back: the same sample counts the acting judge shows
        try:
            a = RouteAnalysis.from_dict(route.analysis, data["analysis"])
        except (KeyError, ValueError, TypeError) as exc:  # e.g. written by another version
            return {"rollout_id": rollout.rollout_id, "state": saved.state, "error": str(exc)}
        samples = {
            "pairs": a.pairs,
            "labels": a.labels,
            "canary_production": a.canary[0],
            "canary_candidate": a.canary[1],
            "canary_labels": a.canary_labels,
            "label_window": a.label_window_status(),
        }
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
        "samples": {**samples, "labels_rejected": dict(data.get("labels_rejected") or {})},
        "bake": stored_bake(route, saved) if route else None,
        "note": "state as last committed by the acting judge",
    }
