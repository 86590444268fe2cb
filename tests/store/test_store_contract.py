"""The Store contract, run against every backend (see conftest: SQLite and PostgreSQL)."""

from __future__ import annotations

import asyncio
import dataclasses
import random

import pytest

from shadowgate.errors import StoreError
from shadowgate.store import (
    AuditRecord,
    JudgeState,
    MonitorSnapshot,
    OutcomeRecord,
    SchemaTooNewError,
    StaleStateError,
    Store,
    StoredOutcome,
)
from shadowgate.store.rows import MONITOR_MAX_AGE
from shadowgate.store.sqlite_base import MIGRATIONS

from .conftest import MakeStore


def rec(rid: str, route: str = "r", rollout: str = "r-1", ts: float = 1000.0) -> OutcomeRecord:
    return OutcomeRecord(route, rollout, rid, ts, "shadow", "production", rows=1, agree=[True])


async def read_all_outcomes(store: Store, route: str, page: int = 7) -> list[int]:
    ids: list[int] = []
    after = 0
    while batch := await store.read_outcomes(route, after, page):
        ids.extend(o.id for o in batch)
        after = batch[-1].id
    return ids


async def test_batch_insert_and_cursor_read_have_no_gaps_or_duplicates(store: Store) -> None:
    for b in range(5):
        await store.insert_outcomes(
            [rec(f"a{b}-{i}") for i in range(b * 3 + 1)] + [rec(f"b{b}", route="other")]
        )
    ids = await read_all_outcomes(store, "r")
    assert ids == sorted(set(ids))
    rows = [o.record.request_id for o in await store.read_outcomes("r", 0, 10_000)]
    assert len(rows) == sum(b * 3 + 1 for b in range(5)) == len(set(rows))
    assert [o.record.route for o in await store.read_outcomes("other", 0, 100)] == ["other"] * 5
    assert await store.max_outcome_id() == max(
        ids + [o.id for o in await store.read_outcomes("other")]
    )
    assert await store.max_outcome_id("nope") == 0


async def test_read_by_rollout(store: Store) -> None:
    await store.insert_outcomes([rec("1", rollout="r-1"), rec("2", rollout="r-2"), rec("3")])
    got = await store.read_outcomes("r", 0, 100, rollout_id="r-1")
    assert [o.record.request_id for o in got] == ["1", "3"]


async def test_record_round_trips_every_field(store: Store) -> None:
    r = OutcomeRecord(
        "r", "r-1", "x", 12.5, "canary", "candidate", 200, 0.01, None, 503, 0.2, "5xx", 2,
        agree=[True, False], prod_pred=[1, "a"], cand_pred=[[0.1, 0.9], None],
        prob_gap=[0.0, float("nan")], segment="eu", request_body=b"\x00\xffbody",
        extra={"k": [1, {"z": None}]},
    )  # fmt: skip
    await store.insert_outcomes([r])
    (got,) = await store.read_outcomes("r")
    expected = dataclasses.replace(r, prob_gap=[0.0, None])  # type: ignore[list-item]
    assert got.record == expected  # NaN is not JSON: stored as null


def _full(i: int) -> OutcomeRecord:
    """An outcome with every field set to something other than its default."""
    return OutcomeRecord(
        "r", "r-1", f"q{i}", 100.0 + i, ("shadow", "canary", "noise")[i % 3],
        ("production", "candidate")[i % 2], 200 + i, 0.01 * i, "timeout", 500, 0.02, "5xx",
        i + 1, agree=[i % 2 == 0, True], prod_pred=[i, "a"], cand_pred=[[0.1, 0.9], None],
        prob_gap=[0.5, 0.25], segment=f"s{i % 4}", request_body=b"body%d" % i,
        extra={"forced": i % 2 == 0, "k": [i]},
    )  # fmt: skip


def _lean(r: OutcomeRecord, fields: tuple[str, ...]) -> OutcomeRecord:
    """What a read of ``fields`` must return for ``r``: the rest at their defaults."""
    keep = {*fields, "route", "rollout_id", "request_id", "ts", "kind", "variant"}
    return OutcomeRecord(
        **{f.name: getattr(r, f.name) for f in dataclasses.fields(r) if f.name in keep}
    )


