"""A live config edit that names an unusable schema or reference file is rejected with the
located error, and the previous config (its schema, its enforcement) keeps serving; a
valid edit after it still applies. A real gateway watching its config file, in front of a
real OIP v2 model server on loopback."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import aiohttp
import numpy as np
import yaml
from aiohttp import web

from conftest import UpstreamServer
from gwhelpers import config, route, until, write_config
from shadowgate.app import attach_control
from shadowgate.config import ConfigHolder, load_config
from shadowgate.gateway import Gateway

META = {"inputs": [{"name": "x", "datatype": "FP32", "shape": [-1, 2]}]}


async def model(request: web.Request) -> web.Response:
    doc = await request.json()
    rows = int(doc["inputs"][0]["shape"][0])
    out = {"name": "p", "datatype": "FP64", "shape": [rows, 2], "data": [0.4, 0.6] * rows}
    return web.json_response({"outputs": [out]})


def route_config(prod: UpstreamServer, schema: Path, reference: Path, enforce: bool) -> str:
    r = route(
        "cancer",
        "/v2/models/cancer",
        prod.url,
        prod.url,
        protocol="open-inference-v2",
        validation={"schema": str(schema), "enforce": enforce},
        drift={"reference": str(reference), "every": 1},
    )
    return yaml.safe_dump(config(r), sort_keys=False)


async def post(http: aiohttp.ClientSession, gw: Gateway, data: list[Any]) -> tuple[int, str]:
    doc = {"inputs": [{"name": "x", "datatype": "FP32", "shape": [2, 2], "data": data}]}
    async with http.post(f"{gw.data_url}/v2/models/cancer/infer", json=doc) as r:
        return r.status, await r.text()


async def reloads(http: aiohttp.ClientSession, gw: Gateway) -> dict[str, Any]:
    async with http.get(f"{gw.admin_url}/api/status") as r:
        doc: dict[str, Any] = (await r.json())["config"]
    return doc


async def test_an_edit_naming_an_unusable_file_keeps_the_old_config_serving(
    tmp_path: Path, upstream_factory: Any, http: aiohttp.ClientSession
) -> None:
    prod = await upstream_factory(model)
    schema, reference = tmp_path / "meta.json", tmp_path / "ref.csv"
    schema.write_text(json.dumps(META))
    x = np.random.default_rng(1).standard_normal((200, 2)).round(3)
    reference.write_text("x[0],x[1]\n" + "\n".join(f"{a},{b}" for a, b in x) + "\n")
    path = tmp_path / "sg.yaml"
    write_config(path, route_config(prod, schema, reference, enforce=True))
    gw = Gateway(ConfigHolder(load_config(path), path), watch_poll=0.05)
    control = attach_control(gw, judge_enabled=False)
    await gw.start()
    try:
        assert (await post(http, gw, [1, 2, None, 4]))[0] == 400  # the file's schema enforced
        bad_csv = tmp_path / "broken.csv"
        bad_csv.write_text("x[0],x[1]\n1.0,oops\n")
        edits = {
            tmp_path / "missing.json": "validation.schema",
            tmp_path: "validation.schema",  # a directory: unreadable
            bad_csv: "drift.reference",
        }
        for n, (bad, key) in enumerate(edits.items(), 1):
            if key == "validation.schema":
                text = route_config(prod, bad, reference, enforce=True)
            else:
                text = route_config(prod, schema, bad, enforce=True)
            write_config(path, text)

            async def rejected(n: int = n) -> bool:
                return int((await reloads(http, gw))["reloads"]["error"]) == n

            await until(rejected, what=f"edit {n} rejected")
            errors = (await reloads(http, gw))["last_reload"]["errors"]
            line = next(
                i for i, t in enumerate(text.splitlines(), 1) if key.split(".")[1] + ":" in t
            )
            assert len(errors) == 1
            assert errors[0].startswith(f"{path}:{line}: routes[0].{key}: route 'cancer': ")
            assert str(bad) in errors[0]
            # the old config serves on: same files, the same enforcement with its location
            current = gw.holder.current.routes[0]
            assert current.validation is not None and current.validation.schema_ == str(schema)
            assert current.drift is not None and current.drift.reference == str(reference)
            code, body = await post(http, gw, [1, 2, None, 4])
            assert code == 400 and "input 'x' value 2: null where FP32 is expected" in body
            assert (await post(http, gw, [1, 2, 3, 4]))[0] == 200
        assert "broken.csv row 1: x[1] is 'oops', not a number" in errors[0]
        async with http.get(f"{gw.admin_url}/metrics") as r:
            assert 'shadowgate_config_reloads_total{result="error"} 3.0' in await r.text()
        # a valid edit still applies: enforcement off, the invalid request is forwarded
        write_config(path, route_config(prod, schema, reference, enforce=False))
        await until(lambda: gw.holder.last_reload.ok, what="the valid edit")
        await until(lambda: not gw.holder.current.routes[0].validation.enforce)  # type: ignore[union-attr]
        assert (await post(http, gw, [1, 2, None, 4]))[0] == 200
        assert control.inputs is not None
        status = control.inputs.status("cancer")
        assert status is not None and status["inputs"]["validation"]["schema_error"] is None
    finally:
        await gw.stop()
