"""SQLite specifics: a writer killed with SIGKILL leaves a database that opens and is intact."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from shadowgate.store import open_store
from shadowgate.store.sqlite import SqliteStore

WRITER = """
import asyncio, sys, time
from shadowgate.store import OutcomeRecord, open_store

async def main() -> None:
    store = open_store(sys.argv[1])
    await store.open()
    i = 0
    while True:
        await store.insert_outcomes(
            [OutcomeRecord("r", "r-1", f"q{i}-{k}", time.time(), "shadow", "production",
                           prod_pred=[k] * 50) for k in range(200)])
        await store.add_labels([(f"q{i}-{k}", k % 2) for k in range(0, 200, 3)])
        i += 1
        if i == 3:
            print("writing", flush=True)

asyncio.run(main())
"""


async def test_kill_9_mid_write_leaves_an_intact_database(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/crash.db"
    proc = subprocess.Popen(
        [sys.executable, "-c", WRITER, url], stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == b"writing", (
            proc.stderr.read() if proc.stderr else ""
        )
        time.sleep(0.3)  # well inside the write loop
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.communicate()  # close the pipes
    store = open_store(url)
    await store.open()
    assert isinstance(store, SqliteStore)
    assert await store.integrity_check() == "ok"
    outcomes = await store.read_outcomes("r", 0, 1_000_000)
    assert len(outcomes) >= 600 and len(outcomes) % 200 == 0  # whole batches only
    assert [o.id for o in outcomes] == list(range(1, len(outcomes) + 1))
    labeled = await store.read_labeled("r", 0, 1_000_000)
    assert len({x.outcome.id for x in labeled}) == len(labeled) > 0
    await store.close()


async def test_wal_mode_and_in_memory_urls(tmp_path: Path) -> None:
    store = open_store(f"sqlite:///{tmp_path}/wal.db")
    await store.open()
    assert isinstance(store, SqliteStore)
    mode = await store._run(lambda: store._db.execute("PRAGMA journal_mode").fetchone()[0])
    assert mode == "wal"
    await store.close()
    mem = open_store("sqlite://")
    assert isinstance(mem, SqliteStore) and mem.path == ":memory:"
    await mem.open()
    assert await mem.max_outcome_id() == 0
    await mem.close()
