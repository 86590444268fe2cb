"""The bake after a promotion with a real ``shadowgate serve`` and real upstreams: a
candidate that regresses while baking is reverted on its own (audit, webhook, production
serving again), a clean bake ends promoted, and ``kill -9`` mid-bake resumes the bake. In
each state the verdict is read as the documented Argo Rollouts metric and Flagger webhooks
(``docs/integrations.md``) read it, from the serving process itself."""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import signal
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import pytest
from aiohttp import web

from admin.test_verdict import documented_snippets
from reliability.procs import Serve, metric_value, poll


def answer(name: str, fail: float = 0.0) -> Any:
    """A model server; ``fail`` of its answers are 503 (every ``1/fail``-th, deterministic)."""
    count = 0

    async def handler(request: web.Request) -> web.Response:
        nonlocal count
        await request.read()
        count += 1
        status = 503 if fail and count % round(1 / fail) == 0 else 200
        return web.json_response({"outputs": [1]}, status=status, headers={"X-Served-By": name})

    return handler


async def hook_ok(request: web.Request) -> web.Response:
    await request.read()
    return web.json_response({"ok": True})


def cfg(tmp_path: Path, prod: str, cand: str, hook: str, bake: str) -> dict[str, Any]:
    return {
        "store": f"sqlite:///{tmp_path}/bake.db",
        "routes": [
            {
                "name": "m",
                "match": {"path_prefix": "/m"},
                "production": {"url": prod},
                "candidate": {"url": cand, "version": "v2"},
                "analysis": {
                    "min_samples": 100,
                    "interval": "100ms",
                    "checks": [{"metric": "errors", "margin": 0.05}],
                },
                "after_promotion": {"bake": bake, "mirror_percent": 50, "min_samples": 50},
                "webhooks": [{"url": hook}],
            }
        ],
    }


