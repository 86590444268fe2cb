"""Verdicts for Argo Rollouts and Flagger through a real admin API, in every state."""

from __future__ import annotations

import random
import re
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import pytest
import yaml

from gwhelpers import config, route
from shadowgate.admin.verdict import verdict_doc
from shadowgate.app import Control, attach_control
from shadowgate.config import ConfigHolder, parse_config
from shadowgate.gateway import Gateway
from shadowgate.metrics import decision_for_state
from shadowgate.rollout.machine import Event
from shadowgate.rollout.policy import Decision
from shadowgate.store import OutcomeRecord

TOKEN = "verdict-token"
DOCS = Path(__file__).resolve().parents[2] / "docs" / "integrations.md"
Started = tuple[Gateway, Control]


@pytest.fixture
async def start(
    tmp_path: Path, upstream_factory: Any
) -> AsyncIterator[Callable[..., Awaitable[Started]]]:
    """A gateway with store, judge and admin API; the judge looks only when told to."""
    started: list[Gateway] = []

    async def make(**extra: Any) -> Started:
        up = await upstream_factory()
        cfg = config(route("m", "/m", up.url, up.url, **extra), admin_token=TOKEN)
        cfg["store"] = f"sqlite:///{tmp_path}/v{len(started)}.db"
        gw = Gateway(ConfigHolder(parse_config(yaml.safe_dump(cfg))), watch_config=False)
        control = attach_control(gw, judge_enabled=False)
        await gw.start()
        started.append(gw)
        return gw, control

    yield make
    for gw in started:
        await gw.stop()


async def call(
    method: str, url: str, token: str | None = None, body: Any = None
) -> tuple[int, Any]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with (
        aiohttp.ClientSession() as s,
        s.request(method, url, headers=headers, json=body) as r,
    ):
        return r.status, await r.json()


async def metrics_text(gw: Gateway) -> str:
    async with aiohttp.ClientSession() as s, s.get(f"{gw.admin_url}/metrics") as r:
        return await r.text()


def one_hot(text: str, decision: str) -> bool:
    values = dict(re.findall(r'shadowgate_decision\{decision="(\w+)",route="m"\} (\S+)', text))
    return values == {d: ("1.0" if d == decision else "0.0") for d in values} and len(values) == 4


async def look(control: Control, monkeypatch: pytest.MonkeyPatch, event: Event | None) -> None:
    if event is not None:
        reason = {Event.PASSED: "all checks passed", Event.LIMIT: "max_samples reached"}[event]
        monkeypatch.setattr(
            "shadowgate.judge.judge.decide", lambda *a, **k: Decision(event, reason)
        )
    await control.judge.look(control.judge.holder.current.routes[0])


BAKE = {"bake": "10m", "mirror_percent": 10, "min_samples": 50}

# state → (route extras, judge event, operator action, decision, gates that answer 200)
CASES: dict[str, tuple[dict[str, Any], Event | None, str | None, str, set[str]]] = {
    "shadow": ({}, None, None, "continue", {"continue"}),
    "canary": ({"mode": "canary", "canary": {"weight": 10}}, None, None, "continue", {"continue"}),
    "paused": ({}, None, "pause", "continue", {"continue"}),
    "awaiting_approval": (
        {"analysis": {"on_success": "await_approval"}},
        Event.PASSED,
        None,
        "continue",
        {"continue"},
    ),
    "baking": ({"after_promotion": BAKE}, Event.PASSED, None, "continue", {"continue"}),
    "promoted": ({}, None, "promote", "promote", {"promote", "continue"}),
    "rolled_back": ({}, None, "rollback", "rollback", {"rollback"}),
    "inconclusive": ({}, Event.LIMIT, None, "inconclusive", set()),
}


