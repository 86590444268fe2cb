"""The input checks in the running gateway, against real OIP v2 model servers on loopback.

Production and candidate serve ``GET /v2/models/cancer`` (metadata) and ``.../infer``; the
gateway reads both schemas at start, checks every recorded request, counts violations in
/metrics, shows examples and schema differences in /api/status, answers 400 before either
model with ``enforce``, and raises a drift alarm (status, metric, webhook) on the one
feature that moved.
"""

from __future__ import annotations

import json
import math
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
import numpy as np
import yaml
from aiohttp import web

from conftest import UpstreamServer
from gwhelpers import Hooks, config, route, until
from shadowgate.app import Control, attach_control
from shadowgate.config import ConfigHolder, parse_config
from shadowgate.gateway import Gateway

COLUMNS = 3


def oip_model(columns: int = COLUMNS) -> Callable[[web.Request], Awaitable[web.Response]]:
    meta = {
        "name": "cancer",
        "platform": "test",
        "inputs": [{"name": "x", "datatype": "FP32", "shape": [-1, columns]}],
        "outputs": [{"name": "p", "datatype": "FP64", "shape": [-1, 2]}],
    }

    async def handler(request: web.Request) -> web.Response:
        if request.method == "GET":
            return web.json_response(meta)
        raw = await request.read()
        header = request.headers.get("Inference-Header-Content-Length")  # binary tensors
        try:
            doc = json.loads(raw[: int(header)] if header is not None else raw)
            rows = int(doc["inputs"][0]["shape"][0])
        except (ValueError, KeyError, IndexError, TypeError):
            return web.json_response({"error": "bad request"}, status=400)
        data = [0.3, 0.7] * rows
        return web.json_response(
            {"outputs": [{"name": "p", "datatype": "FP64", "shape": [rows, 2], "data": data}]}
        )

    return handler


async def start(
    tmp_path: Path, prod: UpstreamServer, cand: UpstreamServer, hook: str, **extra: Any
) -> tuple[Gateway, Control]:
    cfg = config(
        route(
            "cancer",
            "/v2/models/cancer",
            prod.url,
            cand.url,
            protocol="open-inference-v2",
            webhooks=[{"url": hook, "timeout": "2s"}],
            **extra,
        )
    )
    cfg["store"] = {"url": f"sqlite:///{tmp_path}/sg.db", "flush_interval": "20ms"}
    gw = Gateway(ConfigHolder(parse_config(yaml.safe_dump(cfg))), watch_config=False)
    control = attach_control(gw, judge_enabled=False)
    await gw.start()
    return gw, control


def body(data: list[Any], rows: int = 2, **over: Any) -> dict[str, Any]:
    x = {"name": "x", "datatype": "FP32", "shape": [rows, COLUMNS], "data": data}
    x.update(over)
    return {"inputs": [x]}


async def post(http: aiohttp.ClientSession, gw: Gateway, doc: Any) -> tuple[int, str, str]:
    url = f"{gw.data_url}/v2/models/cancer/infer"
    async with http.post(url, json=doc) as r:
        return r.status, await r.text(), r.headers["X-Request-Id"]


async def status(http: aiohttp.ClientSession, gw: Gateway) -> dict[str, Any]:
    async with http.get(f"{gw.admin_url}/api/status") as r:
        doc: dict[str, Any] = await r.json()
    inputs: dict[str, Any] = doc["routes"]["cancer"]["inputs"]
    return inputs


async def metric(http: aiohttp.ClientSession, gw: Gateway, needle: str) -> float | None:
    async with http.get(f"{gw.admin_url}/metrics") as r:
        text = await r.text()
    for line in text.splitlines():
        if line.startswith(needle):
            return float(line.rsplit(" ", 1)[1])
    return None


async def test_violations_counted_examples_and_schema_difference(
    tmp_path: Path, upstream_factory: Any, hooks: Hooks, http: aiohttp.ClientSession
) -> None:
    prod = await upstream_factory(oip_model())
    cand = await upstream_factory(oip_model(columns=4))
    gw, _ = await start(tmp_path, prod, cand, hooks.url, validation={"schema": "auto"})
    try:
        await until(lambda: True)
        bad = {
            "nan": body([1, 2, math.nan, 4, 5, 6]),
            "null": body([1, 2, 3, None, 5, 6]),
            "out_of_type": body([1, "a", 3, 4, 5, 6]),
            "shape": body([1, 2, 3, 4, 5]),
            "datatype": body([1, 2, 3, 4, 5, 6], datatype="FP64"),
            "unknown_input": {"inputs": [*body([1] * 6)["inputs"], {"name": "z"}]},
            "missing_input": {"inputs": []},
        }
        ids = {}
        for reason, doc in bad.items():
            before = len(prod.requests)
            _, _, rid = await post(http, gw, doc)
            assert len(prod.requests) == before + 1  # forwarded unchanged without enforce
            ids[reason] = rid
        await post(http, gw, body([1, 2, 3, 4, 5, 6]))

        async def all_counted() -> bool:
            s = await status(http, gw)
            return s["validation"]["checked"] == len(bad) + 1

        await until(all_counted, what="every request checked")
        s = (await status(http, gw))["validation"]
        assert s["violations"] == {r: 1 for r in bad}
        by_reason = {e["reason"]: e for e in s["examples"]}
        assert by_reason["null"]["request_id"] == ids["null"]
        assert by_reason["null"]["input"] == "x" and by_reason["null"]["index"] == 3
        for reason in bad:
            got = await metric(
                http,
                gw,
                f'shadowgate_input_violations_total{{reason="{reason}",route="cancer"}}',
            )
            assert got == 1.0, reason
        assert [d["text"] for d in s["schema_differences"]] == [
            "input 'x' shape: production [-1, 3], candidate [-1, 4]"
        ]
    finally:
        await gw.stop()


