"""A production outage during a shadow rollout: not evidence, and no decision while it lasts.

Production is a real aiohttp server that is shut down (its connections closed, its port
refusing) for a while and then started again on the same port. While it is down, every
pair says "candidate fine, production dead": counted as evidence, those pairs would pass
the errors check at once and promote the candidate (the check's pass test needs far fewer
samples when the candidate looks better). The judge must instead pause, say why in
/api/status, the audit and a webhook, leave those pairs out of every check, and resume
once production answers again.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import yaml
from aiohttp import web

from gwhelpers import Hooks, config, route
from shadowgate.app import Control, attach_control
from shadowgate.config import ConfigHolder, parse_config
from shadowgate.gateway import Gateway
from shadowgate.rollout.outage import production_failed

pytestmark = pytest.mark.slow


async def predict(request: web.Request) -> web.Response:
    doc = await request.json()
    return web.json_response({"predictions": [int(doc["truth"])]})


class Server:
    """A model server that can be stopped and started again on the same port."""

    def __init__(self) -> None:
        self.port = 0
        self.runner: web.AppRunner | None = None

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/{tail:.*}", predict)
        self.runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.1)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", self.port)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]

    async def stop(self) -> None:
        if self.runner is not None:
            await self.runner.cleanup()  # closes the listener and every open connection
            self.runner = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


@pytest.fixture
async def servers() -> AsyncIterator[tuple[Server, Server, Hooks, str]]:
    prod, cand, hooks = Server(), Server(), Hooks()
    await prod.start()
    await cand.start()
    app = web.Application()
    app.router.add_post("/hook", hooks.handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    yield prod, cand, hooks, f"http://127.0.0.1:{port}/hook"
    await prod.stop()
    await cand.stop()
    await runner.cleanup()


async def start_gateway(tmp_path: Path, prod: str, cand: str, hook: str) -> tuple[Gateway, Control]:
    cfg = config(
        route(
            "m",
            "/m",
            prod,
            cand,
            protocol="json",
            prediction={"path": "predictions"},
            analysis={
                "min_samples": 100,
                "interval": "50ms",
                "checks": [{"metric": "errors", "margin": 0.05}],
                "production_outage": {"max_error_rate": "20%", "window": "1s", "min_pairs": 10},
            },
            webhooks=[{"url": hook, "timeout": "2s"}],
        )
    )
    cfg["store"] = {"url": f"sqlite:///{tmp_path}/sg.db", "flush_interval": "20ms"}
    gw = Gateway(ConfigHolder(parse_config(yaml.safe_dump(cfg))), watch_config=False)
    control = attach_control(gw)
    await gw.start()
    return gw, control


async def send(session: aiohttp.ClientSession, gw: Gateway, n: int, clients: int = 4) -> list[int]:
    statuses: list[int] = []

    async def one(k: int) -> None:
        for i in range(k):
            body = {"truth": i % 2}
            async with session.post(f"{gw.data_url}/m/predict", json=body) as r:
                await r.read()
                statuses.append(r.status)

    await asyncio.gather(*(one(n // clients) for _ in range(clients)))
    return statuses


async def status_of(session: aiohttp.ClientSession, gw: Gateway) -> dict[str, Any]:
    async with session.get(f"{gw.admin_url}/api/status") as r:
        doc: dict[str, Any] = await r.json()
    entry: dict[str, Any] = doc["routes"]["m"]
    return entry


async def wait_for(cond: Any, seconds: float = 30.0) -> None:
    for _ in range(int(seconds / 0.05)):
        if await cond():
            return
        await asyncio.sleep(0.05)
    raise AssertionError("condition not reached in time")


async def test_production_outage_pauses_decisions_and_is_not_evidence(
    tmp_path: Path, servers: tuple[Server, Server, Hooks, str]
) -> None:
    prod, cand, hooks, hook_url = servers
    gw, control = await start_gateway(tmp_path, prod.url, cand.url, hook_url)
    judge = control.judge
    try:
        async with aiohttp.ClientSession() as s:
            assert set(await send(s, gw, 40)) == {200}
            await prod.stop()
            down: list[int] = []

            async def paused() -> bool:
                down.extend(await send(s, gw, 8))
                ctx = judge.contexts.get("m")
                return ctx is not None and ctx.outage.active

            await wait_for(paused)

            def errors_n(entry: dict[str, Any]) -> int:
                checks = entry["rollout"]["checks"]
                return int(next(c["n"] for c in checks if c["check"] == "errors"))

            n_at_pause = errors_n(await status_of(s, gw))
            # well past min_samples of pairs that would all favour the candidate
            down += await send(s, gw, 200)
            await asyncio.sleep(0.3)  # several looks of the judge
            assert set(down) == {502}
            during = await status_of(s, gw)
            rollout = during["rollout"]
            assert rollout["state"] == "shadow" and rollout["last_decision"] is None
            assert rollout["outage"]["active"] is True
            assert "production failing" in rollout["outage"]["reason"]
            assert rollout["pending"] == rollout["outage"]["reason"]
            assert rollout["excluded"]["production_failed"] > 0
            assert errors_n(during) == n_at_pause  # none of the outage's pairs is evidence

            await prod.start()  # same port
            assert set(await send(s, gw, 40)) == {200}

            async def decided() -> bool:
                await send(s, gw, 20)
                ctx = judge.contexts["m"]
                return ctx.rollout.state.value != "shadow"

            await wait_for(decided, 60)
            after = await status_of(s, gw)
            async with s.get(f"{gw.admin_url}/metrics") as r:
                metrics = await r.text()

        ctx = judge.contexts["m"]
        assert ctx.rollout.state.value == "promoted"
        stored = await control.store.read_outcomes("m", 0, 100_000, rollout_id=ctx.rollout_id)
        read = [
            o.record for o in stored if o.id <= ctx.outcome_cursor and o.record.kind == "shadow"
        ]
        failed = sum(production_failed(r.prod_error, r.prod_status) for r in read)
        excluded = ctx.outage.excluded["production_failed"]
        # all of the outage's failed pairs but those read before the window tripped
        assert 200 <= excluded <= failed
        # every check's n and the samples leave them out, and count them apart
        assert ctx.analysis.pairs == len(read) - excluded
        errors_n = next(r.n for r in ctx.results() if r.check == "errors")
        assert errors_n == len(read) - excluded
        assert after["rollout"]["excluded"] == {"production_failed": excluded}
        assert after["rollout"]["outage"]["active"] is False
        series = 'shadowgate_pairs_excluded_total{reason="production_failed",route="m"}'
        assert f"{series} {excluded}.0" in metrics

        audit = [a.decision for a in await control.store.read_audit("m", ctx.rollout_id)]
        assert audit == ["outage_paused:shadow", "outage_resumed:shadow", "passed:promoted"]

        async def announced() -> bool:
            types = [e.get("type") for e in hooks.events]
            return types.count("shadowgate.outage_resumed") == 1

        await wait_for(announced)
        paused_event = next(e for e in hooks.events if e["type"] == "shadowgate.outage_paused")
        assert paused_event["route"] == "m" and "production failing" in paused_event["reason"]
    finally:
        await gw.stop()
