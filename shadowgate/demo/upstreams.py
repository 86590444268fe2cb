"""Two tiny built-in JSON model servers, so ``shadowgate serve --demo-upstreams`` runs alone.

For each route whose production/candidate URL points at a loopback address, a server is
started on that port. It answers Open Inference (v2) style requests: the prediction of
each input row is 1 when the row's sum is positive, else 0; the candidate disagrees on
about 2% of rows and is a little slower, so the dashboards have something to show.
The full demo (real scikit-learn models, traffic, labels) is ``shadowgate demo``.
"""

from __future__ import annotations

import asyncio
import json
import logging
import zlib
from typing import Any
from urllib.parse import urlsplit

from aiohttp import web

from shadowgate.config.model import ShadowgateConfig

log = logging.getLogger("shadowgate.demo")

_LOOPBACK = {"127.0.0.1", "localhost", "::1"}


def _rows(doc: Any) -> list[list[float]]:
    try:
        data = doc["inputs"][0]["data"]
        shape = doc["inputs"][0].get("shape") or [len(data)]
    except (KeyError, IndexError, TypeError, AttributeError):
        return [[0.0]]
    if not isinstance(data, list) or not data:
        return [[0.0]]
    if isinstance(data[0], list):
        return [[float(v) for v in row] for row in data]
    flat = [float(x) for x in data]
    width = int(shape[1]) if len(shape) > 1 and shape[1] else max(len(flat), 1)
    return [flat[i : i + width] for i in range(0, len(flat), width)] or [[0.0]]


def model_app(variant: str, delay: float = 0.002) -> web.Application:
    """A model server: POST .../infer answers predictions, GET anything answers ready."""

    async def infer(request: web.Request) -> web.Response:
        raw = await request.read()
        try:
            doc = json.loads(raw or b"{}")
        except ValueError:
            return web.json_response({"error": "body is not JSON"}, status=400)
        await asyncio.sleep(delay)
        preds = []
        for row in _rows(doc):
            p = 1 if sum(row) > 0 else 0
            key = json.dumps(row).encode()
            if variant == "candidate" and zlib.crc32(key) % 50 == 0:
                p = 1 - p
            preds.append(p)
        name = request.match_info.get("name", "model")
        return web.json_response(
            {
                "model_name": name,
                "model_version": variant,
                "outputs": [
                    {"name": "predict", "datatype": "INT64", "shape": [len(preds)], "data": preds}
                ],
            }
        )

    async def ready(request: web.Request) -> web.Response:
        return web.json_response({"ready": True, "variant": variant})

    app = web.Application()
    app.router.add_post("/v2/models/{name}/infer", infer)
    app.router.add_post("/{tail:.*}", infer)
    app.router.add_get("/{tail:.*}", ready)
    return app


async def start_demo_upstreams(config: ShadowgateConfig) -> list[web.AppRunner]:
    """Start a model server on every loopback production/candidate URL of the config."""
    runners: list[web.AppRunner] = []
    seen: set[tuple[str, int]] = set()
    for r in config.routes:
        for variant, up in (("production", r.production), ("candidate", r.candidate)):
            if up is None:
                continue
            parts = urlsplit(up.url)
            host, port = parts.hostname or "", parts.port or 80
            if host not in _LOOPBACK or (host, port) in seen:
                continue
            seen.add((host, port))
            delay = 0.002 if variant == "production" else 0.003
            runner = web.AppRunner(model_app(variant, delay), access_log=None)
            await runner.setup()
            await web.TCPSite(runner, host, port).start()
            runners.append(runner)
            log.info("demo %s model for route %s on %s", variant, r.name, up.url)
    return runners