@pytest.mark.parametrize(
    "fields",
    [
        (),
        ("agree", "extra", "segment", "prod_error", "cand_latency"),
        ("prod_pred", "cand_pred", "rows"),
        ("kind",),  # always read anyway
        tuple(f.name for f in dataclasses.fields(OutcomeRecord)),
    ],
)
async def test_reading_some_fields_returns_those_and_defaults(
    store: Store, fields: tuple[str, ...]
) -> None:
    records = [_full(i) for i in range(40)]
    await store.insert_outcomes([*records, dataclasses.replace(records[0], route="other")])
    await store.add_labels([(f"q{i}", [i, 1]) for i in range(0, 40, 3)])
    full = await store.read_outcomes("r", 0, 1000, rollout_id="r-1")
    lean: list[StoredOutcome] = []
    while page := await store.read_outcomes(
        "r", lean[-1].id if lean else 0, 7, rollout_id="r-1", fields=fields
    ):
        lean.extend(page)
    assert [o.record for o in full] == records
    assert [o.id for o in lean] == [o.id for o in full]
    assert [o.record for o in lean] == [_lean(r, fields) for r in records]
    labeled_full = await store.read_labeled("r", 0, 1000)
    labeled = await store.read_labeled("r", 0, 1000, fields=fields)
    assert [(x.seq, x.outcome.id, x.label, x.revision) for x in labeled] == [
        (x.seq, x.outcome.id, x.label, x.revision) for x in labeled_full
    ]
    assert [x.outcome.record for x in labeled] == [
        _lean(records[i], fields) for i in range(0, 40, 3)
    ]


async def test_reading_an_unknown_field_is_an_error(store: Store) -> None:
    with pytest.raises(ValueError, match="prod_latncy"):
        await store.read_outcomes("r", fields=("prod_latncy",))
    with pytest.raises(ValueError, match="nope"):
        await store.read_labeled("r", fields=("agree", "nope"))


async def test_concurrent_writers_never_let_a_cursor_skip(make_store: MakeStore) -> None:
    """Two store instances (replicas) insert while a third tails by cursor."""
    writers = [await make_store(), await make_store()]
    reader = await make_store()
    total = 40 * 25

    async def write(w: Store, tag: int) -> None:
        for b in range(25):
            await w.insert_outcomes([rec(f"{tag}-{b}-{i}") for i in range(20)])
            await asyncio.sleep(random.random() * 0.002)

    seen: list[int] = []

    async def tail() -> None:
        after = 0
        while len(seen) < total:
            batch = await reader.read_outcomes("r", after, 53)
            seen.extend(o.id for o in batch)
            after = batch[-1].id if batch else after
            await asyncio.sleep(0)

    await asyncio.wait_for(asyncio.gather(write(writers[0], 0), write(writers[1], 1), tail()), 60)
    assert len(seen) == total == len(set(seen))
    assert seen == sorted(seen)


async def test_labels_join_whether_they_come_before_or_after_the_outcome(store: Store) -> None:
    early = await store.add_labels([("early", 1)])
    assert early.unknown == ["early"] and early.joined == []
    await store.insert_outcomes([rec("early"), rec("late"), rec("never")])
    late = await store.add_labels([("late", [0, 1]), ("ghost", 2)])
    assert late.joined == ["late"] and late.unknown == ["ghost"]
    assert late.accepted == ["late", "ghost"]
    rows = await store.read_labeled("r")
    assert [(x.outcome.record.request_id, x.label) for x in rows] == [
        ("early", 1),
        ("late", [0, 1]),
    ]
    assert rows[0].seq < rows[1].seq
    assert await store.read_labeled("r", after_seq=rows[-1].seq) == []
    # the unknown label stays stored and joins once its outcome arrives
    await store.insert_outcomes([rec("ghost")])
    (row,) = await store.read_labeled("r", after_seq=rows[-1].seq)
    assert (row.outcome.record.request_id, row.label) == ("ghost", 2)


