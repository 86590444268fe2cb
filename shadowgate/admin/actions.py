"""Operator actions and decision status on the admin API.

``POST /api/routes/{name}/{promote|rollback|approve|pause|resume|restart}`` applies the
action through the judge (audited with actor ``operator``); the token check is done by the admin
app's middleware. A refused transition (e.g. approve while in shadow) answers with the
error's ``error_status_hint`` (409) and the reason; an unknown route 404.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from shadowgate.admin.stored import stored_status
from shadowgate.errors import StoreError
from shadowgate.judge.judge import Judge
from shadowgate.judge.sync import StateSync
from shadowgate.rollout.machine import TransitionError

ACTIONS = ("promote", "rollback", "approve", "pause", "resume", "restart")

JUDGE: web.AppKey[Judge] = web.AppKey("shadowgate_judge", Judge)
SYNC: web.AppKey[StateSync] = web.AppKey("shadowgate_sync", StateSync)


def _error(status: int, error: str, message: str) -> web.Response:
    return web.json_response({"error": error, "message": message}, status=status)


async def route_action(request: web.Request) -> web.Response:
    name = request.match_info["name"]
    action = request.match_info["action"]
    if action not in ACTIONS:
        return _error(404, "unknown_action", f"unknown action {action!r}; use one of {ACTIONS}")
    judge = request.app[JUDGE]
    if judge.holder.current.route(name) is None:
        known = ", ".join(r.name for r in judge.holder.current.routes) or "none"
        return _error(404, "unknown_route", f"no route named {name!r} (routes: {known})")
    actor = request.headers.get("X-Shadowgate-Actor", "operator")[:64] or "operator"
    who = f"operator:{actor}" if actor != "operator" else actor
    try:
        if action == "restart":  # a new rollout of the same candidate, in the file's mode
            ctx = await judge.restart(name, actor=who)
        else:
            ctx = await judge.act(name, action, actor=who)
    except TransitionError as exc:
        return _error(exc.error_status_hint, "transition_refused", str(exc))
    if request.app.get(SYNC) is not None:
        await request.app[SYNC].refresh()  # apply on this replica at once
    return web.json_response(
        {
            "route": name,
            "rollout_id": ctx.rollout_id,
            "state": ctx.rollout.state.value,
            "decision": ctx.last_decision,
        }
    )


async def route_history(request: web.Request) -> web.Response:
    """``GET /api/routes/{name}/rollouts``: every rollout of the route, newest first, each
    with its last committed state and its audit trail (earlier rollouts stay queryable)."""
    name = request.match_info["name"]
    judge = request.app[JUDGE]
    if judge.holder.current.route(name) is None:
        known = ", ".join(r.name for r in judge.holder.current.routes) or "none"
        return _error(404, "unknown_route", f"no route named {name!r} (routes: {known})")
    store = judge.store
    out = []
    for ro in sorted(await store.list_rollouts(name), key=lambda r: -r.number):
        saved = await store.load_judge_state(name, ro.rollout_id)
        audit = await store.read_audit(name, ro.rollout_id)
        out.append(
            {
                "rollout_id": ro.rollout_id,
                "candidate": ro.candidate_identity,
                "started_at": ro.started_at,
                "config_digest": ro.config_digest,
                "state": saved.state if saved else "shadow",
                "samples": rollout_samples(saved.data) if saved else 0,
                "audit": [
                    {
                        "time": a.time,
                        "decision": a.decision,
                        "actor": a.actor,
                        "check": a.check,
                        "p_value": a.p_value,
                        "estimate": a.estimate,
                        "ci": [a.ci_lower, a.ci_upper],
                        "n": a.n,
                        "reason": a.reason,
                        "config_digest": a.config_digest,
                    }
                    for a in audit
                ],
            }
        )
    return web.json_response({"route": name, "rollouts": out})


def rollout_samples(data: dict[str, Any]) -> int:
    """A rollout's own samples: its shadow pairs plus the requests it judged in canary."""
    analysis = data.get("analysis") or {}
    canary = analysis.get("canary") or [0, 0]
    return int(analysis.get("pairs", 0)) + sum(int(x) for x in canary)


def add_action_routes(app: web.Application, judge: Judge, sync: StateSync | None) -> None:
    app[JUDGE] = judge
    if sync is not None:
        app[SYNC] = sync
    app.router.add_post("/api/routes/{name}/{action}", route_action)
    app.router.add_get("/api/routes/{name}/rollouts", route_history)


def status_provider(judge: Judge, sync: StateSync | None) -> Any:
    """Per-route decision status for ``/api/status`` (see ``control.admin``)."""

    async def provide(route_name: str) -> dict[str, Any] | None:
        route = judge.holder.current.route(route_name)
        if route is None:
            return None
        out: dict[str, Any] = {}
        if route.candidate is None:
            return {
                "rollout": {
                    "state": None,
                    "rollout_id": None,
                    "note": "no candidate: production serves alone, nothing is decided",
                    "config_disagrees": None,
                }
            }
        status = judge.status(route)
        if not status:
            # not the acting judge (or before its first look): read the committed state
            try:
                out = await stored_status(judge, route_name)
            except StoreError as exc:  # status must answer while the store is down
                out = {"error": f"rollout state unavailable: {exc}"}
        else:
            out = status
        if sync is not None:
            out["config_disagrees"] = sync.disagreement(route)
        return {"rollout": out} if out else None

    return provide
