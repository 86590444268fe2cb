"""kill -9 mid-rollout, restart: the same state and the same statistics.

``shadowgate serve`` runs as a real process against real upstreams; traffic flows until the
judge has looked at a few hundred pairs; the process is killed with SIGKILL and started
again on the same SQLite file. The restarted judge must report exactly the statistics the
killed one had committed (plus nothing twice), and keep the operator's pause.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import yaml

from gwhelpers import free_port, route

pytestmark = pytest.mark.slow


async def wait_ready(admin: str, proc: subprocess.Popen[bytes], timeout: float = 15) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    async with aiohttp.ClientSession() as s:
        while loop.time() < deadline:
            assert proc.poll() is None, "shadowgate serve exited early"
            try:
                async with s.get(f"{admin}/readyz") as r:
                    if r.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.1)
    raise AssertionError("shadowgate serve did not become ready")


async def status(admin: str) -> dict[str, Any]:
    async with aiohttp.ClientSession() as s, s.get(f"{admin}/api/status") as r:
        doc: dict[str, Any] = await r.json()
        return doc["routes"]["m"]["rollout"]  # type: ignore[no-any-return]


def start(cfg_path: Path, log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:  # the child keeps its own descriptor
        return subprocess.Popen(
            [sys.executable, "-m", "shadowgate.cli", "serve", "--config", str(cfg_path)],
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd=cfg_path.parent,
        )


async def test_kill_9_and_restart_resume_identical_state_and_statistics(
    tmp_path: Path, upstream_factory: Any
) -> None:
    prod = await upstream_factory()
    cand = await upstream_factory()
    data, admin_port = free_port(), free_port()
    cfg = {
        "server": {"listen": f"127.0.0.1:{data}", "admin_listen": f"127.0.0.1:{admin_port}"},
        "store": {"url": "sqlite:///sg.db", "flush_interval": "20ms"},
        "routes": [
            route(
                "m",
                "/m",
                prod.url,
                cand.url,
                analysis={
                    "min_samples": 100_000,
                    "interval": "100ms",
                    # both upstreams share this test's event loop, so the
                    # mirrored copy queues behind production's: a wide margin
                    "checks": [{"metric": "errors"}, {"metric": "latency", "margin": 2}],
                },
            )
        ],
    }
    cfg_path = tmp_path / "shadowgate.yaml"
    cfg_path.write_text(yaml.safe_dump(cfg))
    admin = f"http://127.0.0.1:{admin_port}"
    log = tmp_path / "serve.log"
    proc = start(cfg_path, log)
    try:
        await wait_ready(admin, proc)
        async with aiohttp.ClientSession() as s:
            for i in range(300):
                async with s.post(f"http://127.0.0.1:{data}/m/x", data=b"%d" % i) as r:
                    assert r.status == 200
            async with s.post(f"{admin}/api/routes/m/pause") as r:
                assert r.status == 200, await r.text()
        # paused: the judge still reads and commits evidence, it just does not decide
        for _ in range(100):
            before = await status(admin)
            if before["samples"]["pairs"] == 300:
                break
            await asyncio.sleep(0.1)
        assert before["state"] == "paused" and before["samples"]["pairs"] == 300
        await asyncio.sleep(0.5)  # let the judge commit its last look
        before = await status(admin)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)

        proc = start(cfg_path, log)
        await wait_ready(admin, proc)
        for _ in range(100):
            after = await status(admin)
            if after.get("samples"):
                break
            await asyncio.sleep(0.1)
        assert after["state"] == "paused"
        assert after["rollout_id"] == before["rollout_id"]
        assert after["samples"] == before["samples"]
        assert after["checks"] == before["checks"]
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