async def test_repeated_labels_are_idempotent_and_revisions_last_write_wins(store: Store) -> None:
    await store.insert_outcomes([rec("a")])
    first = await store.add_labels([("a", 1)], now=10.0)
    again = await store.add_labels([("a", 1)], now=11.0)
    assert first.unchanged == [] and again.unchanged == ["a"] and again.joined == ["a"]
    rows = await store.read_labeled("r")
    assert len(rows) == 1 and rows[0].revision == 1
    revised = await store.add_labels([("a", 0)], now=12.0)
    assert revised.revised == ["a"]
    assert await store.read_labeled("r", after_seq=rows[0].seq) == []  # not re-emitted
    (row,) = await store.read_labeled("r")
    assert (row.label, row.revision) == (0, 2)
    labels = await store.read_labels(["a", "missing"])
    assert list(labels) == ["a"] and labels["a"].label == 0 and labels["a"].updated_at == 12.0


async def test_a_label_set_aside_leaves_room_for_a_corrected_one(store: Store) -> None:
    await store.add_labels([("a", "malignant"), ("b", 1)])  # before their outcomes
    await store.insert_outcomes([rec("a"), rec("b")])
    rows = await store.read_labeled("r")
    bad = next(x for x in rows if x.outcome.record.request_id == "a")
    record = {"reason": "class", "label": "malignant"}
    assert await store.set_aside_labels([("a", bad.revision, record)], now=5.0) == ["a"]
    kept = await store.read_labels(["a", "rejected:a"])
    assert list(kept) == ["rejected:a"] and kept["rejected:a"].label == record
    last = rows[-1].seq
    assert await store.read_labeled("r", after_seq=last) == []
    assert [x.outcome.record.request_id for x in await store.read_labeled("r")] == ["b"]
    # a corrected label is a first label: it joins after the cursor, and counts
    again = await store.add_labels([("a", 0)])
    assert again.joined == ["a"] and again.revised == []
    (row,) = await store.read_labeled("r", after_seq=last)
    assert (row.outcome.record.request_id, row.label, row.revision) == ("a", 0, 1)
    # setting aside twice replaces what was kept apart
    assert await store.set_aside_labels([("a", 1, {"reason": "type"})]) == ["a"]
    assert (await store.read_labels(["rejected:a"]))["rejected:a"].label == {"reason": "type"}


async def test_a_label_revised_before_it_is_set_aside_is_read_again(store: Store) -> None:
    await store.insert_outcomes([rec("a")])
    await store.add_labels([("a", 5)])
    (row,) = await store.read_labeled("r")
    await store.add_labels([("a", 1)])  # the correction races the one reading the 5
    assert await store.set_aside_labels([("a", row.revision, {"label": 5})]) == []
    assert await store.read_labels(["rejected:a"]) == {}
    (again,) = await store.read_labeled("r", after_seq=row.seq)
    assert (again.label, again.revision) == (1, 2)
    # an id with no label any more is left alone
    assert await store.set_aside_labels([("gone", 1, {})]) == []
    assert await store.read_labels(["gone", "rejected:gone"]) == {}


async def test_duplicate_ids_within_one_call_keep_the_last(store: Store) -> None:
    res = await store.add_labels([("d", 1), ("e", 5), ("d", 2)])
    assert res.accepted == ["d", "e"]
    assert (await store.read_labels(["d"]))["d"].label == 2


async def test_a_request_id_shared_by_several_outcomes_joins_each_once(store: Store) -> None:
    await store.insert_outcomes([rec("s"), rec("s", route="other")])
    await store.add_labels([("s", 1)])
    await store.insert_outcomes([rec("s")])
    assert len(await store.read_labeled("r")) == 2
    assert len(await store.read_labeled("other")) == 1


async def test_label_cursor_sees_each_join_once_under_interleaving(make_store: MakeStore) -> None:
    a, b, reader = await make_store(), await make_store(), await make_store()
    ids = [f"q{i}" for i in range(300)]
    random.Random(7).shuffle(ids)

    async def outcomes() -> None:
        for i in range(0, 300, 30):
            await a.insert_outcomes([rec(x) for x in ids[i : i + 30]])

    async def labels() -> None:
        for i in range(0, 300, 17):
            await b.add_labels([(x, 1) for x in sorted(ids)[i : i + 17]])

    seen: list[str] = []

    async def tail() -> None:
        after = 0
        while len(seen) < 300:
            batch = await reader.read_labeled("r", after, 41)
            seen.extend(x.outcome.record.request_id for x in batch)
            after = batch[-1].seq if batch else after
            await asyncio.sleep(0)

    await asyncio.wait_for(asyncio.gather(outcomes(), labels(), tail()), 60)
    assert sorted(seen) == sorted(ids)


