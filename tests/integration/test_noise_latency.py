"""The noise floor reports the measurement's own latency bias, in /api/status and /metrics.

Production is mirrored to itself (``noise.percent``); both answers come from one real
upstream on loopback, so whatever latency difference the recorded pairs show is the
proxy's own. With symmetric measurement it is centred on zero.
"""

from __future__ import annotations

import asyncio
import math
import random
from pathlib import Path

import aiohttp
import pytest
import yaml
from aiohttp import web

from gwhelpers import config, route
from shadowgate.app import attach_control
from shadowgate.config import ConfigHolder, parse_config
from shadowgate.gateway import Gateway

pytestmark = pytest.mark.slow


async def test_noise_floor_reports_a_latency_bias_centred_on_zero(tmp_path: Path) -> None:
    rng = random.Random(5)

    async def model(request: web.Request) -> web.Response:
        await request.read()
        await asyncio.sleep(rng.lognormvariate(math.log(0.003), 0.3))
        return web.json_response({"predictions": [1]})

    app = web.Application()
    app.router.add_post("/m/predict", model)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    up = f"http://127.0.0.1:{site._server.sockets[0].getsockname()[1]}"  # type: ignore[union-attr]
    cfg = config(
        route(
            "m",
            "/m",
            up,
            up,
            protocol="json",
            prediction={"path": "predictions"},
            noise={"percent": 100},
            analysis={
                "interval": "100ms",
                "min_samples": 10**8,
                "max_samples": 10**8,
                "checks": [{"metric": "errors"}],
            },
        )
    )
    cfg["store"] = {"url": f"sqlite:///{tmp_path}/sg.db", "flush_interval": "20ms"}
    gw = Gateway(ConfigHolder(parse_config(yaml.safe_dump(cfg))), watch_config=False)
    attach_control(gw)
    await gw.start()
    try:
        async with aiohttp.ClientSession() as s:

            async def client() -> None:
                for _ in range(150):
                    async with s.post(f"{gw.data_url}/m/predict", json={"x": 1}) as r:
                        assert r.status == 200
                        await r.read()

            await asyncio.gather(*(client() for _ in range(4)))
            floor: dict[str, object] = {}
            for _ in range(100):
                await asyncio.sleep(0.1)
                async with s.get(f"{gw.admin_url}/api/status") as r:
                    doc = await r.json()
                ro = doc["routes"]["m"].get("rollout") or {}
                floor = ro.get("noise_floor") or {}
                if int(floor.get("latency_pairs", 0)) >= 550:  # type: ignore[call-overload]
                    break
            assert int(floor["latency_pairs"]) >= 550  # type: ignore[call-overload]
            bias = float(floor["latency_bias"])  # type: ignore[arg-type]
            lo, hi = floor["latency_bias_ci"]  # type: ignore[misc]
            print(f"noise-floor latency bias {bias:+.2%} [{lo:+.2%}, {hi:+.2%}]")
            assert lo < hi and abs(bias) < 0.1, floor
            async with s.get(f"{gw.admin_url}/metrics") as r:
                text = await r.text()
            line = next(x for x in text.splitlines() if x.startswith("shadowgate_noise_latency"))
            assert 'route="m"' in line and abs(float(line.rsplit(" ", 1)[1])) < 0.1
    finally:
        await gw.stop()
        await runner.cleanup()
