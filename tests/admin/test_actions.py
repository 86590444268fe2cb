"""Operator actions over HTTP and the CLI; webhooks, the promotion gate and on_promote."""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import yaml
from aiohttp import web

from gwhelpers import config, route
from shadowgate.app import Control, attach_control
from shadowgate.cli import main
from shadowgate.config import ConfigHolder, parse_config
from shadowgate.config.model import HookConfig, WebhookConfig
from shadowgate.gateway import Gateway
from shadowgate.judge.notify import Notifier
from shadowgate.rollout.machine import TransitionError

TOKEN = "s3cret-token"


@pytest.fixture
async def running(tmp_path: Path, upstream_factory: Any) -> AsyncIterator[tuple[Gateway, Control]]:
    up = await upstream_factory()
    cfg = config(
        route("m", "/m", up.url, up.url, analysis={"on_success": "await_approval"}),
        admin_token=TOKEN,
    )
    cfg["store"] = f"sqlite:///{tmp_path}/a.db"
    gw = Gateway(ConfigHolder(parse_config(yaml.safe_dump(cfg))), watch_config=False)
    control = attach_control(gw)
    await gw.start()
    yield gw, control
    await gw.stop()


async def post(url: str, token: str | None = TOKEN) -> tuple[int, Any]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with aiohttp.ClientSession() as s, s.post(url, headers=headers) as r:
        return r.status, await r.json()


async def test_actions_need_the_token_and_say_what_is_wrong(
    running: tuple[Gateway, Control], monkeypatch: pytest.MonkeyPatch
) -> None:
    gw, control = running
    base = f"{gw.admin_url}/api/routes"
    assert (await post(f"{base}/m/pause", token=None))[0] == 401
    assert (await post(f"{base}/m/pause", token="wrong-token"))[0] == 401
    code, body = await post(f"{base}/nope/pause")
    assert code == 404 and "no route named 'nope'" in body["message"]
    code, body = await post(f"{base}/m/explode")
    assert code == 404 and "unknown action" in body["message"]
    code, body = await post(f"{base}/m/approve")
    assert code == 409 and "cannot approve a rollout in state shadow" in body["message"]
    # the status comes from the error's own hint, read where the answer is made
    monkeypatch.setattr(TransitionError, "error_status_hint", 423)
    code, body = await post(f"{base}/m/approve")
    assert code == 423 and body["error"] == "transition_refused"
    monkeypatch.undo()
    code, body = await post(f"{base}/m/pause")
    assert code == 200 and body["state"] == "paused"
    # paused holds the split it was paused in: shadow mirrors go on, nothing is decided
    assert gw.routing.routing(gw.holder.current.routes[0]).mode == "shadow"
    audit = await control.store.read_audit("m")
    assert [(a.decision, a.actor) for a in audit] == [("pause:paused", "operator")]


async def test_cli_status_and_actions_against_a_running_server(
    running: tuple[Gateway, Control], capsys: pytest.CaptureFixture[str]
) -> None:
    gw, _ = running
    common = ["--admin", gw.admin_url, "--token", TOKEN]
    code = await asyncio.to_thread(main, ["pause", "m", *common, "--actor", "carol"])
    assert code == 0 and "m: paused" in capsys.readouterr().out
    code = await asyncio.to_thread(main, ["status", "--json", *common])
    doc = json.loads(capsys.readouterr().out)
    assert code == 0 and doc["routes"]["m"]["rollout"]["state"] == "paused"
    code = await asyncio.to_thread(main, ["approve", "m", *common])
    assert code == 1 and "HTTP 409" in capsys.readouterr().err
    code = await asyncio.to_thread(main, ["resume", "m", "--admin", gw.admin_url])
    assert code == 1 and "HTTP 401" in capsys.readouterr().err  # no token
    code = await asyncio.to_thread(main, ["status", "m", *common])
    out = capsys.readouterr().out
    assert code == 0 and "paused" in out and "errors" in out and "latency" in out
    code = await asyncio.to_thread(main, ["status", "--admin", "http://127.0.0.1:9"])
    assert code == 2 and "cannot reach the admin API" in capsys.readouterr().err


