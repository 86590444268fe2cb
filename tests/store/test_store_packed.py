"""Compact predictions: exact round trips, binary for arrays, and older JSON rows still read."""

from __future__ import annotations

import contextlib
import sqlite3
from typing import Any

import asyncpg
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from pghelpers import PG_URL
from shadowgate.model.outcome import FloatRows, OutcomeRecord
from shadowgate.store import codec, open_store, packed, sqlite_path
from shadowgate.store.schema import migrations
from shadowgate.store.sql import POSTGRES, SQLITE

ints = st.integers(-(2**64), 2**64)  # beyond int64 too: those stay JSON
floats = st.floats(allow_nan=False, allow_infinity=False)
labels = st.one_of(st.booleans(), ints, floats, st.text(max_size=6), st.none())


def _vectors(elements: st.SearchStrategy[Any]) -> st.SearchStrategy[list[list[Any]]]:
    """Rectangular lists of lists (probability vectors), and ragged ones."""
    rect = st.integers(1, 4).flatmap(
        lambda w: st.lists(st.lists(elements, min_size=w, max_size=w), max_size=5)
    )
    return rect | st.lists(st.lists(elements, max_size=3), max_size=4)


predictions = st.one_of(
    st.none(),
    st.lists(st.booleans(), max_size=40),
    st.lists(ints, max_size=10),
    st.lists(floats, max_size=10),
    st.lists(st.text(max_size=6), max_size=5),
    st.lists(labels, max_size=8),  # mixed types, None among them
    _vectors(floats),
    _vectors(ints),
    _vectors(labels),
    st.lists(_vectors(floats), max_size=2),  # deeper nesting
)


