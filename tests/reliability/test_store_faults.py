"""The store fails under traffic: the data plane serves on, records are bounded, counted,
and the judge waits; when the store is back, everything resumes on its own.

- SQLite on a real 1 MB tmpfs that fills up (ENOSPC), then gets space back;
- PostgreSQL behind a TCP proxy on loopback that is cut (every connection reset, the
  port closed) and restored: the machine's PostgreSQL server itself is never touched.

Each scenario: a candidate that always answers 500 (so the judge *would* roll back as soon
as it sees the data) behind a store that fails. While it fails every client gets 200, the
writer buffers at most ``queue_size`` records and counts the rest in
``shadowgate_outcomes_dropped_total``, and the judge decides nothing. After recovery the
buffer drains, stored + dropped == pairs, and the judge rolls the candidate back.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import os
import sqlite3
import subprocess
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from gwhelpers import route, write_config
from reliability.procs import metric_value, oip_ok, poll, server_error
from shadowgate.app import Control, attach_control
from shadowgate.config import ConfigHolder, load_config
from shadowgate.gateway import Gateway
from shadowgate.metrics import Metrics

pytestmark = pytest.mark.slow

QUEUE = 200  # what survives the outage must pass the harm tests' 128-pair burn-in
SENT = 500


def _cfg(store: str, prod: str, cand: str) -> dict[str, Any]:
    return {
        "server": {"listen": "127.0.0.1:0", "admin_listen": "127.0.0.1:0"},
        "store": {"url": store, "queue_size": QUEUE, "batch_size": 50, "flush_interval": "20ms"},
        "routes": [
            route(
                "m",
                "/m",
                prod,
                cand,
                analysis={"min_samples": 50, "interval": "100ms", "checks": [{"metric": "errors"}]},
            )
        ],
    }


async def _start(tmp_path: Path, cfg: dict[str, Any]) -> tuple[Gateway, Control]:
    path = tmp_path / "sg.yaml"
    write_config(path, cfg)
    gw = Gateway(ConfigHolder(load_config(path), path), metrics=Metrics())
    control = attach_control(gw)
    control.writer.retry_max = 0.5  # recover promptly once the store is back
    await gw.start()
    return gw, control


async def _state(gw: Gateway) -> dict[str, Any]:
    async with aiohttp.ClientSession() as s, s.get(gw.admin_url + "/api/status") as r:
        doc: dict[str, Any] = await r.json()
        return doc


async def _scenario(
    gw: Gateway,
    control: Control,
    cut: Callable[[], Awaitable[None]],
    restore: Callable[[], Awaitable[None]],
    count_stored: Callable[[], Awaitable[int]],
) -> None:
    writer = control.writer
    async with aiohttp.ClientSession() as s:

        async def send(n: int) -> None:
            for i in range(n):
                async with s.post(gw.data_url + "/m/infer", data=b'{"i": %d}' % i) as r:
                    assert r.status == 200, await r.text()  # the data plane keeps serving

        await cut()
        await send(20)
        await poll(lambda: _true(not writer.healthy), timeout=30)
        await send(SENT - 20)
        await poll(lambda: _true(control.recorder.stats().pending == 0), timeout=30)
        # buffered to a bound, then dropped and counted
        assert writer.pending <= QUEUE
        metrics = gw.metrics.exposition().decode()
        dropped = metric_value(metrics, "shadowgate_outcomes_dropped_total", route="m")
        assert dropped >= SENT - QUEUE - writer.written, (dropped, writer.stats())
        # the judge pauses: no decision while records are stuck behind the failing store
        for _ in range(5):
            await control.judge.tick(force=True)
        doc = await _state(gw)
        assert doc["recording"]["store_healthy"] is False, doc["recording"]
        rollout = doc["routes"]["m"]["rollout"]
        # (with the store down the committed state may be unreadable: status says so)
        assert rollout.get("state", "shadow") == "shadow", rollout
        assert rollout.get("last_decision") is None, rollout

        await restore()
        await poll(lambda: _true(writer.healthy and writer.pending == 0), timeout=60)

        # the judge resumes and decides on what was stored (every pair is a candidate error)
        async def decided() -> bool:
            st = (await _state(gw))["routes"]["m"]["rollout"]
            return bool(st["state"] == "rolled_back")

        await poll(decided, timeout=30)
    pairs = gw.proxy.stats["m"].pairs
    stored = await count_stored()
    dropped = metric_value(gw.metrics.exposition().decode(), "shadowgate_outcomes_dropped_total")
    assert pairs == SENT
    assert stored + dropped == pairs, (stored, dropped, pairs)
    assert stored == writer.written
    print(f"sent {SENT}: stored {stored}, dropped {dropped:.0f} (queue bound {QUEUE})")


async def _true(value: bool) -> bool:
    return value


# -- SQLite on a tmpfs that fills up --------------------------------------------------------


@pytest.fixture
def tiny_fs(tmp_path: Path) -> Any:
    mnt = tmp_path / "fs"
    mnt.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mnt)], capture_output=True
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.decode().strip()}")
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], check=False)


def _fill(path: Path) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
    try:
        while True:
            os.write(fd, b"\0" * 4096)
    except OSError as exc:
        assert exc.errno == errno.ENOSPC, exc
    finally:
        os.close(fd)


async def test_sqlite_disk_full_then_space_back(
    tmp_path: Path, tiny_fs: Path, upstream_factory: Any
) -> None:
    prod = await upstream_factory(oip_ok)
    cand = await upstream_factory(server_error)
    db = tiny_fs / "sg.db"
    gw, control = await _start(tmp_path, _cfg(f"sqlite:///{db}", prod.url, cand.url))
    filler = tiny_fs / "filler"

    async def cut() -> None:
        _fill(filler)

    async def restore() -> None:
        filler.unlink()

    async def count() -> int:
        with contextlib.closing(sqlite3.connect(db)) as conn:
            return int(conn.execute("SELECT count(*) FROM outcomes").fetchone()[0])

    try:
        await _scenario(gw, control, cut, restore, count)
    finally:
        await gw.stop()
    with contextlib.closing(sqlite3.connect(db)) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


# -- PostgreSQL behind a TCP proxy we can cut -----------------------------------------------


class TcpProxy:
    """Forwards a loopback port to PostgreSQL; ``cut`` resets every connection and closes it."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.port = 0
        self.server: asyncio.Server | None = None
        self.conns: set[asyncio.StreamWriter] = set()

    async def start(self) -> None:
        self.server = await asyncio.start_server(self._on_conn, "127.0.0.1", self.port)
        self.port = self.server.sockets[0].getsockname()[1]

    async def cut(self) -> None:
        assert self.server is not None
        self.server.close()
        for w in list(self.conns):
            w.transport.abort()
        self.conns.clear()
        await self.server.wait_closed()
        self.server = None

    async def _on_conn(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            ur, uw = await asyncio.open_connection(*self.target)
        except OSError:
            writer.transport.abort()
            return
        self.conns |= {writer, uw}

        async def pipe(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
            try:
                while data := await r.read(65536):
                    w.write(data)
                    await w.drain()
            except (ConnectionError, OSError):
                pass
            finally:
                w.transport.abort()
                self.conns.discard(w)

        await asyncio.gather(pipe(reader, uw), pipe(ur, writer))


@pytest.fixture
async def pg_schema() -> AsyncIterator[str]:
    from pghelpers import drop_pg_schema, new_pg_schema, pg_unreachable

    why = pg_unreachable()
    if why:
        pytest.skip(why)
    schema = new_pg_schema()
    try:
        yield schema
    finally:
        await drop_pg_schema(schema)


@pytest.mark.postgres
async def test_postgres_cut_then_restored(
    tmp_path: Path, pg_schema: str, upstream_factory: Any
) -> None:
    import urllib.parse

    import asyncpg

    from pghelpers import PG_URL

    parts = urllib.parse.urlsplit(PG_URL)
    proxy = TcpProxy((parts.hostname or "127.0.0.1", parts.port or 5432))
    await proxy.start()
    netloc = (
        f"{parts.username}@127.0.0.1:{proxy.port}" if parts.username else f"127.0.0.1:{proxy.port}"
    )
    url = urllib.parse.urlunsplit((parts.scheme, netloc, parts.path, f"schema={pg_schema}", ""))
    prod = await upstream_factory(oip_ok)
    cand = await upstream_factory(server_error)
    gw, control = await _start(tmp_path, _cfg(url, prod.url, cand.url))

    async def count() -> int:
        conn = await asyncpg.connect(PG_URL)
        try:
            return int(await conn.fetchval(f'SELECT count(*) FROM "{pg_schema}".outcomes'))
        finally:
            await conn.close()

    try:
        await _scenario(gw, control, proxy.cut, proxy.start, count)
    finally:
        await gw.stop()
        if proxy.server is not None:
            await proxy.cut()