async def test_migrates_an_empty_db_and_reopens_an_existing_one(make_store: MakeStore) -> None:
    first = await make_store()
    assert await first.schema_version() == len(MIGRATIONS)
    await first.insert_outcomes([rec("kept")])
    await first.close()
    again = await make_store()
    assert await again.schema_version() == len(MIGRATIONS)
    assert [o.record.request_id for o in await again.read_outcomes("r")] == ["kept"]


async def test_a_newer_schema_is_refused(make_store: MakeStore, store_url: str) -> None:
    s = await make_store()
    await s.commit_decision("r", "r-1", JudgeState("shadow"), [])  # any write works
    await _set_schema_version(s, 99)
    await s.close()
    with pytest.raises(SchemaTooNewError, match="upgrade shadowgate"):
        await make_store()


async def _set_schema_version(s: Store, version: int) -> None:
    from shadowgate.store.postgres import PostgresStore
    from shadowgate.store.sqlite import SqliteStore

    if isinstance(s, SqliteStore):
        await s._run(lambda: s._db.execute("INSERT INTO schema_version VALUES (?)", (version,)))
    else:
        assert isinstance(s, PostgresStore)
        async with s._conn() as conn:
            await conn.execute("INSERT INTO schema_version VALUES ($1)", version)


async def test_retention_by_age(make_store: MakeStore) -> None:
    s = await make_store(retention=100.0)
    await s.insert_outcomes([rec("old", ts=0.0), rec("new", ts=950.0)])
    await s.add_labels([("old", 1)], now=0.0)
    await s.add_labels([("new", 1), ("orphan", 1)], now=950.0)
    res = await s.prune(now=1000.0)
    assert (res.outcomes, res.labels) == (1, 1)
    assert [o.record.request_id for o in await s.read_outcomes("r")] == ["new"]
    assert [x.outcome.record.request_id for x in await s.read_labeled("r")] == ["new"]
    assert set(await s.read_labels(["old", "new", "orphan"])) == {"new", "orphan"}


async def test_retention_by_row_count_never_reuses_ids(make_store: MakeStore) -> None:
    s = await make_store(max_rows=3)
    await s.insert_outcomes([rec(str(i)) for i in range(5)] + [rec("o", route="other")])
    top = await s.max_outcome_id()
    assert (await s.prune(now=0.0)).outcomes == 2
    assert [o.record.request_id for o in await s.read_outcomes("r")] == ["2", "3", "4"]
    assert len(await s.read_outcomes("other")) == 1
    s2 = await make_store(max_rows=1)
    await s2.prune(now=0.0)
    await s2.insert_outcomes([rec("after")])
    assert (await s2.read_outcomes("r"))[-1].id > top


async def test_rollout_registry(store: Store) -> None:
    a = await store.start_rollout("r", "http://c#1", "d1", now=1.0)
    assert await store.start_rollout("r", "http://c#1", "d2", now=2.0) == a  # same candidate
    b = await store.start_rollout("r", "http://c#2", "d3", now=3.0)
    assert a != b
    assert await store.start_rollout("other", "http://c#1", "d1", now=4.0) != a
    rollouts = await store.list_rollouts("r")
    assert [x.rollout_id for x in rollouts] == [a, b]
    current = await store.current_rollout("r")
    assert current is not None and current.rollout_id == b and current.config_digest == "d3"
    assert await store.current_rollout("none") is None