class Traffic:
    """Requests one after another; remembers who served the last one, and since when
    (the wall-clock time its answer arrived, when the one before came from elsewhere)."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.last = ""
        self.since = 0.0
        self.task: asyncio.Task[None] | None = None

    async def run(self) -> None:
        async with aiohttp.ClientSession() as s:
            while True:
                with contextlib.suppress(aiohttp.ClientError):
                    async with s.post(self.url, json={"x": 1}) as r:
                        await r.read()
                        served = r.headers.get("X-Served-By", "")
                        if served != self.last:
                            self.last, self.since = served, time.time()
                await asyncio.sleep(0.003)

    def __enter__(self) -> Traffic:
        self.task = asyncio.get_running_loop().create_task(self.run())
        return self

    def __exit__(self, *exc: object) -> None:
        assert self.task is not None
        self.task.cancel()


async def controllers(serve: Serve, decision: str, state: str | None = None) -> dict[str, int]:
    """The verdict as the documented Argo metric reads it (its ``jsonPath`` field, which
    must be ``decision``; the gauge says the same), and the status code each documented
    Flagger webhook gets, by hook type. With ``state``, the verdict must be of that state
    (so a rollout that moved on before the read cannot pass for it)."""
    snippets = documented_snippets()
    web = snippets["AnalysisTemplate"]["spec"]["metrics"][0]["provider"]["web"]
    field = re.fullmatch(r"\{\$\.(\w+)\}", web["jsonPath"])
    assert field is not None
    codes: dict[str, int] = {}
    async with aiohttp.ClientSession() as s:
        path = urlsplit(web["url"].replace("{{args.route}}", "m")).path
        async with s.get(serve.admin + path) as r:
            assert r.status == 200
            doc = await r.json()
        assert doc[field.group(1)] == decision, doc
        assert state is None or doc["state"] == state, doc
        for hook in snippets["Canary"]["spec"]["analysis"]["webhooks"]:
            path = urlsplit(hook["url"]).path.replace("/routes/cancer/", "/routes/m/")
            payload = {"name": "cancer", "namespace": "ml", "phase": "Progressing"}
            async with s.post(serve.admin + path, json=payload) as r:
                codes[hook["type"]] = r.status
    gauge = metric_value(await serve.metrics(), "shadowgate_decision", route="m")
    assert gauge == 1.0  # one decision is on
    assert metric_value(await serve.metrics(), "shadowgate_decision", decision=decision) == 1.0
    return codes


async def state(serve: Serve) -> dict[str, Any]:
    ro: dict[str, Any] = (await serve.status())["routes"]["m"]["rollout"]
    return ro


async def reach(serve: Serve, wanted: str, timeout: float = 60.0) -> dict[str, Any]:
    ro: dict[str, Any] = {}

    async def there() -> bool:
        nonlocal ro
        ro = await state(serve)
        return ro.get("state") == wanted

    try:
        await poll(there, timeout=timeout, every=0.05)
    except AssertionError:
        raise AssertionError(f"never reached {wanted}: {ro}") from None
    return ro


@pytest.fixture
async def world(tmp_path: Path, upstream_factory: Any) -> AsyncIterator[dict[str, Any]]:
    prod = await upstream_factory(answer("production"))
    cand = await upstream_factory(answer("candidate"))
    hook = await upstream_factory(hook_ok)
    yield {"tmp": tmp_path, "prod": prod, "cand": cand, "hook": hook}


async def test_a_candidate_regressing_while_baking_is_reverted(world: dict[str, Any]) -> None:
    w = world
    serve = Serve(w["tmp"], cfg(w["tmp"], w["prod"].url, w["cand"].url, w["hook"].url, "10m"))
    await serve.start()
    try:
        with Traffic(serve.data + "/m/infer") as traffic:
            ro = await reach(serve, "baking")
            assert ro["bake"]["min_samples"] == 50
            await poll(lambda: _served(traffic, "candidate"), timeout=10)
            mirrored = len(w["prod"].requests)
            await poll(lambda: _more(w["prod"], mirrored), timeout=10)  # reverse shadow
            # while baking Flagger keeps iterating and holds the promotion; Argo measures
            # an inconclusive "continue"
            assert await controllers(serve, "continue") == {
                "rollout": 200, "confirm-promotion": 412, "rollback": 412,
            }  # fmt: skip
            w["cand"].handler = answer("candidate", fail=0.25)  # the new model breaks
            ro = await reach(serve, "rolled_back")
            decided = ro["last_decision"]["time"]
            await poll(lambda: _served(traffic, "production"), timeout=10)
            took = traffic.since - decided
            print(f"production serving again {took:.2f} s after the decision")
            assert took < 1.0, f"the revert took {took:.2f} s (issue: within 1 s)"
        assert await controllers(serve, "rollback") == {
            "rollout": 412, "confirm-promotion": 412, "rollback": 200,
        }  # fmt: skip
        assert ro["last_decision"]["reason"].startswith("regression while baking: errors")
        url = f"{serve.admin}/api/routes/m/rollouts"
        async with aiohttp.ClientSession() as s, s.get(url) as r:
            audit = (await r.json())["rollouts"][0]["audit"]
        assert [a["decision"] for a in audit] == ["passed:baking", "harm:rolled_back"]
        assert audit[-1]["check"] == "errors" and audit[-1]["p_value"] is not None

        async def hooked() -> bool:
            events = [json.loads(r.body) for r in w["hook"].requests]
            return any(e.get("to") == "rolled_back" and e.get("from") == "baking" for e in events)

        await poll(hooked, timeout=15)
    finally:
        serve.kill()


async def _served(traffic: Traffic, name: str) -> bool:
    return traffic.last == name


async def _more(up: Any, n: int) -> bool:
    return len(up.requests) > n


async def test_a_clean_bake_ends_promoted(world: dict[str, Any]) -> None:
    w = world
    serve = Serve(w["tmp"], cfg(w["tmp"], w["prod"].url, w["cand"].url, w["hook"].url, "2s"))
    await serve.start()
    try:
        with Traffic(serve.data + "/m/infer") as traffic:
            await reach(serve, "baking")
            ro = await reach(serve, "promoted")
            await poll(lambda: _served(traffic, "candidate"), timeout=10)
        assert ro["last_decision"]["reason"].startswith("bake of 2s done")
        assert await controllers(serve, "promote") == {
            "rollout": 200, "confirm-promotion": 200, "rollback": 412,
        }  # fmt: skip
    finally:
        serve.kill()


async def test_kill_9_mid_bake_resumes_the_bake(world: dict[str, Any]) -> None:
    w = world
    serve = Serve(w["tmp"], cfg(w["tmp"], w["prod"].url, w["cand"].url, w["hook"].url, "10m"))
    await serve.start()
    try:
        with Traffic(serve.data + "/m/infer"):
            ro = await reach(serve, "baking")

            async def some_pairs() -> bool:
                return bool((await state(serve))["bake"]["pairs"] >= 20)

            await poll(some_pairs, timeout=20)
            before = (await state(serve))["bake"]
            assert await serve.stop(signal.SIGKILL) != 0
        await serve.start()
        await reach(serve, "baking", timeout=30)

        async def judged() -> bool:  # the judge's own status, once it has looked again
            return bool((await state(serve)).get("bake"))

        await poll(judged, timeout=30)
        after = await state(serve)
        assert after["state"] == "baking" and after["rollout_id"] == ro["rollout_id"]
        assert after["bake"]["since"] == before["since"]
        assert after["bake"]["pairs"] >= before["pairs"]
    finally:
        serve.kill()