class Receiver:
    def __init__(self, fail_first: int = 0, status: int = 200) -> None:
        self.fail_first = fail_first
        self.status = status
        self.bodies: list[dict[str, Any]] = []
        self.auth: list[str | None] = []
        self.url = ""

    async def handle(self, request: web.Request) -> web.Response:
        self.bodies.append(await request.json())
        self.auth.append(request.headers.get("Authorization"))
        if len(self.bodies) <= self.fail_first:
            return web.json_response({}, status=503)
        return web.json_response({}, status=self.status)


@pytest.fixture
async def receiver_factory() -> AsyncIterator[Any]:
    runners: list[web.AppRunner] = []

    async def make(**kw: Any) -> Receiver:
        rec = Receiver(**kw)
        app = web.Application()
        app.router.add_post("/", rec.handle)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        rec.url = f"http://127.0.0.1:{site._server.sockets[0].getsockname()[1]}/"  # type: ignore[union-attr]
        runners.append(runner)
        return rec

    yield make
    for r in runners:
        await r.cleanup()


async def test_webhook_retries_with_backoff_and_never_blocks(receiver_factory: Any) -> None:
    rec = await receiver_factory(fail_first=2)
    n = Notifier(backoff=0.05)
    hook = WebhookConfig(url=rec.url, retries=3, timeout=2, secret="hook-secret-1")
    loop = asyncio.get_running_loop()
    t0 = loop.time()
    n.send((hook,), {"to": "promoted"})
    assert loop.time() - t0 < 0.01  # send() only schedules
    await n.drain()
    assert len(rec.bodies) == 3 and n.delivered == 1 and n.failed == 0
    assert rec.auth[0] == "Bearer hook-secret-1"
    dead = WebhookConfig(url="http://127.0.0.1:9/", retries=1, timeout=1)
    n.send((dead,), {"to": "rolled_back"})
    await n.drain()
    assert n.failed == 1
    await n.close()


async def test_confirm_gate_and_on_promote_command(receiver_factory: Any, tmp_path: Path) -> None:
    yes = await receiver_factory(status=204)
    no = await receiver_factory(status=403)
    n = Notifier()
    assert await n.confirm(WebhookConfig(url=yes.url), {"x": 1}) is True
    assert await n.confirm(WebhookConfig(url=no.url), {"x": 1}) is False
    assert await n.confirm(WebhookConfig(url="http://127.0.0.1:9/", timeout=1), {}) is False
    out = tmp_path / "event.json"
    script = f"import os; open({str(out)!r}, 'w').write(os.environ['SHADOWGATE_EVENT'])"
    n.run_hook(HookConfig(command=(sys.executable, "-c", script)), {"route": "m"})
    await n.drain()
    assert json.loads(out.read_text()) == {"route": "m"} and n.delivered == 1
    await n.close()


async def test_confirm_promotion_gate_holds_the_judge(
    tmp_path: Path, receiver_factory: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    gate = await receiver_factory(status=409)
    from shadowgate.judge.judge import Judge
    from shadowgate.judge.observe import install
    from shadowgate.metrics import Metrics
    from shadowgate.rollout.machine import Event
    from shadowgate.rollout.policy import Decision
    from shadowgate.store import open_store

    cfg = config(route("m", "/m", gate.url, gate.url, confirm_promotion={"url": gate.url}))
    holder = ConfigHolder(parse_config(yaml.safe_dump(cfg)))
    store = open_store(f"sqlite:///{tmp_path}/g.db")
    await store.open()
    judge = Judge(store, holder)
    notifier = Notifier()
    install(judge, Metrics(), notifier)
    r = holder.current.routes[0]
    ctx = await judge.context(r)
    # the evidence says "promote"; only the gate stands in the way
    monkeypatch.setattr(
        "shadowgate.judge.judge.decide", lambda *a, **k: Decision(Event.PASSED, "all passed")
    )
    try:
        await judge.look(r)
        assert ctx.rollout.state.value == "shadow"
        assert ctx.pending_event and "not confirmed" in ctx.pending_event
        gate.status = 200
        await judge.look(r)
        assert judge.contexts["m"].rollout.state.value == "promoted"
    finally:
        await notifier.close()
        await store.close()
    assert len(gate.bodies) == 2 and gate.bodies[0]["type"] == "shadowgate.confirm_promotion"
