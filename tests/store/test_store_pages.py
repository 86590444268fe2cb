"""``pages()``: every row once, in cursor order, and no read more than it needs."""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

import pytest

from shadowgate.store import OutcomeRecord, Store, StoredOutcome
from shadowgate.store.pages import cursor_of, pages


def rec(rid: str, rollout: str = "r-1") -> OutcomeRecord:
    return OutcomeRecord("r", rollout, rid, 1.0, "shadow", "production", rows=1, agree=[True])


class Counted:
    """``store.read_outcomes``, counting its calls and what they asked for."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.calls: list[tuple[int, int, str | None, Collection[str] | None]] = []

    async def __call__(
        self,
        route: str,
        after: int,
        limit: int,
        rollout_id: str | None,
        /,
        *,
        fields: Collection[str] | None = None,
    ) -> list[StoredOutcome]:
        self.calls.append((after, limit, rollout_id, fields))
        return await self.store.read_outcomes(route, after, limit, rollout_id, fields=fields)


async def collect(it: Any) -> list[list[Any]]:
    return [page async for page in it]


async def test_pages_walk_every_row_once_and_stop_after_a_short_page(store: Store) -> None:
    await store.insert_outcomes([rec(f"q{i}") for i in range(25)])
    read = Counted(store)
    got = await collect(pages(read, "r", page=10))
    assert [len(p) for p in got] == [10, 10, 5]
    ids = [o.id for p in got for o in p]
    assert ids == sorted(set(ids)) and len(ids) == 25
    assert [c[0] for c in read.calls] == [0, got[0][-1].id, got[1][-1].id]  # no 4th read


async def test_a_full_last_page_costs_one_empty_read_and_is_not_yielded(store: Store) -> None:
    await store.insert_outcomes([rec(f"q{i}") for i in range(20)])
    read = Counted(store)
    assert [len(p) for p in await collect(pages(read, "r", page=10))] == [10, 10]
    assert len(read.calls) == 3


async def test_pages_pass_rollout_and_fields_and_start_after_the_cursor(store: Store) -> None:
    await store.insert_outcomes([rec(f"a{i}", "r-1") for i in range(6)])
    await store.insert_outcomes([rec(f"b{i}", "r-2") for i in range(6)])
    first = (await store.read_outcomes("r", 0, 1, "r-2"))[0].id
    read = Counted(store)
    got = await collect(pages(read, "r", first, page=4, rollout_id="r-2", fields=("agree",)))
    assert [o.record.request_id for p in got for o in p] == [f"b{i}" for i in range(1, 6)]
    assert {(c[2], c[3]) for c in read.calls} == {("r-2", ("agree",))}
    assert got[0][0].record.prod_latency is None  # a field not asked for keeps its default


async def test_upto_leaves_later_rows_for_later(store: Store) -> None:
    await store.insert_outcomes([rec(f"q{i}") for i in range(12)])
    end = (await store.read_outcomes("r", 0, 100))[6].id
    read = Counted(store)
    got = await collect(pages(read, "r", page=4, upto=end))
    assert [o.id for p in got for o in p][-1] == end
    assert sum(len(p) for p in got) == 7
    assert len(read.calls) == 2  # the page that reached ``end`` ends the walk


async def test_max_pages_bounds_one_walk(store: Store) -> None:
    await store.insert_outcomes([rec(f"q{i}") for i in range(30)])
    got = await collect(pages(store.read_outcomes, "r", page=5, max_pages=2))
    assert [len(p) for p in got] == [5, 5]
    rest = await collect(pages(store.read_outcomes, "r", cursor_of(got[-1][-1]), page=5))
    assert sum(len(p) for p in rest) == 20


async def test_labelled_pages_follow_the_join_sequence(store: Store) -> None:
    await store.insert_outcomes([rec(f"q{i}") for i in range(9)])
    await store.add_labels([(f"q{i}", i % 2) for i in (8, 1, 5, 3, 0)])
    got = await collect(pages(store.read_labeled, "r", page=2))
    seqs = [cursor_of(x) for p in got for x in p]
    assert seqs == sorted(seqs) and len(seqs) == 5
    assert [len(p) for p in got] == [2, 2, 1]


async def test_a_page_of_no_rows_is_refused(store: Store) -> None:
    with pytest.raises(ValueError, match="at least one row"):
        await anext(pages(store.read_outcomes, "r", page=0))
