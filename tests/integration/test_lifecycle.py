"""The operator steers a running ``shadowgate serve`` by editing its file, and restarts.

Real processes and upstreams: production and candidate answer with ``X-Served-By``;
users are sticky by ``x-user-id``. Each edit must move the split within 2 s, users only
ever move from production to the candidate as the weight grows, every edit is audited
with actor ``config``, and a terminal state says what differs and how to restart. In
shadow, canary and paused the verdict is read as the documented Argo Rollouts metric and
Flagger webhooks read it (``docs/integrations.md``): undecided, so ``continue``.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import yaml
from aiohttp import web

from integration.test_bake import controllers
from reliability.procs import Serve, poll

USERS = range(300)


def served_by(name: str) -> Any:
    async def handler(request: web.Request) -> web.Response:
        await request.read()
        return web.json_response({"outputs": [1]}, headers={"X-Served-By": name})

    return handler


def route_cfg(prod: str, cand: str, **kw: Any) -> dict[str, Any]:
    r: dict[str, Any] = {
        "name": "m",
        "match": {"path_prefix": "/m"},
        "production": {"url": prod},
        "candidate": {"url": cand, "version": "v1"},
        "mode": "shadow",
        "canary": {"weight": 0, "sticky": "header:x-user-id"},
        "analysis": {
            "min_samples": 90_000,
            "interval": "100ms",
            "checks": [{"metric": "errors"}],
        },
    }
    r.update(kw)
    return r


class Proc:
    def __init__(self, serve: Serve, prod: str, cand: str, **base: Any) -> None:
        self.serve = serve
        self.prod = prod
        self.cand = cand
        self.base = base  # route keys every edit keeps unless it names them

    def edit(self, **kw: Any) -> float:
        route = route_cfg(self.prod, self.cand, **{**self.base, **kw})
        cfg = {**self.serve.cfg, "routes": [route]}
        tmp = self.serve.cfg_path.with_suffix(".tmp")
        tmp.write_text(yaml.safe_dump(cfg, sort_keys=False))
        tmp.replace(self.serve.cfg_path)
        return time.monotonic()

    async def split(self, users: range = USERS) -> dict[int, str]:
        out: dict[int, str] = {}
        async with aiohttp.ClientSession() as s:
            for u in users:
                async with s.post(
                    f"{self.serve.data}/m/infer", json={"x": u}, headers={"x-user-id": str(u)}
                ) as r:
                    assert r.status == 200
                    out[u] = r.headers["X-Served-By"]
        return out

    async def candidate_users(self, users: range = USERS) -> set[int]:
        return {u for u, v in (await self.split(users)).items() if v == "candidate"}

    async def post(self, action: str) -> tuple[int, Any]:
        url = f"{self.serve.admin}/api/routes/m/{action}"
        async with aiohttp.ClientSession() as s, s.post(url) as r:
            return r.status, await r.json()

    async def rollout(self) -> dict[str, Any]:
        doc: dict[str, Any] = (await self.serve.status())["routes"]["m"]
        return doc

    async def audit(self) -> list[tuple[str, str, str]]:
        url = f"{self.serve.admin}/api/routes/m/rollouts"
        async with aiohttp.ClientSession() as s, s.get(url) as r:
            doc = await r.json()
        return [(a["decision"], a["actor"], a["reason"]) for a in doc["rollouts"][0]["audit"]]


@pytest.fixture
async def proc(tmp_path: Path, upstream_factory: Any) -> AsyncIterator[Proc]:
    prod = await upstream_factory(served_by("production"))
    cand = await upstream_factory(served_by("candidate"))
    cfg = {"store": f"sqlite:///{tmp_path}/s.db", "routes": [route_cfg(prod.url, cand.url)]}
    serve = Serve(tmp_path, cfg)
    await serve.start()
    try:
        yield Proc(serve, prod.url, cand.url)
    finally:
        serve.kill()


async def moved_within(p: Proc, t0: float, share: float) -> set[int]:
    """Wait for the candidate's share of users to reach ``share`` (± 5 points), then return
    which of the fixed ``USERS`` it serves. The waiting traffic comes from new users each
    sweep: the same few hundred users over and over are not a random sample, and the
    sample-ratio check would rightly find their share off the configured weight."""
    fresh = iter(range(10_000, 10**9, len(USERS)))

    async def there() -> bool:
        start = next(fresh)
        got = await p.candidate_users(range(start, start + len(USERS)))
        return abs(len(got) / len(USERS) * 100 - share) <= 5.0

    await poll(there, timeout=10.0, every=0.05)
    # reported, not asserted (the machine is shared): edit → split in force, plus one sweep
    print(f"split at {share:g}% in {time.monotonic() - t0:.2f} s")
    return await p.candidate_users()


async def test_file_edits_steer_every_non_terminal_state(proc: Proc) -> None:
    p = proc
    assert await p.candidate_users() == set()  # shadow: production serves everyone
    # undecided: Flagger keeps iterating and holds the promotion; Argo measures an
    # inconclusive "continue"
    undecided = {"rollout": 200, "confirm-promotion": 412, "rollback": 412}
    assert await controllers(p.serve, "continue", state="shadow") == undecided
    # shadow → canary at 10, then 20, then 50: sticky users only ever move one way
    t0 = p.edit(mode="canary", canary={"weight": 10, "sticky": "header:x-user-id"})
    at10 = await moved_within(p, t0, 10)
    ro = await p.rollout()
    assert (ro["mode"], ro["configured_mode"], ro["rollout"]["state"]) == (
        "canary",
        "canary",
        "canary",
    )
    assert ro["rollout"]["config_disagrees"] is None
    assert await controllers(p.serve, "continue", state="canary") == undecided
    t0 = p.edit(mode="canary", canary={"weight": 20, "sticky": "header:x-user-id"})
    at20 = await moved_within(p, t0, 20)
    t0 = p.edit(mode="canary", canary={"weight": 50, "sticky": "header:x-user-id"})
    at50 = await moved_within(p, t0, 50)
    assert at10 <= at20 <= at50
    edits = [(d, a) for d, a, _ in await p.audit()]
    assert edits == [("edit:canary", "config")] * 3
    assert "canary.weight 20 → 50" in (await p.audit())[-1][2]
    # paused: an edit still moves the split, and the state it resumes to
    assert (await p.post("pause"))[0] == 200
    t0 = p.edit(mode="canary", canary={"weight": 30, "sticky": "header:x-user-id"})
    at30 = await moved_within(p, t0, 30)
    assert at30 <= at50, (sorted(at30), sorted(at50), await p.audit())
    assert (await p.rollout())["rollout"]["state"] == "paused"
    # paused decides nothing: the documented verdict is still continue
    assert await controllers(p.serve, "continue", state="paused") == undecided
    code, body = await p.post("resume")
    assert code == 200 and body["state"] == "canary"
    # back to shadow: production serves all again, mirrors resume
    t0 = p.edit(mode="shadow", canary={"weight": 30, "sticky": "header:x-user-id"})
    await moved_within(p, t0, 0)
    assert (await p.rollout())["rollout"]["state"] == "shadow"


async def test_a_terminal_state_says_what_differs_and_restart_begins_again(proc: Proc) -> None:
    p = proc
    code, body = await p.post("rollback")
    assert code == 200 and body["state"] == "rolled_back"
    old = body["rollout_id"]
    t0 = p.edit(mode="canary", canary={"weight": 40, "sticky": "header:x-user-id"})

    async def disagrees() -> bool:
        note = (await p.rollout())["rollout"].get("config_disagrees") or ""
        return "canary.weight 40%" in note

    await poll(disagrees, timeout=10.0)
    note = (await p.rollout())["rollout"]["config_disagrees"]
    assert "rolled_back" in note and "shadowgate restart m" in note
    print(f"config_disagrees shown in {time.monotonic() - t0:.2f} s")
    await asyncio.sleep(1.0)  # the edit is not applied to an ended rollout
    assert await p.candidate_users() == set()
    # the CLI restarts it: a new rollout of the same candidate, in the file's mode
    out = subprocess.run(
        [sys.executable, "-m", "shadowgate.cli", "restart", "m", "--admin", p.serve.admin],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("m: canary (rollout ") and old not in out.stdout
    t0 = time.monotonic()
    await moved_within(p, t0, 40)
    ro = (await p.rollout())["rollout"]
    assert ro["state"] == "canary" and ro["rollout_id"] != old
    assert ro["config_disagrees"] is None
    # a second restart, over the API (restart after inconclusive, on a real deadline:
    # test_steering_serve)
    assert (await p.post("rollback"))[0] == 200
    code, body = await p.post("restart")
    assert code == 200 and body["state"] == "canary" and body["rollout_id"] != ro["rollout_id"]
    url = f"{p.serve.admin}/api/routes/m/rollouts"
    async with aiohttp.ClientSession() as s, s.get(url) as r:
        history = (await r.json())["rollouts"]
    assert [h["state"] for h in history] == ["canary", "rolled_back", "rolled_back"]
    assert history[0]["audit"][0]["decision"] == "restart:canary"


async def test_the_hand_over_after_a_promotion_starts_no_new_rollout(
    tmp_path: Path, upstream_factory: Any
) -> None:
    prod = await upstream_factory(served_by("production"))
    cand = await upstream_factory(served_by("candidate"))
    cfg = {"store": f"sqlite:///{tmp_path}/s.db", "routes": [route_cfg(prod.url, cand.url)]}
    serve = Serve(tmp_path, cfg)
    await serve.start()
    p = Proc(serve, prod.url, cand.url)
    try:
        code, body = await p.post("promote")
        assert code == 200 and body["state"] == "promoted"
        rid = body["rollout_id"]
        note = (await p.rollout())["rollout"]["config_disagrees"]
        assert f"set production.url to {cand.url} and remove `candidate`" in note
        out = subprocess.run(  # and the CLI says so too
            [sys.executable, "-m", "shadowgate.cli", "status", "--admin", serve.admin],
            capture_output=True,
            text=True,
            timeout=30,
            env={**os.environ, "COLUMNS": "400"},
        )
        assert out.returncode == 0, out.stderr
        assert f"set production.url to {cand.url} and remove `candidate`" in out.stdout, out.stdout
        await poll(lambda: _all(p, "candidate"), timeout=10)
        # the hand-over: the promoted model becomes production, no candidate
        r = route_cfg(cand.url, cand.url)
        del r["candidate"]
        cfg2 = {**serve.cfg, "routes": [r]}
        serve.cfg_path.write_text(yaml.safe_dump(cfg2, sort_keys=False))

        async def steady() -> bool:
            ro = (await p.rollout())["rollout"]
            return ro["state"] is None and ro["config_disagrees"] is None

        await poll(steady, timeout=10)
        seen_prod = len(prod.requests)
        assert set((await p.split()).values()) == {"candidate"}  # the promoted model serves
        assert len(prod.requests) == seen_prod  # the old model gets nothing, nothing reverted
        # and it stays so through a restart of the process
        assert await serve.stop() == 0
        await serve.start()
        assert set((await p.split()).values()) == {"candidate"}
        assert (await p.rollout())["rollout"]["state"] is None
        url = f"{serve.admin}/api/routes/m/rollouts"
        async with aiohttp.ClientSession() as s, s.get(url) as resp:
            history = (await resp.json())["rollouts"]
        assert [h["rollout_id"] for h in history] == [rid]  # no new rollout was started
        code, body = await p.post("promote")
        assert code == 409 and "no candidate" in body["message"]
    finally:
        serve.kill()


async def _all(p: Proc, name: str) -> bool:
    return set((await p.split()).values()) == {name}
