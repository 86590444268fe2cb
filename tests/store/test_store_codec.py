"""The row codec both backends share: lossless for JSON-able records, future fields kept."""

from __future__ import annotations

import asyncio
import dataclasses
import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shadowgate.model.outcome import OutcomeRecord
from shadowgate.store import codec

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**53), 2**53),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=8),
)
opt_float = st.none() | st.floats(0, 100, allow_nan=False)
records = st.builds(
    OutcomeRecord,
    route=st.text(min_size=1, max_size=10),
    rollout_id=st.text(max_size=10),
    request_id=st.text(max_size=20),
    ts=st.floats(0, 2e9, allow_nan=False),
    kind=st.sampled_from(["shadow", "canary", "noise"]),
    variant=st.sampled_from(["production", "candidate"]),
    prod_status=st.none() | st.integers(100, 599),
    prod_latency=opt_float,
    cand_error=st.none() | st.sampled_from(["timeout", "5xx"]),
    rows=st.integers(0, 1000),
    agree=st.none() | st.lists(st.booleans(), max_size=5),
    prod_pred=st.none() | st.lists(scalars, max_size=5),
    cand_pred=st.none() | st.lists(st.lists(scalars, max_size=3), max_size=3),
    segment=st.none() | st.text(max_size=5),
    request_body=st.none() | st.binary(max_size=20),
    extra=st.dictionaries(st.text(max_size=5), scalars, max_size=3),
)


@given(records)
def test_round_trip(rec: OutcomeRecord) -> None:
    row = codec.to_row(rec)
    assert len(row) == len(codec.COLUMNS)
    assert codec.from_row(row) == rec


def test_fields_added_later_are_kept_in_more() -> None:
    Newer = dataclasses.make_dataclass(
        "Newer", [("model_version", str, dataclasses.field(default="v2"))], bases=(OutcomeRecord,)
    )
    rec = Newer("r", "r-1", "q", 1.0, "shadow", "production")
    row = dict(zip(codec.COLUMNS, codec.to_row(rec), strict=True))
    assert json.loads(row["more"]) == {"model_version": "v2"}
    assert codec.from_row(tuple(row.values())).request_id == "q"  # today's shape still loads


def test_non_finite_floats_become_null() -> None:
    assert codec.dumps([1.0, float("nan"), {"x": float("inf")}]) == '[1.0,null,{"x":null}]'


async def test_sliced_matches_a_list_comprehension_and_lets_the_loop_run(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    ticks = 0
    done = False

    async def other_work() -> None:
        nonlocal ticks
        while not done:
            ticks += 1
            await asyncio.sleep(0)

    monkeypatch.setattr(codec, "SLICE_SECONDS", 0.0)  # yield after every item
    task = asyncio.create_task(other_work())
    await asyncio.sleep(0)
    before = ticks
    out = await codec.sliced(lambda x: x * 2, list(range(50)))
    done = True
    await task
    assert out == [x * 2 for x in range(50)]
    assert ticks - before >= 40  # the loop ran other work between the items


async def test_sliced_keeps_short_batches_in_one_piece() -> None:
    ticks = 0

    def count(x: int) -> int:
        return x + 1

    async def other_work() -> None:
        nonlocal ticks
        ticks += 1

    task = asyncio.create_task(other_work())
    out = await codec.sliced(count, list(range(100)))
    assert out == list(range(1, 101))
    assert ticks == 0  # a hundred cheap items take far less than a slice: no yield
    await task


json_values = st.recursive(
    scalars | st.floats(),  # NaN and infinities too
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=4), inner),
    max_leaves=12,
)


def _stdlib_dumps(value: object) -> str:
    """What ``dumps`` has always returned: the stdlib encoder, non-finite floats as null."""
    try:
        return json.dumps(value, sort_keys=True, separators=(",", ":"), allow_nan=False)
    except ValueError:
        return json.dumps(codec._finite(value), sort_keys=True, separators=(",", ":"))


@given(json_values)
def test_dumps_is_the_stdlib_encoding(value: object) -> None:
    assert codec.dumps(value) == _stdlib_dumps(value)


def test_dumps_falls_back_to_str_for_other_types() -> None:
    assert codec.dumps({"b": b"x", "a": (1, 2)}) == '{"a":[1,2],"b":"b\'x\'"}'
    assert codec.dumps("é\n") == json.dumps("é\n")


@given(json_values, st.sampled_from(["", " ", "\n "]))
def test_loads_is_json_loads(value: object, space: str) -> None:
    for text in (codec.dumps(value), json.dumps(value), f"{space}{json.dumps(value)}{space}"):
        assert repr(codec.loads(text)) == repr(json.loads(text))  # repr: NaN != NaN
    as_bytes = json.dumps(value).encode()
    assert repr(codec.loads(as_bytes)) == repr(json.loads(as_bytes))


@pytest.mark.parametrize("text", ["", " ", "[1] x", "[1,", "nul", "\ufeff[1]", "[1]]"])
def test_loads_rejects_what_json_loads_rejects(text: str) -> None:
    with pytest.raises(json.JSONDecodeError) as expected:
        json.loads(text)
    with pytest.raises(json.JSONDecodeError) as got:
        codec.loads(text)
    assert str(got.value) == str(expected.value)


def test_select_list_keeps_every_column_in_place() -> None:
    full = codec.select_list(None).split(", ")
    assert full == [f'o."{c}"' for c in codec.COLUMNS]
    lean = codec.select_list(["agree"], alias="x").split(", ")
    assert codec.select_list(["agree"]).split(", ")[0] == 'o."route"'  # each alias its own
    assert len(lean) == len(codec.COLUMNS)
    read = {c for c, sql in zip(codec.COLUMNS, lean, strict=True) if sql == f'x."{c}"'}
    assert read == {*codec.ALWAYS_READ, "agree"}
    assert lean[codec.COLUMNS.index("rows")] == "0"  # its default, like every left-out column
    with pytest.raises(ValueError, match="bogus"):
        codec.select_list(["agree", "bogus"])


def test_a_field_without_a_column_of_its_own_is_read_from_more(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # as if OutcomeRecord had gained a field after the codec was written (see to_row)
    monkeypatch.setattr(codec, "_NAMES", codec._NAMES | {"model_version"})
    monkeypatch.setattr(codec, "_SELECT_LISTS", {})
    lean = codec.select_list(["model_version"]).split(", ")
    assert lean[-1] == 'o."more"'
    assert "more" not in codec.select_list(["agree"])
