"""One source for counts: /api/status, the metrics and the store agree, after a decision too,
and a rollout's samples are its own (canary included)."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path
from typing import Any

import aiohttp
import yaml

from gwhelpers import config, route
from shadowgate.app import Control, attach_control
from shadowgate.config import ConfigHolder, parse_config
from shadowgate.gateway import Gateway


async def start(tmp_path: Path, prod: str, cand: str, **extra: Any) -> tuple[Gateway, Control]:
    cfg = config(route("m", "/m", prod, cand, **extra))
    cfg["store"] = {"url": f"sqlite:///{tmp_path}/sg.db", "flush_interval": "20ms"}
    gw = Gateway(ConfigHolder(parse_config(yaml.safe_dump(cfg))), watch_config=False)
    control = attach_control(gw)
    await gw.start()
    return gw, control


async def send(s: aiohttp.ClientSession, gw: Gateway, n: int) -> None:
    for i in range(n):
        async with s.post(f"{gw.data_url}/m/predict", json={"x": i}) as r:
            await r.read()


async def settled(control: Control) -> None:
    """Until everything handed to recording is stored or dropped."""
    for _ in range(200):
        r, w = control.recorder.stats(), control.writer.stats()
        if r.pending == 0 and w.pending == 0:
            return
        await asyncio.sleep(0.02)
    raise AssertionError("recording did not settle")


def metric(text: str, name: str) -> float:
    total = 0.0
    for line in text.splitlines():
        m = re.match(rf'{name}\{{[^}}]*route="m"[^}}]*\}} ([0-9.e+]+)$', line)
        if m:
            total += float(m.group(1))
    return total


async def test_pairs_equal_stored_plus_dropped_after_a_decision(
    tmp_path: Path, upstream_factory: Any, refused_url: Any
) -> None:
    prod = await upstream_factory()
    gw, control = await start(
        tmp_path,
        prod.url,
        refused_url(),  # a dead candidate: rolled back after a few pairs
        analysis={"interval": "20ms", "checks": [{"metric": "errors", "margin": 0.02}]},
    )
    try:
        async with aiohttp.ClientSession() as s:
            for _ in range(100):
                await send(s, gw, 10)
                ctx = control.judge.contexts.get("m")
                if ctx is not None and ctx.rollout.state.value == "rolled_back":
                    break
            else:
                raise AssertionError("no rollback")
            for _ in range(50):  # wait until this replica applies it (the data plane's view)
                if control.sync.settled("m"):
                    break
                await asyncio.sleep(0.02)
            await settled(control)
            async with s.get(f"{gw.admin_url}/api/status") as r:
                before = (await r.json())["routes"]["m"]["counts"]
            await send(s, gw, 60)  # production alone serves these: not recorded, not pairs
            await settled(control)
            async with s.get(f"{gw.admin_url}/api/status") as r:
                status = await r.json()
            async with s.get(f"{gw.admin_url}/metrics") as r:
                metrics = await r.text()
        stored = len(await control.store.read_outcomes("m", 0, 100_000))
        dropped = metric(metrics, "shadowgate_outcomes_dropped_total")
        pairs = status["routes"]["m"]["counts"]["pairs"]
        assert stored > 0
        assert pairs == metric(metrics, "shadowgate_pairs_total") == stored + dropped
        counts = status["routes"]["m"]["counts"]
        assert counts["pairs"] == before["pairs"]
        assert counts["requests"]["production"] == before["requests"]["production"] + 60
    finally:
        await gw.stop()


async def test_a_canary_rollouts_samples_are_its_requests(
    tmp_path: Path, upstream_factory: Any
) -> None:
    prod, cand = await upstream_factory(), await upstream_factory()
    gw, control = await start(
        tmp_path,
        prod.url,
        cand.url,
        mode="canary",
        canary={"weight": 50},
        analysis={"interval": "20ms", "min_samples": 100_000, "max_samples": 100_000},
    )
    try:
        async with aiohttp.ClientSession() as s:
            await send(s, gw, 80)
            await settled(control)
            for _ in range(100):  # until the judge has read and committed them all
                async with s.get(f"{gw.admin_url}/api/routes/m/rollouts") as r:
                    history = await r.json()
                if history["rollouts"] and history["rollouts"][0]["samples"] == 80:
                    break
                await asyncio.sleep(0.05)
        (rollout,) = history["rollouts"]
        assert rollout["state"] == "canary"
        assert rollout["samples"] == 80
    finally:
        await gw.stop()
