"""Leader election: one judge among processes; the lock passes on when the holder dies."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from pghelpers import PG_URL
from shadowgate.judge.leader import FileLeader, PostgresLeader

HOLD_FILE = """
import sys, time
from shadowgate.judge.leader import FileLeader
leader = FileLeader(sys.argv[1])
assert leader.try_acquire()
print("held", flush=True)
time.sleep(60)
"""


def test_file_lock_is_exclusive_and_released_on_kill_9(tmp_path: Path) -> None:
    path = str(tmp_path / "judge.lock")
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLD_FILE, path], stdout=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "held"
        follower = FileLeader(path)
        assert not follower.try_acquire()
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(5)
        assert follower.try_acquire()  # the kernel released the dead holder's lock
        assert follower.is_leader()
        asyncio.run(follower.close())
    finally:
        proc.kill()
        proc.wait(5)
        assert proc.stdout is not None
        proc.stdout.close()


async def _pg_available() -> bool:
    import asyncpg

    try:
        conn = await asyncpg.connect(PG_URL, timeout=2)
    except Exception:
        return False
    await conn.close()
    return True


async def test_postgres_advisory_lock_fails_over() -> None:
    if not await _pg_available():
        pytest.skip("PostgreSQL is not reachable on 127.0.0.1:5432")
    url = f"{PG_URL}?schema=leader_{uuid.uuid4().hex[:8]}"
    a, b = PostgresLeader(url, poll=0.1), PostgresLeader(url, poll=0.1)
    try:
        assert await a.step() is True
        assert await b.step() is False
        assert a.is_leader() and not b.is_leader()
        # the holder's connection dies abruptly: the server releases the lock
        a._conn.terminate()
        t0 = time.monotonic()
        while not await b.step():
            await asyncio.sleep(0.1)
            assert time.monotonic() - t0 < 5
        assert await a.step() is False  # the old leader notices and does not take it back
        assert b.is_leader() and not a.is_leader()
    finally:
        await a.close()
        await b.close()
