"""Schema parsing, every violation reason with its location, JSON Schema, schema diff."""

from __future__ import annotations

import math
from typing import Any

import pytest

from shadowgate.inputs import REASONS, ModelSchema, check_request, diff_schemas
from shadowgate.inputs.jsonschema_check import JsonSchemaCheck, is_oip_metadata

META = {
    "name": "cancer",
    "inputs": [
        {"name": "x", "datatype": "FP32", "shape": [-1, 3]},
        {"name": "k", "datatype": "INT8", "shape": [-1]},
    ],
}
SCHEMA = ModelSchema.from_metadata(META)


def req(x: Any = None, k: Any = None, **over: Any) -> dict[str, Any]:
    xs = {"name": "x", "datatype": "FP32", "shape": [2, 3], "data": x or [1, 2, 3, 4, 5, 6]}
    ks = {"name": "k", "datatype": "INT8", "shape": [2], "data": k or [1, 2]}
    xs.update(over)
    return {"inputs": [xs, ks]}


def reasons(body: Any) -> list[tuple[str, str | None, int | None]]:
    found, _ = check_request(SCHEMA, body)
    return [(v.reason, v.input, v.index) for v in found]


def test_clean_request_has_no_violation_and_returns_arrays() -> None:
    found, arrays = check_request(SCHEMA, req())
    assert found == []
    assert arrays["x"].shape == (2, 3) and arrays["k"].tolist() == [1, 2]


def test_nested_data_is_accepted() -> None:
    assert reasons(req(x=[[1, 2, 3], [4, 5, 6]])) == []


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("nope", [("malformed", None, None)]),
        (
            {"inputs": [{"shape": [1]}]},
            [("malformed", None, None), ("missing_input", "x", None), ("missing_input", "k", None)],
        ),
        (
            {"inputs": [*req()["inputs"], {"name": "z", "datatype": "FP32", "shape": [1]}]},
            [("unknown_input", "z", None)],
        ),
        ({"inputs": req()["inputs"][:1]}, [("missing_input", "k", None)]),
        (req(datatype="FP64"), [("datatype", "x", None)]),
        (req(shape=[2, 4]), [("shape", "x", None)]),
        (req(shape=[6]), [("shape", "x", None)]),
        (req(x=[1, 2, 3, 4, 5]), [("shape", "x", None)]),
        (req(x=[[1, 2, 3], [4, 5]]), [("shape", "x", None)]),
        (req(x=[1, 2, math.nan, 4, 5, 6]), [("nan", "x", 2)]),
        (req(x=[1, 2, 3, 4, math.inf, 6]), [("nan", "x", 4)]),
        (req(x=[1, 2, 3, None, 5, 6]), [("null", "x", 3)]),
        (req(x=[1, "a", 3, 4, 5, 6]), [("out_of_type", "x", 1)]),
        (req(x=["1", "2", "3", "4", "5", "6"]), [("out_of_type", "x", 0)]),
        (req(x=[True, False, True, True, False, True]), [("out_of_type", "x", 0)]),
        (req(k=[1, 300]), [("out_of_type", "k", 1)]),
        (req(k=[1, 2.5]), [("out_of_type", "k", 1)]),
    ],
)
def test_each_reason_is_located(body: Any, expected: list[Any]) -> None:
    assert reasons(body) == expected


def test_row_count_disagreement() -> None:
    body = req()
    body["inputs"][1].update(shape=[3], data=[1, 2, 3])
    assert reasons(body) == [("row_count", None, None)]


def test_every_reason_code_is_declared() -> None:
    assert len(set(REASONS)) == len(REASONS)
    assert {"unknown_input", "missing_input", "datatype", "shape", "nan", "null"} <= set(REASONS)


def test_violation_message_says_where_and_what() -> None:
    found, _ = check_request(SCHEMA, req(x=[1, 2, 3, None, 5, 6]))
    assert str(found[0]) == "input 'x' value 3: null where FP32 is expected"


@pytest.mark.parametrize(
    ("meta", "needle"),
    [
        ({}, "'inputs' list"),
        ({"inputs": [{"name": "x", "datatype": "FP33", "shape": [1]}]}, "inputs[0].datatype"),
        ({"inputs": [{"name": "x", "datatype": "FP32", "shape": [-2]}]}, "inputs[0].shape"),
        ({"inputs": [{"datatype": "FP32", "shape": [1]}]}, "inputs[0].name"),
        (
            {"inputs": [{"name": "x", "datatype": "FP32", "shape": [1]}] * 2},
            "repeated: x",
        ),
    ],
)
def test_bad_metadata_is_located(meta: Any, needle: str) -> None:
    with pytest.raises(ValueError, match=None) as e:
        ModelSchema.from_metadata(meta, "prod")
    assert needle in str(e.value) and str(e.value).startswith("prod:")


def test_diff_reports_only_real_differences() -> None:
    cand = ModelSchema.from_metadata(
        {
            "inputs": [
                {"name": "x", "datatype": "FP64", "shape": [-1, 4]},
                {"name": "extra", "datatype": "BYTES", "shape": [-1]},
            ]
        }
    )
    same = ModelSchema.from_metadata(
        {
            "inputs": [
                {"name": "x", "datatype": "FP32", "shape": [2, 3]},
                {"name": "k", "datatype": "INT8", "shape": [-1]},
            ]
        }
    )
    assert diff_schemas(SCHEMA, same) == []
    text = [str(d) for d in diff_schemas(SCHEMA, cand)]
    assert text == [
        "input 'x' datatype: production FP32, candidate FP64",
        "input 'x' shape: production [-1, 3], candidate [-1, 4]",
        "input 'k' only in production",
        "input 'extra' only in candidate",
    ]


def test_json_schema_reasons_and_paths() -> None:
    js = {
        "type": "object",
        "required": ["instances"],
        "additionalProperties": False,
        "properties": {
            "instances": {"type": "array", "items": {"type": "array", "items": {"type": "number"}}}
        },
    }
    check = JsonSchemaCheck(js)
    assert check.check({"instances": [[1, 2]]}) == []
    got = {(v.reason, v.input) for v in check.check({"instances": [[1, None], [2, "a"]], "x": 1})}
    assert got == {
        ("null", "$.instances[0][1]"),
        ("out_of_type", "$.instances[1][1]"),
        ("unknown_input", "$"),
    }
    assert [v.reason for v in check.check({})] == ["missing_input"]
    with pytest.raises(ValueError, match="not a valid JSON Schema"):
        JsonSchemaCheck({"type": 5})
    assert is_oip_metadata(META) and not is_oip_metadata(js)
