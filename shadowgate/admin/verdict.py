"""The judge's verdict for external controllers: Argo Rollouts and Flagger.

- ``GET /api/routes/{name}/verdict`` answers 200 for every state of a known route (404
  for an unknown one): ``{route, rollout_id, state, decision, reason, samples, checks,
  phase, bake}``, where ``decision`` is ``continue`` (still deciding, paused, awaiting
  approval, baking), ``promote``, ``rollback`` or ``inconclusive``. Argo Rollouts' ``web``
  metric provider reads it with ``jsonPath: "{$.decision}"`` (a non-2xx would be a
  measurement error).
- ``samples`` and ``checks`` are the evidence the verdict stands on, the tests of ``phase``:
  ``shadow`` or ``canary`` before a promotion; ``bake`` while baking and once a rollout has
  ended from its bake (a regression while baking is the bake's checks, not the ones that
  promoted). ``bake`` is then the bake's clock and counts, with ``bake.promotion`` the
  rollout's own samples and checks the promotion was decided on; else it is null.
- ``POST /api/routes/{name}/verdict/{gate}`` answers 200 when the verdict passes that
  gate, else 412 with the reason. Flagger's webhooks read only the status code:
  ``promote`` for ``confirm-promotion`` (200 once promoted), ``rollback`` for
  ``rollback`` (a 2xx marks the canary failed) and ``continue`` for ``rollout`` (run each
  iteration; a non-2xx counts as a failure, so it passes while the decision is
  ``continue`` or ``promote``, and fails on ``rollback`` and ``inconclusive``).

Verdict reads are safe calls (GET, or a POST that changes nothing): they need no token,
and the gauge ``shadowgate_decision{route,decision}`` follows each answer.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from shadowgate.admin.stored import stored_status
from shadowgate.errors import StoreError
from shadowgate.judge.judge import Judge
from shadowgate.metrics import DECISIONS, Metrics, decision_for_state

#: which decisions pass each gate of ``POST .../verdict/{gate}``
GATES: dict[str, frozenset[str]] = {
    "promote": frozenset({"promote"}),
    "rollback": frozenset({"rollback"}),
    "continue": frozenset({"continue", "promote"}),
}

_VERDICT_JUDGE: web.AppKey[Judge] = web.AppKey("shadowgate_verdict_judge", Judge)
_VERDICT_METRICS: web.AppKey[Metrics] = web.AppKey("shadowgate_verdict_metrics", Metrics)


def _reason(state: str, decision: str, status: dict[str, Any]) -> str:
    """Why the verdict is what it is, in a sentence an operator can act on."""
    last = status.get("last_decision") or {}
    if last.get("to") == state and last.get("reason"):
        # what holds it since (e.g. a bake whose end is held for drift) comes after
        held = f"; now: {status['pending']}" if status.get("pending") else ""
        return f"{state}: {last['reason']}{held}"
    if status.get("error"):
        return f"the rollout state cannot be read right now ({status['error']}); keep waiting"
    if state == "awaiting_approval":
        return "awaiting_approval: every check passed; waiting for an operator's approve"
    if decision == "continue":
        pending = [
            c.get("check", "?")
            for c in status.get("checks") or []
            if c.get("verdict") not in ("passed", "harm")
        ]
        samples = status.get("samples") or {}
        n = samples.get("pairs", 0) + samples.get("canary_production", 0)
        n += samples.get("canary_candidate", 0)
        if not status.get("rollout_id"):
            return f"{state}: the judge has not looked at this route yet"
        undecided = f"; undecided: {', '.join(pending)}" if pending else ""
        held = f"; {status['pending']}" if status.get("pending") else ""
        return f"{state}: collecting evidence ({n} samples){undecided}{held}"
    return f"{state}: no reason recorded"


def _bake_progress(bake: dict[str, Any]) -> str:
    """Where an active bake stands, for the verdict's reason."""
    undecided = [
        str(c.get("check", "?"))
        for c in bake.get("checks") or []
        if c.get("verdict") not in ("passed", "harm")
    ]
    return (
        f"baking against the former production: {bake.get('answered', 0)} of the "
        f"{bake.get('min_samples')} pairs it needs answered ({bake.get('pairs', 0)} mirrored)"
        + (f"; undecided: {', '.join(undecided)}" if undecided else "")
    )


