"""The SQLite store's thread works in short steps and offers the core between them,
except when the writer is behind (batches back to back), where yielding would only let
its backlog grow."""

from __future__ import annotations

from pathlib import Path

import pytest

from shadowgate.store import OutcomeRecord, open_store, sqlite_base
from shadowgate.store.sqlite import SqliteStore


def records(n: int, tag: str) -> list[OutcomeRecord]:
    return [
        OutcomeRecord("m", "r-1", f"{tag}-{i}", 1.0 + i, "shadow", "production", rows=1)
        for i in range(n)
    ]


async def test_steps_offer_the_core_unless_the_writer_is_behind(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    offers = 0

    def count() -> None:
        nonlocal offers
        offers += 1

    monkeypatch.setattr(sqlite_base, "offer_core", count)
    store = open_store(f"sqlite:///{tmp_path}/steps.db")
    assert isinstance(store, SqliteStore)
    await store.open()
    try:
        n = 3 * sqlite_base.ROWS_PER_STEP + 1  # four steps
        await store.insert_outcomes(records(n, "a"))  # the first batch in a while
        assert offers == 4
        await store.insert_outcomes(records(n, "b"))  # straight after: a backlog
        assert offers == 4
        stored = await store.read_outcomes("m", 0, 1000)
        assert len(stored) == 2 * n
        assert [o.record.request_id for o in stored[:2]] == ["a-0", "a-1"]
    finally:
        await store.close()
