"""Several processes write one SQLite file at once (``serve --workers N``): WAL admits one
writer at a time, so the others must wait for the lock (busy timeout), never fail with
``database is locked`` and never lose a batch."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from pathlib import Path

WRITER = """
import asyncio, sys, time
from shadowgate.store import open_store
from shadowgate.model.outcome import OutcomeRecord

async def main(path, tag, batches, size):
    store = open_store("sqlite:///" + path)
    await store.open()
    for b in range(batches):
        await store.insert_outcomes([
            OutcomeRecord("r", "r-1", f"{tag}-{b}-{i}", time.time(), "shadow", "production",
                          rows=1, agree=[True], prod_latency=0.01, cand_latency=0.01)
            for i in range(size)
        ])
    await store.close()

asyncio.run(main(sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])))
"""

PROCESSES, BATCHES, SIZE = 4, 40, 200


def test_concurrent_writer_processes_lose_nothing(tmp_path: Path) -> None:
    db = tmp_path / "shared.db"
    # create the schema first, so the writers race on inserts rather than on migrations
    subprocess.run([sys.executable, "-c", WRITER, str(db), "init", "1", "1"], check=True)
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", WRITER, str(db), f"w{k}", str(BATCHES), str(SIZE)],
            stderr=subprocess.PIPE,
            text=True,
        )
        for k in range(PROCESSES)
    ]
    for p in procs:
        _, err = p.communicate(timeout=90)
        assert p.returncode == 0, err[-2000:]
        assert "database is locked" not in err
    with sqlite3.connect(db) as conn:
        (count,) = conn.execute("SELECT count(*) FROM outcomes").fetchone()
        (ids,) = conn.execute("SELECT count(DISTINCT request_id) FROM outcomes").fetchone()
    assert count == ids == 1 + PROCESSES * BATCHES * SIZE
