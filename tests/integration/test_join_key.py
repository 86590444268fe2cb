"""The join key from the body: tritonclient's ``request_id=`` (the Open Inference Protocol's
``id``) through a real gateway, then feedback by that id joins; a JMESPath per route for
other protocols; X-Request-Id stays the default and the fallback."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import aiohttp
import numpy as np
import pytest
import yaml
from aiohttp import web

from gwhelpers import config, route, until
from shadowgate.app import Control, attach_control
from shadowgate.config import ConfigHolder, parse_config
from shadowgate.gateway import Gateway


async def oip_model(request: web.Request) -> web.Response:
    """An OIP v2 model server: echoes the request id, as MLServer does; reads Triton's binary
    tensor extension's JSON header (answers are JSON)."""
    body = await request.read()
    size = int(request.headers.get("Inference-Header-Content-Length", len(body)))
    doc = json.loads(body[:size])
    x = doc["inputs"][0]
    rows = x["shape"][0]
    out: dict[str, Any] = {
        "model_name": "cancer",
        "outputs": [{"name": "label", "shape": [rows], "datatype": "INT64", "data": [1] * rows}],
    }
    if "id" in doc:
        out["id"] = doc["id"]
    return web.json_response(out)


async def start(
    tmp_path: Path, prod: str, cand: str, protocol: str, **extra: Any
) -> tuple[Gateway, Control]:
    cfg = config(route("cancer", "/v2/models/cancer", prod, cand, protocol=protocol, **extra))
    cfg["store"] = {"url": f"sqlite:///{tmp_path}/sg.db", "flush_interval": "20ms"}
    gw = Gateway(ConfigHolder(parse_config(yaml.safe_dump(cfg))), watch_config=False)
    control = attach_control(gw)
    await gw.start()
    return gw, control


async def stored_ids(control: Control, n: int) -> list[str]:
    async def enough() -> bool:
        return len(await control.store.read_outcomes("cancer", 0, 1000)) >= n

    await until(enough, timeout=10, what=f"{n} outcomes stored")
    return [o.record.request_id for o in await control.store.read_outcomes("cancer", 0, 1000)]


async def feedback(gw: Gateway, rid: str, label: Any) -> dict[str, Any]:
    async with (
        aiohttp.ClientSession() as s,
        s.post(f"{gw.admin_url}/api/feedback", json={"request_id": rid, "label": label}) as r,
    ):
        assert r.status == 200, await r.text()
        doc: dict[str, Any] = await r.json()
        return doc


def triton_infer(address: str, request_id: str, binary: bool) -> tuple[str, list[int]]:
    import tritonclient.http as httpclient

    client = httpclient.InferenceServerClient(url=address)
    try:
        data = np.zeros((2, 3), dtype=np.float32)
        x = httpclient.InferInput("x", list(data.shape), "FP32")
        x.set_data_from_numpy(data, binary_data=binary)
        out = httpclient.InferRequestedOutput("label", binary_data=False)
        result = client.infer("cancer", [x], request_id=request_id, outputs=[out])
        response = result.get_response()
        return str(response.get("id")), [int(v) for v in result.as_numpy("label")]
    finally:
        client.close()


@pytest.mark.parametrize("binary", [False, True], ids=["json", "binary-tensors"])
async def test_tritonclient_request_id_is_the_join_key(
    tmp_path: Path, upstream_factory: Any, binary: bool
) -> None:
    pytest.importorskip("tritonclient.http")
    prod, cand = await upstream_factory(oip_model), await upstream_factory(oip_model)
    gw, control = await start(tmp_path, prod.url, cand.url, "open-inference-v2")
    try:
        address = gw.data_url.removeprefix("http://")
        echoed, labels = await asyncio.to_thread(triton_infer, address, "case-0042", binary)
        assert (echoed, labels) == ("case-0042", [1, 1])
        (rid,) = await stored_ids(control, 1)
        assert rid == "case-0042"
        outcome = (await control.store.read_outcomes("cancer", 0, 10))[0].record
        assert outcome.extra["header_request_id"] != "case-0042"  # the generated X-Request-Id
        joined = await feedback(gw, "case-0042", [1, 0])
        assert joined["joined"] == ["case-0042"] and joined["unknown"] == []
    finally:
        await gw.stop()


async def test_a_jmespath_per_route_and_the_header_as_fallback(
    tmp_path: Path, upstream_factory: Any
) -> None:
    async def json_model(request: web.Request) -> web.Response:
        return web.json_response({"predictions": [1]})

    prod, cand = await upstream_factory(json_model), await upstream_factory(json_model)
    gw, control = await start(
        tmp_path,
        prod.url,
        cand.url,
        "json",
        prediction={"path": "predictions"},
        request_id={"body": "meta.trace"},
    )
    try:
        async with aiohttp.ClientSession() as s:
            url = f"{gw.data_url}/v2/models/cancer/predict"
            bodies = [
                {"x": [1], "meta": {"trace": "t-1"}},
                {"x": [1], "meta": {"trace": 77}},
                {"x": [1]},  # no key in the body: X-Request-Id
                {"x": [1], "meta": {"trace": {"nested": True}}},  # refused, noted
            ]
            for i, body in enumerate(bodies):
                async with s.post(url, json=body, headers={"X-Request-Id": f"h-{i}"}) as r:
                    assert r.status == 200
                    assert r.headers["X-Request-Id"] == f"h-{i}"  # the client's header is kept
        ids = await stored_ids(control, 4)
        assert sorted(ids) == sorted(["t-1", "77", "h-2", "h-3"])
        rows = {o.record.request_id: o.record for o in await control.store.read_outcomes("cancer")}
        assert "a dict, not a string" in rows["h-3"].extra["join_key_error"]
        assert (await feedback(gw, "t-1", 1))["joined"] == ["t-1"]
        assert (await feedback(gw, "h-2", 1))["joined"] == ["h-2"]
    finally:
        await gw.stop()


async def test_without_a_body_key_the_header_is_the_key(
    tmp_path: Path, upstream_factory: Any
) -> None:
    prod, cand = await upstream_factory(oip_model), await upstream_factory(oip_model)
    gw, control = await start(
        tmp_path, prod.url, cand.url, "open-inference-v2", request_id={"body": None}
    )
    try:
        body = {
            "id": "oip-1",
            "inputs": [{"name": "x", "shape": [1, 1], "datatype": "FP32", "data": [0.5]}],
        }
        async with (
            aiohttp.ClientSession() as s,
            s.post(
                f"{gw.data_url}/v2/models/cancer/infer",
                json=body,
                headers={"X-Request-Id": "hdr-1"},
            ) as r,
        ):
            assert r.status == 200
        assert await stored_ids(control, 1) == ["hdr-1"]
    finally:
        await gw.stop()