@pytest.mark.parametrize("state", list(CASES))
async def test_verdict_and_gates_in_each_state(
    state: str, start: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    extra, event, action, decision, passing = CASES[state]
    gw, control = await start(**extra)
    await look(control, monkeypatch, None)  # the judge's first look opens the rollout
    if event is not None:
        await look(control, monkeypatch, event)
        # the judge's own look sets the gauge, before anyone asks for the verdict
        assert one_hot(await metrics_text(gw), decision)
    if action is not None:
        code, _ = await call("POST", f"{gw.admin_url}/api/routes/m/{action}", TOKEN)
        assert code == 200
    base = f"{gw.admin_url}/api/routes/m/verdict"
    code, doc = await call("GET", base)
    assert code == 200
    assert set(doc) == {
        "route", "rollout_id", "state", "decision", "reason", "samples", "checks", "phase", "bake",
    }  # fmt: skip
    assert doc["phase"] == ("bake" if state == "baking" else extra.get("mode", "shadow"))
    assert (doc["bake"] is None) is (state != "baking")
    assert (doc["route"], doc["state"], doc["decision"]) == ("m", state, decision)
    assert doc["rollout_id"] and doc["reason"].startswith(state)
    assert isinstance(doc["samples"], dict) and isinstance(doc["checks"], list)
    if action is not None:
        assert f"{action} by operator" in doc["reason"]
    for gate in ("promote", "rollback", "continue"):
        code, body = await call("POST", f"{base}/{gate}")  # no token needed: changes nothing
        assert code == (200 if gate in passing else 412), (gate, body)
        assert body["decision"] == decision and body["passed"] is (code == 200)
        if code == 412:
            assert f"the verdict is {decision}, not {gate}" in body["message"]
    assert one_hot(await metrics_text(gw), decision)
    # a verdict call changed nothing
    code, again = await call("GET", base)
    assert again["state"] == state


async def test_unknown_route_and_gate_are_404_and_actions_still_need_the_token(
    start: Any,
) -> None:
    gw, _ = await start()
    code, body = await call("GET", f"{gw.admin_url}/api/routes/nope/verdict")
    assert code == 404 and "no route named 'nope' (routes: m)" in body["message"]
    code, body = await call("POST", f"{gw.admin_url}/api/routes/m/verdict/maybe")
    assert code == 404 and "unknown gate 'maybe'" in body["message"]
    code, _ = await call("POST", f"{gw.admin_url}/api/routes/m/verdict/continue")
    assert code == 200  # before the judge's first look: shadow, continue
    # a route that happens to be named "verdict" gets no token exemption for its actions
    code, _ = await call("POST", f"{gw.admin_url}/api/routes/verdict/pause")
    assert code == 401


def test_every_state_maps_to_a_decision() -> None:
    expected = {
        "shadow": "continue",
        "canary": "continue",
        "paused": "continue",
        "awaiting_approval": "continue",
        "baking": "continue",
        "promoted": "promote",
        "rolled_back": "rollback",
        "inconclusive": "inconclusive",
    }
    assert {s: decision_for_state(s) for s in expected} == expected
    doc = verdict_doc("r", {"error": "store down"})
    assert doc["decision"] == "continue" and "cannot be read" in doc["reason"]
    pending = {
        "rollout_id": "r-1",
        "state": "shadow",
        "samples": {"pairs": 7},
        "checks": [{"check": "errors", "verdict": "passed"}, {"check": "latency"}],
    }
    assert verdict_doc("r", pending)["reason"] == (
        "shadow: collecting evidence (7 samples); undecided: latency"
    )


def test_a_held_state_says_what_holds_it() -> None:
    held = {
        "rollout_id": "r-1",
        "state": "baking",
        "last_decision": {"to": "baking", "reason": "every check passed"},
        "pending": "bake done, but promotion held: inputs drift (x[0])",
    }
    doc = verdict_doc("r", held)
    assert doc["decision"] == "continue"
    assert doc["reason"] == (
        "baking: every check passed; now: bake done, but promotion held: inputs drift (x[0])"
    )


def documented_snippets() -> dict[str, Any]:
    """The YAML snippets of `docs/integrations.md`, by `kind`."""
    text = DOCS.read_text(encoding="utf-8")
    docs = [yaml.safe_load(b) for b in re.findall(r"```yaml\n(.*?)```", text, re.S)]
    return {d["kind"]: d for d in docs}


async def test_the_documented_argo_and_flagger_snippets_work_against_the_api(
    start: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    snippets = documented_snippets()
    assert set(snippets) == {"AnalysisTemplate", "Canary"}
    metric = snippets["AnalysisTemplate"]["spec"]["metrics"][0]
    web = metric["provider"]["web"]
    assert metric["successCondition"] == 'result == "promote"'
    assert metric["failureCondition"] == 'result == "rollback"'
    # Argo passes a metric that reaches its count within its limits: one inconclusive
    # ("continue") fewer than the count means at least one measurement said "promote"
    assert metric["inconclusiveLimit"] == metric["count"] - 1 and metric["failureLimit"] == 0
    field = re.fullmatch(r"\{\$\.(\w+)\}", web["jsonPath"])
    assert field is not None
    hooks = {h["type"]: h for h in snippets["Canary"]["spec"]["analysis"]["webhooks"]}
    assert set(hooks) == {"rollout", "confirm-promotion", "rollback"}

    # Flagger's expectations per hook type: the status code is all it reads
    flagger = {
        "promoted": {"rollout": 200, "confirm-promotion": 200, "rollback": 412},
        "rolled_back": {"rollout": 412, "confirm-promotion": 412, "rollback": 200},
        "shadow": {"rollout": 200, "confirm-promotion": 412, "rollback": 412},
    }
    argo = {"promoted": "success", "rolled_back": "failure", "shadow": "neither"}
    for state, action in (("shadow", None), ("promoted", "promote"), ("rolled_back", "rollback")):
        gw, control = await start()
        await look(control, monkeypatch, None)
        if action:
            await call("POST", f"{gw.admin_url}/api/routes/m/{action}", TOKEN)
        path = urlsplit(web["url"].replace("{{args.route}}", "m")).path
        code, doc = await call("GET", gw.admin_url + path)
        assert code == 200 and field.group(1) in doc
        result = doc[field.group(1)]
        outcome = {"promote": "success", "rollback": "failure"}.get(result, "neither")
        assert outcome == argo[state], (state, doc)
        for kind, hook in hooks.items():
            hook_path = urlsplit(hook["url"]).path.replace("/routes/cancer/", "/routes/m/")
            payload = {"name": "cancer", "namespace": "ml", "phase": "Progressing"}
            code, _ = await call("POST", gw.admin_url + hook_path, body=payload)
            assert code == flagger[state][kind], (state, kind)


async def test_a_replica_that_does_not_judge_answers_from_the_committed_state(
    start: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    gw, control = await start()
    await look(control, monkeypatch, None)
    code, _ = await call("POST", f"{gw.admin_url}/api/routes/m/rollback", TOKEN)
    assert code == 200
    control.judge.contexts.clear()  # as on a replica whose judge is not the leader
    code, doc = await call("GET", f"{gw.admin_url}/api/routes/m/verdict")
    assert code == 200 and (doc["state"], doc["decision"]) == ("rolled_back", "rollback")
    assert "rollback by operator" in doc["reason"] and doc["samples"]["pairs"] == 0
    code, _ = await call("POST", f"{gw.admin_url}/api/routes/m/verdict/rollback")
    assert code == 200


def pairs(rollout_id: str, n: int, *, baking: bool, fail: float = 0.0) -> list[OutcomeRecord]:
    """``n`` shadow pairs recorded now: reverse-shadow ones (the candidate served) while
    baking, whose candidate fails on a ``fail`` share of them."""
    rng = random.Random(n)
    now = time.time()
    out = []
    for i in range(n):
        failed = rng.random() < fail
        latency = rng.lognormvariate(-4.0, 0.2)
        out.append(
            OutcomeRecord(
                route="m",
                rollout_id=rollout_id,
                request_id=f"p{now}-{i}",
                ts=now + i * 1e-4,
                kind="shadow",
                variant="candidate" if baking else "production",
                prod_status=200,
                prod_latency=latency,
                cand_status=500 if failed else 200,
                cand_latency=latency * rng.lognormvariate(0, 0.05),
                rows=1,
                agree=None if failed else [True],
            )
        )
    return out


async def test_while_baking_and_after_a_bake_regression_the_verdict_is_the_bakes_evidence(
    start: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    checks = [{"metric": "errors", "margin": 0.02}, {"metric": "latency", "margin": 0.1}]
    gw, control = await start(after_promotion=BAKE, analysis={"checks": checks})
    judge = control.judge
    await look(control, monkeypatch, None)
    rid = judge.contexts["m"].rollout_id
    await judge.store.insert_outcomes(pairs(rid, 120, baking=False))
    await look(control, monkeypatch, Event.PASSED)  # promoted into the bake on 120 pairs
    base = f"{gw.admin_url}/api/routes/m/verdict"
    await judge.store.insert_outcomes(pairs(rid, 30, baking=True))
    await look(control, monkeypatch, None)

    code, doc = await call("GET", base)
    assert code == 200 and (doc["state"], doc["decision"], doc["phase"]) == (
        "baking", "continue", "bake",
    )  # fmt: skip
    assert doc["samples"]["pairs"] == 30 and doc["samples"]["canary_candidate"] == 0
    assert {c["check"]: (c["phase"], c["n"]) for c in doc["checks"]} == {
        "errors": ("bake", 30),
        "latency": ("bake", 30),
    }
    assert doc["bake"]["active"] is True and doc["bake"]["min_samples"] == 50
    promotion = doc["bake"]["promotion"]
    assert promotion["samples"]["pairs"] == 120
    assert {c["n"] for c in promotion["checks"]} == {120}
    assert "now: baking against the former production: 30 of the 50 pairs" in doc["reason"]

    for _ in range(20):  # the promoted candidate fails on a third of the requests
        await judge.store.insert_outcomes(pairs(rid, 100, baking=True, fail=0.3))
        await look(control, monkeypatch, None)
        if judge.contexts["m"].rollout.state.value == "rolled_back":
            break
    code, doc = await call("GET", base)
    assert (doc["state"], doc["decision"], doc["phase"]) == ("rolled_back", "rollback", "bake")
    assert doc["reason"].startswith("rolled_back: regression while baking: errors")
    errors = next(c for c in doc["checks"] if c["check"] == "errors")
    audit = (await judge.store.read_audit("m", rid))[-1]
    assert audit.decision == "harm:rolled_back"
    # the check that reverted, as the decision saw it: not the shadow phase's passed errors
    assert (errors["verdict"], errors["n"], errors["estimate"]) == (
        "harm", audit.n, pytest.approx(audit.estimate),
    )  # fmt: skip
    assert doc["samples"]["pairs"] == audit.n and errors["estimate"] > 0.2
    assert doc["bake"]["active"] is False and doc["bake"]["ended_at"] == audit.time
    assert doc["bake"]["promotion"]["samples"]["pairs"] == 120
    code, _ = await call("POST", f"{base}/rollback")
    assert code == 200

    judge.contexts.clear()  # a replica that does not judge answers from the committed state
    code, stored = await call("GET", base)
    assert code == 200 and stored["phase"] == "bake"
    assert stored["checks"] == doc["checks"] and stored["samples"]["pairs"] == audit.n
    assert stored["bake"]["since"] == doc["bake"]["since"]
    assert stored["bake"]["promotion"]["samples"]["pairs"] == 120
    code, status = await call("GET", f"{gw.admin_url}/api/status")
    bake = status["routes"]["m"]["rollout"]["bake"]
    assert bake["checks"] == doc["checks"] and bake["active"] is False
