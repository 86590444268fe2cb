"""kill -9, restart: the drift monitors resume where the last snapshot left them.

A real ``shadowgate serve`` in front of a real OIP v2 model server on loopback watches a
route's inputs with ``reference: N``; traffic completes the reference and then moves one
feature until it alarms. The process is killed with SIGKILL once a snapshot holds the
alarm and started again on the same SQLite file: before any new request its monitors are
ready, at the saved row, with the alarm still latched (``block_promotion`` would go on
holding); new rows continue them, and the reference is not collected again. A changed
drift config starts over instead.
"""

from __future__ import annotations

import signal
from pathlib import Path
from typing import Any

import aiohttp
import numpy as np
import pytest
from aiohttp import web

from gwhelpers import route
from reliability.procs import Serve, poll

pytestmark = pytest.mark.slow

META = {
    "name": "m",
    "inputs": [{"name": "x", "datatype": "FP32", "shape": [-1, 3]}],
    "outputs": [{"name": "p", "datatype": "FP64", "shape": [-1, 2]}],
}


async def model(request: web.Request) -> web.Response:
    if request.method == "GET":
        return web.json_response(META)
    doc = await request.json()
    rows = int(doc["inputs"][0]["shape"][0])
    out = {"name": "p", "datatype": "FP64", "shape": [rows, 2], "data": [0.3, 0.7] * rows}
    return web.json_response({"outputs": [out]})


async def send(serve: Serve, rng: np.random.Generator, requests: int, shift: float) -> None:
    async with aiohttp.ClientSession() as s:
        for _ in range(requests):
            x = rng.standard_normal((32, 3))
            x[:, 2] += shift  # only x[2] moves
            doc = {"inputs": [{"name": "x", "datatype": "FP32", "shape": [32, 3],
                               "data": x.round(4).ravel().tolist()}]}  # fmt: skip
            async with s.post(f"{serve.data}/v2/models/m/infer", json=doc) as r:
                assert r.status == 200


async def drift(serve: Serve) -> dict[str, Any]:
    doc: dict[str, Any] = (await serve.status())["routes"]["m"]["inputs"]["drift"]
    return doc


def config(prod: str, reference: int) -> dict[str, Any]:
    r = route(
        "m",
        "/v2/models/m",
        prod,
        prod,
        protocol="open-inference-v2",
        validation={"schema": "auto"},
        drift={"reference": reference, "every": 1, "save_interval": "200ms"},
    )
    return {"store": {"url": "sqlite:///sg.db", "flush_interval": "20ms"}, "routes": [r]}


async def test_kill_9_resumes_the_drift_monitors_with_their_alarm(
    tmp_path: Path, upstream_factory: Any
) -> None:
    prod = await upstream_factory(model)
    rng = np.random.default_rng(7)
    serve = Serve(tmp_path, config(prod.url, reference=640))
    try:
        await serve.start()
        await send(serve, rng, 20, 0.0)  # the 640-row reference
        await send(serve, rng, 40, 2.0)  # x[2] moves by 2 sd

        async def alarm_saved() -> bool:
            d = await drift(serve)
            saved = d.get("saved") or {}
            return bool(d.get("alarms")) and saved.get("rows") == d["rows"] == 40 * 32

        await poll(alarm_saved)
        before = await drift(serve)
        assert [a["feature"] for a in before["alarms"]] == ["x[2]"]
        assert before["restored"] is None
        assert await serve.stop(signal.SIGKILL) == -signal.SIGKILL

        await serve.start()  # the same config and database
        after = await drift(serve)
        assert after["ready"] and after["reference_seen"] == 0
        assert after["rows"] == before["rows"]
        assert after["restored"]["rows"] == before["rows"]
        assert after["restored"]["saved_at"] == before["saved"]["at"]
        assert after["alarms"] == before["alarms"]  # latched: same row, since, e-value, bins
        assert after["features"] == before["features"]
        await send(serve, rng, 5, 0.0)

        async def continued() -> bool:
            return int((await drift(serve))["rows"]) == before["rows"] + 5 * 32

        await poll(continued)  # monitoring goes on from the saved row, not a new reference
        assert (await drift(serve))["reference_seen"] == 0
        await serve.stop(signal.SIGKILL)

        # another reference size makes other monitors: nothing is resumed, it starts over
        other = Serve(tmp_path, config(prod.url, reference=320), name="other")
        other.cfg["store"] = serve.cfg["store"]
        serve = other
        await serve.start()
        fresh = await drift(serve)
        assert fresh["restored"] is None and not fresh.get("ready") and not fresh.get("alarms")
    finally:
        serve.kill()