async def test_commit_decision_writes_state_and_audit_and_fences(store: Store) -> None:
    rid = await store.start_rollout("r", "c", "d", now=1.0)
    assert await store.load_judge_state("r", rid) is None
    v0 = await store.state_version()
    state = JudgeState("shadow", data={"t": [1.5]}, detail={"weight": 0}, outcome_cursor=9)
    audit = AuditRecord(2.0, "r", rid, "continue", "latency", 0.2, 0.01, -0.1, 0.2, 50, "d", "ok")
    assert await store.commit_decision("r", rid, state, [audit]) == 1
    loaded = await store.load_judge_state("r", rid)
    assert loaded is not None and loaded.version == 1 and loaded.data == {"t": [1.5]}
    assert loaded.outcome_cursor == 9
    assert await store.state_version() > v0
    (stored,) = await store.read_audit("r", rid)
    assert dataclasses.replace(stored, id=0) == audit
    # a judge still holding version 0 lost the race: nothing it sends is written
    with pytest.raises(StaleStateError):
        await store.commit_decision("r", rid, JudgeState("rolled_back"), [audit])
    loaded.state = "canary"
    assert await store.commit_decision("r", rid, loaded, []) == 2
    (current,) = await store.read_rollout_states()
    assert (current.route, current.rollout_id, current.state, current.version) == (
        "r",
        rid,
        "canary",
        2,
    )
    assert len(await store.read_audit("r")) == 1


async def test_commit_decision_is_atomic(store: Store) -> None:
    rid = await store.start_rollout("r", "c", "d", now=1.0)
    await store.commit_decision("r", rid, JudgeState("shadow"), [])
    v = await store.state_version()
    good = AuditRecord(2.0, "r", rid, "promote")
    broken = AuditRecord(2.0, "r", rid, None)  # type: ignore[arg-type]  # NOT NULL fails
    with pytest.raises(StoreError):
        await store.commit_decision("r", rid, JudgeState("promoted", version=1), [good, broken])
    loaded = await store.load_judge_state("r", rid)
    assert loaded is not None and (loaded.state, loaded.version) == ("shadow", 1)
    assert await store.read_audit("r") == []
    assert await store.state_version() == v


async def test_rollout_states_follow_the_current_rollout(store: Store) -> None:
    old = await store.start_rollout("r", "c1", "d", now=1.0)
    await store.commit_decision("r", old, JudgeState("rolled_back"), [])
    assert [s.state for s in await store.read_rollout_states()] == ["rolled_back"]
    new = await store.start_rollout("r", "c2", "d", now=2.0)
    assert await store.read_rollout_states() == []
    await store.commit_decision("r", new, JudgeState("shadow"), [])
    assert [(s.rollout_id, s.state) for s in await store.read_rollout_states()] == [(new, "shadow")]


async def test_monitor_snapshots_replace_per_route_and_owner_and_age_out(
    make_store: MakeStore,
) -> None:
    """One snapshot per (route, owner), the newest; big integers (a generator's state) and
    floats come back exactly; a snapshot not saved for MONITOR_MAX_AGE is pruned."""
    store = await make_store()
    state = {"rng": {"state": 2**127 + 12345, "inc": 3}, "x": [0.1, 1e-300, 2.5], "ts": [None]}
    assert await store.load_monitor("r", "host/0") is None
    await store.save_monitor("r", "host/0", MonitorSnapshot("d1", state, 10.0))
    await store.save_monitor("r", "host/1", MonitorSnapshot("d1", {"other": 1}, 11.0))
    await store.save_monitor("r", "host/0", MonitorSnapshot("d2", {**state, "x": [7.0]}, 12.0))
    got = await store.load_monitor("r", "host/0")
    assert got == MonitorSnapshot("d2", {**state, "x": [7.0]}, 12.0)
    assert got.state["rng"]["state"] == 2**127 + 12345
    assert (await store.load_monitor("r", "host/1")) == MonitorSnapshot("d1", {"other": 1}, 11.0)
    assert await store.load_monitor("other", "host/0") is None
    await store.save_monitor("r", "host/1", MonitorSnapshot("d1", state, 12.0 + MONITOR_MAX_AGE))
    await store.prune(now=12.5 + MONITOR_MAX_AGE)  # host/0 last saved at 12.0: gone
    assert await store.load_monitor("r", "host/0") is None
    assert (await store.load_monitor("r", "host/1")) is not None


async def test_closed_store_raises_store_error(make_store: MakeStore) -> None:
    s = await make_store()
    await s.close()
    with pytest.raises(StoreError, match="not open"):
        await s.read_outcomes("r")
