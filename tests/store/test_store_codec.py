"""The row codec both backends share: lossless for JSON-able records, future fields kept."""

from __future__ import annotations

import dataclasses
import json

from hypothesis import given
from hypothesis import strategies as st

from shadowgate.store import codec
from shadowgate.store.records import OutcomeRecord

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