def same(a: Any, b: Any) -> bool:
    """Equal and of the same types all the way down (``1 == 1.0 == True`` does not count)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    return bool(a == b)


def round_trip(value: Any) -> Any:
    return packed.unpack(packed.pack(value, codec.dumps), codec.loads)


@given(predictions)
def test_every_prediction_value_round_trips_exactly(value: Any) -> None:
    assert same(round_trip(value), value)


@given(
    st.builds(
        OutcomeRecord,
        route=st.just("r"),
        rollout_id=st.just("r-1"),
        request_id=st.text(max_size=8),
        ts=floats,
        kind=st.sampled_from(["shadow", "canary", "noise"]),
        variant=st.sampled_from(["production", "candidate"]),
        agree=st.none() | st.lists(st.booleans(), max_size=40),
        prod_pred=predictions,
        cand_pred=predictions,
        prob_gap=st.none() | st.lists(floats, max_size=40),
    )
)
def test_records_round_trip_through_the_row_codec(rec: OutcomeRecord) -> None:
    back = codec.from_row(codec.to_row(rec))
    for name in codec.PACKED:
        assert same(getattr(back, name), getattr(rec, name)), name
    assert back == rec


def test_numeric_arrays_are_binary_and_compact() -> None:
    # what a model answers: full FP64 mantissas, 17 digits each in JSON
    probs = [[p, 1 - p] for p in ((i * 0.6180339887498949) % 1 for i in range(32))]
    data = packed.pack(probs, codec.dumps)
    assert data is not None and data[0] == packed.MAGIC
    assert len(data) == 3 + 2 * 4 + 32 * 2 * 8  # header, shape, the FP64 values
    assert len(data) < len(codec.dumps(probs)) / 2
    agree = packed.pack([True, False] * 16, codec.dumps)
    assert agree is not None and len(agree) == 3 + 4 + 32  # a byte per bool
    assert same(packed.unpack(data, codec.loads), probs)


@pytest.mark.parametrize(
    ("values", "size"),
    [([0, 1, -128, 127], 1), ([0, 128], 2), ([-(2**31), 7], 4), ([2**40, 0], 8)],
)
def test_integers_take_the_narrowest_type_that_holds_them(values: list[int], size: int) -> None:
    values = values * 4  # long enough to be packed
    data = packed.pack(values, codec.dumps)
    assert data is not None and len(data) == 3 + 4 + size * len(values)
    assert same(packed.unpack(data, codec.loads), values)


def test_what_is_not_a_numeric_array_is_stored_as_its_json_text() -> None:
    long = packed.MIN_PACKED
    for value in (["cat"] * long, [1, None] * long, [[1.0], [2.0, 3.0]], [], [2**63] * long):
        assert packed.pack(value, codec.dumps) == codec.dumps(value).encode()
    # non-finite floats stay what they always were: JSON null
    nan = [1.0, float("nan")] * long
    assert packed.pack(nan, codec.dumps) == codec.dumps([1.0, None] * long).encode()
    assert round_trip([float("inf"), 0.5] * long) == [None, 0.5] * long


def test_short_flat_lists_stay_json_text() -> None:
    short = [True, False, True, True]
    assert packed.pack(short, codec.dumps) == b"[true,false,true,true]"
    assert packed.pack([0.5] * packed.MIN_PACKED, codec.dumps)[0] == packed.MAGIC  # type: ignore[index]
    assert packed.pack([[0.5, 0.5]], codec.dumps)[0] == packed.MAGIC  # type: ignore[index]


def test_numpy_arrays_are_packed_as_they_are() -> None:
    arr = np.array([[0.25, 0.75], [0.5, 0.5]], dtype=np.float32)
    data = packed.pack(arr, codec.dumps)
    assert data is not None and data[0] == packed.MAGIC
    assert same(packed.unpack(data, codec.loads), [[0.25, 0.75], [0.5, 0.5]])
    assert same(round_trip(np.arange(10, dtype=np.int32)), list(range(10)))
    assert packed.pack(np.arange(10), codec.dumps)[0] == packed.MAGIC  # type: ignore[index]
    assert round_trip(np.array([np.nan] * 10)) == [None] * 10


any_floats = st.floats(allow_nan=True, allow_infinity=True)


@given(
    st.integers(1, 4).flatmap(
        lambda w: st.tuples(st.just(w), st.lists(any_floats, min_size=w, max_size=w * 6))
    )
)
def test_rows_split_from_a_tensor_pack_to_the_bytes_of_their_list(
    case: tuple[int, list[float]],
) -> None:
    width, flat = case
    flat = flat[: len(flat) - len(flat) % width]
    rows = FloatRows(flat, width)
    plain = [flat[i : i + width] for i in range(0, len(flat), width)]
    assert rows == plain
    assert packed.pack(rows, codec.dumps) == packed.pack(plain, codec.dumps)
    assert same(round_trip(rows), round_trip(plain))


def test_rows_split_from_a_tensor_are_packed_from_their_array(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def per_element(value: Any) -> Any:
        raise AssertionError("the rows went through the per-element path")

    monkeypatch.setattr(packed, "_flat", per_element)
    flat = [(i * 0.6180339887498949) % 1 for i in range(64)]
    data = packed.pack(FloatRows(flat, 2), codec.dumps)
    assert data is not None and data[0] == packed.MAGIC
    assert same(packed.unpack(data, codec.loads), [flat[i : i + 2] for i in range(0, 64, 2)])
    with pytest.raises(ValueError):  # the array is the rows' own: read-only
        FloatRows(flat, 2).matrix[0, 0] = 1.0


def test_older_json_text_still_reads() -> None:
    for value in ([True, False], [[0.2, 0.8]], ["a"], [1, 2]):
        text = codec.dumps(value)
        assert same(packed.unpack(text, codec.loads), value)  # SQLite: a TEXT value
        assert same(packed.unpack(text.encode(), codec.loads), value)  # PostgreSQL: BYTEA


def test_corrupt_packed_values_are_errors() -> None:
    with pytest.raises(ValueError, match="type code"):
        packed.unpack(b"\x00x\x01\x01\x00\x00\x00\x00", codec.loads)
    with pytest.raises(ValueError, match="holds 1 elements"):
        packed.unpack(b"\x00b\x01\x02\x00\x00\x00\x05", codec.loads)
    with pytest.raises(ValueError, match="dimensions"):
        packed.unpack(b"\x00b\x03", codec.loads)


# -- databases written before predictions were packed ----------------------------------

OLD = [
    ("old-labels", [True, False, True], [0, 1, 1], [0, 1, 0], [0.0, 0.1, 0.5]),
    ("old-probs", [True], [[0.2, 0.8]], [[0.3, 0.7]], [0.1]),
    ("old-strings", [False], ["cat"], ["dog"], None),
]
_OLD_INSERT = (
    'INSERT INTO outcomes (route, rollout_id, request_id, ts, kind, variant, "rows", '
    "agree, prod_pred, cand_pred, prob_gap) VALUES ($1, 'r-1', $2, 1.0, 'shadow', "
    "'production', 1, $3, $4, $5, $6)"
)


def _old_rows() -> list[tuple[Any, ...]]:
    return [("r", rid, *(None if v is None else codec.dumps(v) for v in vs)) for rid, *vs in OLD]


def _sqlite_v1(path: str) -> None:
    with contextlib.closing(sqlite3.connect(path, isolation_level=None)) as db:
        db.execute("CREATE TABLE schema_version (version INTEGER NOT NULL)")
        for stmt in migrations(SQLITE)[0]:
            db.execute(stmt)
        db.execute("INSERT INTO schema_version VALUES (1)")
        db.executemany(SQLITE(_OLD_INSERT), _old_rows())


async def _postgres_v1(url: str, schema: str) -> None:
    conn = await asyncpg.connect(PG_URL)
    try:
        await conn.execute(f'CREATE SCHEMA "{schema}"')
        await conn.execute(f'SET search_path TO "{schema}"')
        await conn.execute("CREATE TABLE schema_version (version INTEGER)")
        for stmt in migrations(POSTGRES)[0]:
            await conn.execute(stmt)
        await conn.execute("INSERT INTO schema_version VALUES (1)")
        await conn.executemany(_OLD_INSERT, _old_rows())
    finally:
        await conn.close()


async def test_rows_written_as_json_read_back_after_the_migration(store_url: str) -> None:
    if store_url.startswith("sqlite:"):
        _sqlite_v1(sqlite_path(store_url))
    else:
        await _postgres_v1(store_url, store_url.rsplit("schema=", 1)[1])
    store = open_store(store_url)
    await store.open()
    try:
        assert await store.schema_version() == len(migrations(SQLITE))
        new = OutcomeRecord("r", "r-1", "new", 2.0, "shadow", "production", rows=1)
        new.agree, new.prod_pred, new.cand_pred = [True], [[0.6, 0.4]], [[0.5, 0.5]]
        await store.insert_outcomes([new])
        got = {o.record.request_id: o.record for o in await store.read_outcomes("r")}
        for rid, *values in OLD:
            for name, value in zip(codec.PACKED, values, strict=True):
                assert same(getattr(got[rid], name), value), (rid, name)
        assert got["new"] == new
    finally:
        await store.close()