async def test_enforce_answers_400_with_location_before_either_model(
    tmp_path: Path, upstream_factory: Any, hooks: Hooks, http: aiohttp.ClientSession
) -> None:
    prod = await upstream_factory(oip_model())
    cand = await upstream_factory(oip_model())
    gw, _ = await start(
        tmp_path, prod, cand, hooks.url, validation={"schema": "auto", "enforce": True}
    )
    try:
        seen = len(prod.requests) + len(cand.requests)  # the metadata reads at start
        code, text, _ = await post(http, gw, body([1, 2, 3, None, 5, 6]))
        assert code == 400
        assert "input 'x' value 3: null where FP32 is expected" in text
        assert len(prod.requests) + len(cand.requests) == seen
        code, _, _ = await post(http, gw, body([1, 2, 3, 4, 5, 6]))
        assert code == 200 and any(r.method == "POST" for r in prod.requests)
    finally:
        await gw.stop()


def binary_body(values: list[float], rows: int = 2, short: int = 0) -> tuple[bytes, int]:
    """Triton's binary tensor form (tritonclient's default): a JSON header, then the FP32
    bytes it announces (``short`` fewer of them than announced); and the header's length."""
    data = np.asarray(values, dtype="<f4").tobytes()
    x = {"name": "x", "datatype": "FP32", "shape": [rows, COLUMNS]}
    x["parameters"] = {"binary_data_size": len(data)}
    header = json.dumps({"inputs": [x]}).encode()
    return header + data[: len(data) - short], len(header)


async def test_binary_tensor_requests_are_checked_not_counted_malformed(
    tmp_path: Path, upstream_factory: Any, hooks: Hooks, http: aiohttp.ClientSession
) -> None:
    prod = await upstream_factory(oip_model())
    cand = await upstream_factory(oip_model())
    gw, _ = await start(
        tmp_path, prod, cand, hooks.url, validation={"schema": "auto", "enforce": True}
    )
    url = f"{gw.data_url}/v2/models/cancer/infer"

    async def send(raw: bytes, length: int) -> tuple[int, str]:
        headers = {
            "Inference-Header-Content-Length": str(length),
            "Content-Type": "application/octet-stream",
        }
        async with http.post(url, data=raw, headers=headers) as r:
            return r.status, await r.text()

    try:
        code, _ = await send(*binary_body([1, 2, 3, 4, 5, 6]))
        assert code == 200  # read as tensors: valid, so forwarded
        nan = float("nan")
        code, text = await send(*binary_body([1, 2, nan, 4, 5, 6]))
        assert code == 400 and "input 'x' value 2: nan in a FP32 input" in text, text
        code, text = await send(*binary_body([1, 2, 3, 4, 5, 6], short=4))
        assert code == 400 and "binary tensor data does not fit its header" in text, text

        async def recorded() -> bool:  # the valid request, checked again on the recording path
            return bool((await status(http, gw))["validation"]["checked"] == 1)

        await until(recorded, what="the valid request checked")
        assert (await status(http, gw))["validation"]["violations"] == {}
    finally:
        await gw.stop()


async def test_drift_alarm_names_the_shifted_feature_and_fires_the_webhook(
    tmp_path: Path, upstream_factory: Any, hooks: Hooks, http: aiohttp.ClientSession
) -> None:
    prod = await upstream_factory(oip_model())
    cand = await upstream_factory(oip_model())
    gw, _ = await start(
        tmp_path,
        prod,
        cand,
        hooks.url,
        validation={"schema": "auto"},
        drift={"reference": 640, "alpha": 0.01, "every": 1},
    )
    rng = np.random.default_rng(3)
    try:
        for i in range(60):
            x = rng.standard_normal((32, COLUMNS))
            if i >= 30:
                x[:, 1] += 1.5  # only column 1 moves
            code, _, _ = await post(http, gw, body(x.ravel().tolist(), rows=32))
            assert code == 200

        async def alarmed() -> bool:
            d = (await status(http, gw)).get("drift", {})
            return bool(d.get("alarms")) and d.get("rows", 0) >= 60 * 32 - 640

        await until(alarmed, what="a drift alarm")
        d = (await status(http, gw))["drift"]
        assert [a["feature"] for a in d["alarms"]] == ["x[1]"]
        alarm = d["alarms"][0]
        assert alarm["since_row"] >= 0 and alarm["e_value"] >= (COLUMNS + 1) / 0.01
        assert alarm["bins"][0]["observed"] != alarm["bins"][0]["expected"]
        on = await metric(http, gw, 'shadowgate_drift_alarm{feature="x[1]",route="cancer"}')
        off = await metric(http, gw, 'shadowgate_drift_alarm{feature="x[0]",route="cancer"}')
        assert on == 1.0 and off == 0.0
        assert await metric(http, gw, 'shadowgate_drift_e_value{feature="x[1]"') is not None
        await until(lambda: bool(hooks.events), what="the drift webhook")
        event = hooks.events[0]
        assert event["type"] == "shadowgate.drift" and event["feature"] == "x[1]"
        assert event["route"] == "cancer"
    finally:
        await gw.stop()
