"""Process faults on a real ``shadowgate serve``: SIGTERM drains, SIGKILL corrupts nothing.

kill -9 mid-rollout and restart with the same state and statistics is covered by
``tests/integration/test_restart.py``; here: SIGTERM with requests in flight (all complete,
every answered request's outcome is stored, exit 0) and SIGKILL under a stream of writes
(the SQLite file passes ``PRAGMA integrity_check`` and the restarted process serves on).
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sqlite3
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from gwhelpers import route
from reliability.procs import OIP_OK, Serve, oip_ok, poll
from shadowgate.store import open_store

pytestmark = pytest.mark.slow

IN_FLIGHT = 40
NO_DECISION = {
    "min_samples": 50_000_000,
    "max_samples": 100_000_000,
    "checks": [{"metric": "agreement", "min": 0.0}],
}


def _cfg(prod: str, cand: str) -> dict[str, Any]:
    return {
        "server": {"shutdown_timeout": "10s"},
        "store": {"url": "sqlite:///sg.db", "flush_interval": "1s", "batch_size": 1000},
        # the judge must not decide mid-test: a promotion or rollback stops the mirror, and
        # the restart check below counts on the next request being recorded
        "routes": [route("m", "/m", prod, cand, analysis=NO_DECISION)],
    }


async def test_sigterm_drains_in_flight_requests_and_flushes_outcomes(
    tmp_path: Path, upstream_factory: Any
) -> None:
    async def slow_ok(request: web.Request) -> web.Response:
        await asyncio.sleep(1.0)
        return web.json_response(OIP_OK)

    prod = await upstream_factory(slow_ok)
    cand = await upstream_factory(oip_ok)
    serve = Serve(tmp_path, _cfg(prod.url, cand.url))
    await serve.start()
    try:
        async with aiohttp.ClientSession() as s:
            # a few answered before the signal, still buffered in the writer (1 s flush)
            async with s.post(f"{serve.data}/m/x", data=b"{}") as r:
                assert r.status == 200
            early = r.headers["X-Request-Id"]

            async def one(i: int) -> tuple[int, str]:
                async with s.post(f"{serve.data}/m/x", data=b'{"i": %d}' % i) as r:
                    await r.read()
                    return r.status, r.headers["X-Request-Id"]

            tasks = [asyncio.create_task(one(i)) for i in range(IN_FLIGHT)]

            async def all_in_flight() -> bool:
                return len([q for q in prod.requests if q.body != b"{}"]) == IN_FLIGHT

            await poll(all_in_flight, timeout=20)
            assert serve.proc is not None
            serve.proc.send_signal(signal.SIGTERM)
            results = await asyncio.gather(*tasks)
        code = await serve.stop()
    finally:
        serve.kill()
    assert code == 0, serve.log()
    assert [st for st, _ in results] == [200] * IN_FLIGHT
    answered = {rid for _, rid in results} | {early}
    store = open_store(f"sqlite:///{tmp_path}/sg.db")
    await store.open()
    try:
        rows = await store.read_outcomes("m", 0, 10_000)
    finally:
        await store.close()
    stored = {r.record.request_id for r in rows}
    assert answered <= stored, f"{len(answered - stored)} answered outcomes lost"
    print(f"SIGTERM with {IN_FLIGHT} in flight: all 200, {len(stored)} outcomes stored, exit 0")


async def test_sigkill_during_writes_leaves_a_sound_store_and_restarts(
    tmp_path: Path, upstream_factory: Any
) -> None:
    prod = await upstream_factory(oip_ok)
    cand = await upstream_factory(oip_ok)
    cfg = _cfg(prod.url, cand.url)
    cfg["store"] = {"url": "sqlite:///sg.db", "flush_interval": "5ms", "batch_size": 20}
    serve = Serve(tmp_path, cfg)
    await serve.start()
    answered = 0
    stop = asyncio.Event()

    async def client(s: aiohttp.ClientSession) -> None:
        nonlocal answered
        while not stop.is_set():
            try:
                async with s.post(f"{serve.data}/m/x", data=b"{}") as r:
                    await r.read()
                    answered += r.status == 200
            except aiohttp.ClientError:
                return

    try:
        async with aiohttp.ClientSession() as s:
            clients = [asyncio.create_task(client(s)) for _ in range(8)]
            # kill while writes are under way: enough answers, and batches already landing
            await poll(lambda: _true(answered >= 300 and _rows(tmp_path / "sg.db") > 0), timeout=30)
            await serve.stop(signal.SIGKILL)
            stop.set()
            await asyncio.gather(*clients)
        with contextlib.closing(sqlite3.connect(tmp_path / "sg.db")) as conn:
            assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
            stored = conn.execute("SELECT count(*) FROM outcomes").fetchone()[0]
        assert 0 < stored <= answered
        await serve.start()
        async with aiohttp.ClientSession() as s, s.post(f"{serve.data}/m/x", data=b"{}") as r:
            assert r.status == 200
        assert await serve.stop() == 0
    finally:
        serve.kill()
    with contextlib.closing(sqlite3.connect(tmp_path / "sg.db")) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        after = conn.execute("SELECT count(*) FROM outcomes").fetchone()[0]
    assert after == stored + 1
    print(f"SIGKILL after {answered} answers: {stored} stored, integrity ok, restart serves")


async def _true(value: bool) -> bool:
    return value


def _rows(db: Path) -> int:
    """Committed outcomes, read without disturbing the writer (0 before the table exists)."""
    try:
        with contextlib.closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=1)) as c:
            return int(c.execute("SELECT count(*) FROM outcomes").fetchone()[0])
    except sqlite3.Error:
        return 0
