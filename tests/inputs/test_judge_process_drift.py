"""``serve --judge-process``: the judge sees no traffic, yet a drift alarm in the data
worker holds the promotion (``on_drift: block_promotion``), read from the worker's saved
monitors (``monitor_store.StoredAlarms``).

Real processes: the supervisor, one data worker and the judge's process, in front of a real
OIP v2 model server on loopback. An identical candidate passes the agreement check; the
reference is completed, then one feature moves until it alarms in the worker; the judge
must hold the passing rollout instead of promoting it.
"""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path
from typing import Any

import aiohttp
import numpy as np
import pytest

from gwhelpers import route
from inputs.test_monitor_restart import drift, model, send
from reliability.procs import Serve, poll

pytestmark = pytest.mark.slow


def config(prod: str, cand: str) -> dict[str, Any]:
    r = route(
        "m",
        "/v2/models/m",
        prod,
        cand,
        protocol="open-inference-v2",
        mirror={"percent": 100},
        validation={"schema": "auto"},
        drift={
            "reference": 640,
            "every": 1,
            "save_interval": "200ms",
            "on_drift": "block_promotion",
        },
        analysis={
            "min_samples": 200,
            "interval": "100ms",
            "checks": [{"metric": "agreement", "min": 0.9}],
        },
    )
    return {"store": {"url": "sqlite:///sg.db", "flush_interval": "20ms"}, "routes": [r]}


async def verdict(serve: Serve) -> dict[str, Any]:
    async with (
        aiohttp.ClientSession() as s,
        s.get(f"{serve.admin}/api/routes/m/verdict") as r,
    ):
        doc: dict[str, Any] = await r.json()
        return doc


async def test_a_drift_alarm_in_a_data_worker_holds_the_judge_process(
    tmp_path: Path, upstream_factory: Any
) -> None:
    prod = await upstream_factory(model)
    cand = await upstream_factory(model)
    rng = np.random.default_rng(11)
    serve = Serve(tmp_path, config(prod.url, cand.url))
    try:
        await serve.start("--judge-process")
        await send(serve, rng, 20, 0.0)  # the 640-row reference
        await send(serve, rng, 40, 2.0)  # x[2] moves by 2 sd: alarms in the worker

        async def alarm_saved() -> bool:
            d = await drift(serve)
            return bool(d.get("alarms")) and (d.get("saved") or {}).get("rows") == d["rows"]

        await poll(alarm_saved)
        await asyncio.sleep(2.5)  # the judge reads the saved alarms every second
        await send(serve, rng, 300, 0.0)  # enough identical pairs for agreement to pass

        async def held() -> bool:
            v = await verdict(serve)
            return "inputs drift (x[2])" in str(v.get("reason"))

        await poll(held, timeout=30)
        v = await verdict(serve)
        assert v["state"] == "shadow" and v["decision"] != "promote", v
        assert v["samples"]["pairs"] >= 200, v
        status = (await serve.status())["routes"]["m"]["rollout"]
        assert "inputs drift (x[2])" in status["pending"], status
    finally:
        if serve.proc is not None and serve.proc.poll() is None:
            await serve.stop(signal.SIGTERM)
        serve.kill()
