"""``shadowgate serve --workers 2`` as real processes: one port, requests spread, metrics add up,
one judge."""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from prometheus_client import CollectorRegistry
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.parser import text_string_to_metric_families

from gwhelpers import config, free_port, route, until, write_config

BODY = b'{"outputs":[{"name":"y","shape":[1],"datatype":"FP32","data":[0.5]}]}'
REQUESTS = 60


async def _answer(request: web.Request) -> web.Response:
    await request.read()
    return web.Response(body=BODY, content_type="application/json")


def _sample(text: str, name: str, **labels: str) -> float:
    total = 0.0
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            if s.name == name and all(s.labels.get(k) == v for k, v in labels.items()):
                total += s.value
    return total


def _requests_by_pid(prom: Path, scratch: Path) -> dict[int, float]:
    """Each worker's own count of answered requests, read from its value file alone."""
    out: dict[int, float] = {}
    for f in prom.glob("counter_*.db"):
        one = scratch / f.stem
        one.mkdir()
        shutil.copy(f, one / f.name)
        registry = CollectorRegistry()
        MultiProcessCollector(registry, path=str(one))
        n = sum(
            s.value
            for m in registry.collect()
            for s in m.samples
            if s.name == "shadowgate_requests_total"
        )
        out[int(f.stem.split("_")[1])] = n
    return out


@pytest.mark.slow
async def test_two_workers_share_the_port_add_up_metrics_and_elect_one_judge(
    tmp_path: Path, upstream_factory: Callable[..., Awaitable[Any]]
) -> None:
    prod = await upstream_factory(_answer)
    cand = await upstream_factory(_answer)
    data, admin = free_port(), free_port()
    cfg = config(
        route("m", "/v2/models/m", prod.url, cand.url, mirror={"percent": 100}),
        listen=f"127.0.0.1:{data}",
        admin_listen=f"127.0.0.1:{admin}",
    )
    cfg["store"] = f"sqlite:///{tmp_path / 'sg.db'}"
    path = tmp_path / "sg.yaml"
    write_config(path, cfg)
    prom = tmp_path / "prom"
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(prom)}
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "shadowgate.cli",
        "serve",
        "--config",
        str(path),
        "--workers",
        "2",
        "--log-level",
        "warning",
        env=env,
    )
    metrics_url = f"http://127.0.0.1:{admin}/metrics"
    try:
        async with aiohttp.ClientSession() as admin_client:

            async def scrape() -> str:
                async with admin_client.get(metrics_url) as r:
                    return await r.text()

            async def both_up() -> bool:
                try:
                    text = await scrape()
                except aiohttp.ClientError:
                    return False
                # each worker registers its metrics at start: two value files, one leader
                return (
                    len(list(prom.glob("counter_*.db"))) == 2
                    and _sample(text, "shadowgate_judge_leader") == 1.0
                )

            await until(both_up, 60, "two workers and an elected judge")
            # a new connection per request: SO_REUSEPORT spreads connections, not requests
            connector = aiohttp.TCPConnector(force_close=True)
            async with aiohttp.ClientSession(connector=connector) as client:
                for _ in range(REQUESTS):
                    url = f"http://127.0.0.1:{data}/v2/models/m/infer"
                    async with client.post(url, data=b'{"inputs":[]}') as r:
                        assert r.status == 200
                        assert await r.read() == BODY

            async def counted() -> bool:
                text = await scrape()
                return _sample(text, "shadowgate_requests_total", route="m") == REQUESTS

            await until(counted, 10, f"/metrics to count {REQUESTS} requests")
            by_pid = _requests_by_pid(prom, tmp_path)
            assert sum(by_pid.values()) == REQUESTS
            assert len(by_pid) == 2 and all(n > 0 for n in by_pid.values()), by_pid
            text = await scrape()
            assert _sample(text, "shadowgate_judge_leader") == 1.0  # exactly one judge acts
            assert _sample(text, "shadowgate_mirror_dropped_total") == 0.0
    finally:
        if proc.returncode is None:
            proc.send_signal(signal.SIGTERM)
        code = await asyncio.wait_for(proc.wait(), 30)
    assert code == 0
