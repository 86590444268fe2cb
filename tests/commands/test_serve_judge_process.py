"""``shadowgate serve --judge-process`` as real processes: the data plane serves and records,
a process of its own decides, and the operator's API still reaches the decision."""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import sys
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from prometheus_client import CollectorRegistry
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.parser import text_string_to_metric_families

from gwhelpers import config, free_port, route, until, write_config

pytestmark = pytest.mark.slow

BODY = b'{"outputs":[{"name":"y","shape":[1],"datatype":"FP32","data":[0.5]}]}'


async def _answer(request: web.Request) -> web.Response:
    await request.read()
    return web.Response(body=BODY, content_type="application/json")


async def _broken(request: web.Request) -> web.Response:
    await request.read()
    return web.json_response({"error": "model not loaded"}, status=503)


def _by_pid(prom: Path, scratch: Path, name: str) -> dict[str, float]:
    """Each process's own value of ``name``, read from its value files alone."""
    out: dict[str, float] = {}
    for f in prom.glob("*.db"):
        pid = f.stem.rsplit("_", 1)[1]
        one = scratch / f"{pid}-{f.stem}"
        one.mkdir(parents=True)
        shutil.copy(f, one / f.name)
        registry = CollectorRegistry()
        MultiProcessCollector(registry, path=str(one))
        values = [s.value for m in registry.collect() for s in m.samples if s.name == name]
        out[pid] = out.get(pid, 0.0) + sum(values)
    return out


def _gauge(text: str, name: str) -> float:
    return sum(
        s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
        if s.name == name
    )


async def _serve(tmp_path: Path, cfg: dict[str, Any], *flags: str) -> asyncio.subprocess.Process:
    cfg["store"] = {"url": f"sqlite:///{tmp_path / 'sg.db'}", "flush_interval": "20ms"}
    path = tmp_path / "sg.yaml"
    write_config(path, cfg)
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "prom")}
    return await asyncio.create_subprocess_exec(
        sys.executable,
        *("-m", "shadowgate.cli", "serve", "--config", str(path), *flags),
        *("--log-level", "warning"),
        env=env,
    )


async def _stop(proc: asyncio.subprocess.Process) -> int:
    if proc.returncode is None:
        proc.send_signal(signal.SIGTERM)
    return await asyncio.wait_for(proc.wait(), 30)


async def test_judge_in_its_own_process_rolls_back_a_broken_candidate(
    tmp_path: Path, upstream_factory: Any
) -> None:
    prod = await upstream_factory(_answer)
    cand = await upstream_factory(_broken)
    data, admin_port = free_port(), free_port()
    analysis = {"interval": "100ms", "checks": [{"metric": "errors"}]}
    cfg = config(
        route("m", "/v2/models/m", prod.url, cand.url, analysis=analysis),
        listen=f"127.0.0.1:{data}",
        admin_listen=f"127.0.0.1:{admin_port}",
    )
    proc = await _serve(tmp_path, cfg, "--judge-process")
    admin = f"http://127.0.0.1:{admin_port}"
    try:
        async with aiohttp.ClientSession() as s:

            async def up() -> bool:
                try:
                    async with s.get(f"{admin}/metrics") as r:
                        text = await r.text()
                except aiohttp.ClientError:
                    return False
                # a value file per process: the data worker's and the judge's, and one leader
                pids = {f.stem.rsplit("_", 1)[1] for f in (tmp_path / "prom").glob("*.db")}
                return len(pids) == 2 and _gauge(text, "shadowgate_judge_leader") == 1.0

            await until(up, 60, "the data worker and the judge process")
            url = f"http://127.0.0.1:{data}/v2/models/m/infer"
            for _ in range(400):
                async with s.post(url, data=b'{"inputs":[]}') as r:
                    assert r.status == 200  # the candidate's failures never reach a client
                    assert await r.read() == BODY

            async def state() -> str:
                async with s.get(f"{admin}/api/status") as r:
                    doc = await r.json()
                return str(doc["routes"]["m"]["rollout"]["state"])

            async def rolled_back() -> bool:
                return await state() == "rolled_back"

            await until(rolled_back, 30, "the judge process to roll the candidate back")
            # the process that acts is the one that served no request
            scratch = tmp_path / "scratch"
            served = _by_pid(tmp_path / "prom", scratch / "r", "shadowgate_requests_total")
            leader = _by_pid(tmp_path / "prom", scratch / "l", "shadowgate_judge_leader")
            assert sorted(served.values()) == [0.0, 400.0], served
            judge_pid = next(pid for pid, n in served.items() if n == 0.0)
            assert leader == {pid: float(pid == judge_pid) for pid in served}, leader
            # the decision reaches the data worker's traffic: nothing is mirrored any more
            async with s.get(f"{admin}/api/routes/m/verdict") as r:
                verdict = await r.json()
            assert verdict["decision"] == "rollback", verdict
            # an operator action on the admin port still applies, through the store
            async with s.post(f"{admin}/api/routes/m/restart") as r:
                assert r.status == 200, await r.text()
            assert await state() == "shadow"
    finally:
        code = await _stop(proc)
    assert code == 0


async def test_judge_process_refuses_a_store_it_cannot_share(tmp_path: Path) -> None:
    cfg = config(route("m", "/m", "http://127.0.0.1:9", "http://127.0.0.1:9"))
    path = tmp_path / "sg.yaml"
    write_config(path, cfg)  # sqlite:///:memory: lives in one process only
    proc = await asyncio.create_subprocess_exec(
        *(sys.executable, "-m", "shadowgate.cli", "serve", "--config", str(path)),
        "--judge-process",
        stderr=asyncio.subprocess.PIPE,
    )
    _, err = await asyncio.wait_for(proc.communicate(), 30)
    assert proc.returncode == 2
    assert b"--judge-process needs a store the processes share" in err