def verdict_doc(route: str, status: dict[str, Any]) -> dict[str, Any]:
    """The verdict answer for one route from its decision status (pure; tested alone)."""
    state = str(status.get("state") or "shadow")
    decision = decision_for_state(state)
    samples = status.get("samples") or {}
    checks = status.get("checks") or []
    reason = _reason(state, decision, status)
    bake = status.get("bake")
    doc: dict[str, Any] = {
        "route": route,
        "rollout_id": status.get("rollout_id"),
        "state": state,
        "decision": decision,
    }
    if not isinstance(bake, dict):
        phase = str(status.get("phase") or ("canary" if state == "canary" else "shadow"))
        return {**doc, "reason": reason, "samples": samples, "checks": checks, "phase": phase,
                "bake": None}  # fmt: skip
    if bake.get("active") and not status.get("pending"):
        reason = f"{reason}; now: {_bake_progress(bake)}"
    bake_samples = dict(bake.get("samples") or {})
    # the keys a shadow phase's samples have, so a reader of samples.pairs needs no branch
    bake_samples.update(canary_production=0, canary_candidate=0, canary_labels=0)
    return {
        **doc,
        "reason": reason,
        "samples": bake_samples,
        "checks": bake.get("checks") or [],
        "phase": "bake",
        "bake": {
            **{k: v for k, v in bake.items() if k not in ("samples", "checks")},
            "promotion": {"samples": samples, "checks": checks},
        },
    }


async def route_status(judge: Judge, route_name: str) -> dict[str, Any]:
    """The acting judge's status, else the state it last committed (a non-leader replica)."""
    route = judge.holder.current.route(route_name)
    assert route is not None
    live = judge.status(route)
    if live:
        return live
    try:
        return await stored_status(judge, route_name)
    except StoreError as exc:
        return {"error": str(exc)}


def _unknown(request: web.Request, name: str) -> web.Response | None:
    judge = request.app[_VERDICT_JUDGE]
    if judge.holder.current.route(name) is not None:
        return None
    known = ", ".join(r.name for r in judge.holder.current.routes) or "none"
    return web.json_response(
        {"error": "unknown_route", "message": f"no route named {name!r} (routes: {known})"},
        status=404,
    )


async def _verdict(request: web.Request) -> dict[str, Any]:
    name = request.match_info["name"]
    doc = verdict_doc(name, await route_status(request.app[_VERDICT_JUDGE], name))
    request.app[_VERDICT_METRICS].set_decision(name, doc["decision"])
    return doc


async def get_verdict(request: web.Request) -> web.Response:
    missing = _unknown(request, request.match_info["name"])
    if missing is not None:
        return missing
    return web.json_response(await _verdict(request))


async def gate_verdict(request: web.Request) -> web.Response:
    gate = request.match_info["gate"]
    if gate not in GATES:
        message = f"unknown gate {gate!r}; use one of {tuple(GATES)}"
        return web.json_response({"error": "unknown_gate", "message": message}, status=404)
    missing = _unknown(request, request.match_info["name"])
    if missing is not None:
        return missing
    doc = await _verdict(request)
    passed = doc["decision"] in GATES[gate]
    doc["gate"] = gate
    doc["passed"] = passed
    if not passed:
        doc["message"] = f"the verdict is {doc['decision']}, not {gate}: {doc['reason']}"
    return web.json_response(doc, status=200 if passed else 412)


gate_verdict.read_only = True  # type: ignore[attr-defined]  # changes nothing: no token


def add_verdict_routes(app: web.Application, judge: Judge, metrics: Metrics) -> None:
    """Register the verdict endpoints on the admin app (gauges start at continue)."""
    app[_VERDICT_JUDGE] = judge
    app[_VERDICT_METRICS] = metrics
    app.router.add_get("/api/routes/{name}/verdict", get_verdict)
    app.router.add_post("/api/routes/{name}/verdict/{gate}", gate_verdict)


__all__ = ["DECISIONS", "GATES", "add_verdict_routes", "route_status", "verdict_doc"]
