"""Protocol adapters: row counts of requests and per-row predictions of responses."""

from __future__ import annotations

import json
import math
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shadowgate.compare.protocols import (
    InvalidRequest,
    InvalidResponse,
    decode_json,
    predictions,
    request_rows,
    split_tensor,
)
from shadowgate.config.model import PredictionConfig

CFG = PredictionConfig()


def oip(outputs: list[dict[str, Any]]) -> dict[str, Any]:
    return {"model_name": "m", "id": "abc", "outputs": outputs}


# ------------------------------------------------------------------------ open inference v2


def test_oip_1d_output_gives_one_scalar_per_row() -> None:
    body = oip([{"name": "predict", "shape": [3], "datatype": "INT64", "data": [0, 1, 1]}])
    assert predictions("open-inference-v2", body, CFG) == [0, 1, 1]


def test_oip_column_vector_is_squeezed_to_scalars() -> None:
    # MLServer's sklearn runtime answers predict() with shape [N, 1]
    body = oip([{"name": "predict", "shape": [2, 1], "datatype": "INT64", "data": [1, 0]}])
    assert predictions("open-inference-v2", body, CFG) == [1, 0]


def test_oip_2d_probabilities_split_by_row_flat_or_nested() -> None:
    flat = oip([{"name": "p", "shape": [2, 3], "datatype": "FP32", "data": [0.1, 0.2, 0.7] * 2}])
    nested = oip(
        [{"name": "p", "shape": [2, 3], "datatype": "FP32", "data": [[0.1, 0.2, 0.7]] * 2}]
    )
    expected = [[0.1, 0.2, 0.7], [0.1, 0.2, 0.7]]
    assert predictions("open-inference-v2", flat, CFG) == expected
    assert predictions("open-inference-v2", nested, CFG) == expected


def test_oip_bytes_output_keeps_strings_whole() -> None:
    body = oip([{"name": "label", "shape": [2], "datatype": "BYTES", "data": ["cat", "dog"]}])
    assert predictions("open-inference-v2", body, CFG) == ["cat", "dog"]
    body2 = oip([{"name": "label", "shape": [2, 1], "datatype": "BYTES", "data": [["a"], ["b"]]}])
    assert predictions("open-inference-v2", body2, CFG) == ["a", "b"]


def test_oip_scalar_tensor_is_one_row() -> None:
    assert split_tensor({"name": "s", "shape": [], "datatype": "FP64", "data": [2.5]}) == [2.5]


def test_oip_3d_output_keeps_inner_structure() -> None:
    t = {"name": "x", "shape": [2, 2, 2], "datatype": "INT32", "data": list(range(8))}
    assert split_tensor(t) == [[[0, 1], [2, 3]], [[4, 5], [6, 7]]]


def test_oip_named_output_is_chosen() -> None:
    body = oip(
        [
            {"name": "predict", "shape": [2], "datatype": "INT64", "data": [0, 1]},
            {"name": "predict_proba", "shape": [2, 2], "datatype": "FP64", "data": [1, 0, 0, 1]},
        ]
    )
    cfg = PredictionConfig(output="predict_proba")
    assert predictions("open-inference-v2", body, cfg) == [[1, 0], [0, 1]]
    with pytest.raises(InvalidResponse, match="no output named 'nope'"):
        predictions("open-inference-v2", body, PredictionConfig(output="nope"))


def test_oip_several_outputs_without_choice_compare_the_first() -> None:
    body = oip(
        [
            {"name": "a", "shape": [2], "datatype": "INT64", "data": [0, 1]},
            {"name": "b", "shape": [2], "datatype": "BYTES", "data": ["x", "y"]},
        ]
    )
    assert predictions("open-inference-v2", body, CFG) == [0, 1]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"model_name": "m"}, "needs 'outputs'"),
        (oip([{"name": "p", "shape": [3], "data": [1, 2]}]), "has 2 values but shape"),
        (oip([{"name": "p", "shape": "3", "data": [1, 2, 3]}]), "shape must be a list"),
        (oip([{"name": "p", "shape": [-1], "data": []}]), "non-negative"),
        (oip([{"name": "p", "shape": [1]}]), "has no 'data'"),
        (oip(["not a tensor"]), "must be an object"),
        ([1, 2], "needs 'outputs'"),
    ],
)
def test_oip_invalid_responses_say_what_is_wrong(body: Any, message: str) -> None:
    with pytest.raises(InvalidResponse, match=message):
        predictions("open-inference-v2", body, CFG)


def test_oip_request_rows_from_first_input_shape() -> None:
    req = {"inputs": [{"name": "x", "shape": [4, 30], "datatype": "FP64", "data": [0.0] * 120}]}
    assert request_rows("open-inference-v2", req) == 4
    assert request_rows("open-inference-v2", {"inputs": [{"name": "x", "shape": []}]}) == 1
    with pytest.raises(InvalidRequest):
        request_rows("open-inference-v2", {"instances": [1]})


@given(
    rows=st.integers(0, 6),
    inner=st.lists(st.integers(1, 4), max_size=2),
    nested=st.booleans(),
)
def test_oip_split_yields_shape0_rows_and_roundtrips(
    rows: int, inner: list[int], nested: bool
) -> None:
    shape = [rows, *inner]
    flat = [float(i) for i in range(math.prod(shape))]
    data: Any = flat
    if nested and inner:
        step = math.prod(inner)
        data = [flat[i * step : (i + 1) * step] for i in range(rows)]
    out = split_tensor({"name": "t", "shape": shape, "datatype": "FP64", "data": data})
    assert len(out) == rows

    def flatten(x: Any) -> list[Any]:
        return [y for item in x for y in flatten(item)] if isinstance(x, list) else [x]

    assert flatten(out) == flat


# ----------------------------------------------------------------- tfserving / kserve-v1


@pytest.mark.parametrize("protocol", ["tfserving", "kserve-v1"])
def test_tf_row_and_columnar_formats(protocol: Any) -> None:
    assert request_rows(protocol, {"instances": [[1, 2], [3, 4], [5, 6]]}) == 3
    assert request_rows(protocol, {"signature_name": "s", "inputs": [[1], [2]]}) == 2
    assert request_rows(protocol, {"inputs": {"a": [1, 2], "b": [[1], [2]]}}) == 2
    with pytest.raises(InvalidRequest):
        request_rows(protocol, {"inputs": {"a": [1, 2], "b": [1]}})
    assert predictions(protocol, {"predictions": [[0.1, 0.9], [0.8, 0.2]]}, CFG) == [
        [0.1, 0.9],
        [0.8, 0.2],
    ]
    assert predictions(protocol, {"outputs": {"y": [1, 2], "z": ["a", "b"]}}, CFG) == [
        {"y": 1, "z": "a"},
        {"y": 2, "z": "b"},
    ]
    assert predictions(protocol, {"outputs": [3.5]}, CFG) == [3.5]


def test_tf_error_body_is_invalid() -> None:
    with pytest.raises(InvalidResponse, match="answered an error: bad input"):
        predictions("tfserving", {"error": "bad input"}, CFG)
    with pytest.raises(InvalidResponse, match="'predictions'"):
        predictions("kserve-v1", {"prediction": [1]}, CFG)


# ----------------------------------------------------------------------------------- mlflow


def test_mlflow_request_formats() -> None:
    split = {"dataframe_split": {"columns": ["a", "b"], "data": [[1, 2], [3, 4]]}}
    assert request_rows("mlflow", split) == 2
    assert request_rows("mlflow", {"dataframe_records": [{"a": 1}, {"a": 2}, {"a": 3}]}) == 3
    assert request_rows("mlflow", {"instances": [[1], [2]]}) == 2
    assert request_rows("mlflow", {"inputs": {"a": [1, 2, 3, 4]}}) == 4
    with pytest.raises(InvalidRequest, match="dataframe_split"):
        request_rows("mlflow", {"data": [[1]]})


def test_mlflow_responses() -> None:
    assert predictions("mlflow", {"predictions": [0, 1]}, CFG) == [0, 1]
    assert predictions("mlflow", [0, 1, 1], CFG) == [0, 1, 1]  # MLflow 1.x
    assert predictions("mlflow", {"predictions": {"p": [0.1, 0.2]}}, CFG) == [
        {"p": 0.1},
        {"p": 0.2},
    ]
    records = {"predictions": [{"label": 1, "score": 0.9}]}
    assert predictions("mlflow", records, CFG) == [{"label": 1, "score": 0.9}]
    with pytest.raises(InvalidResponse, match="answered an error"):
        predictions("mlflow", {"error_code": "BAD_REQUEST", "message": "x"}, CFG)


# -------------------------------------------------------------------------- json and paths


def test_json_with_path_and_without() -> None:
    body = {"result": {"scores": [0.1, 0.5]}, "id": 7}
    assert predictions("json", body, PredictionConfig(path="result.scores")) == [0.1, 0.5]
    assert predictions("json", body, PredictionConfig(path="result")) == [body["result"]]
    assert predictions("json", body, CFG) == [body]
    with pytest.raises(InvalidResponse, match="found nothing"):
        predictions("json", body, PredictionConfig(path="missing"))
    assert request_rows("json", body) is None


def test_path_overrides_protocol_and_keeps_oip_tensor_rows() -> None:
    body = oip([{"name": "p", "shape": [2, 2], "datatype": "FP64", "data": [0.2, 0.8, 0.6, 0.4]}])
    as_tensor = PredictionConfig(path="outputs[0]")
    assert predictions("open-inference-v2", body, as_tensor) == [[0.2, 0.8], [0.6, 0.4]]
    flat = PredictionConfig(path="outputs[0].data")
    assert predictions("open-inference-v2", body, flat) == [0.2, 0.8, 0.6, 0.4]


def test_decode_json() -> None:
    assert decode_json(b'{"a": 1}') == {"a": 1}
    with pytest.raises(InvalidResponse, match="not JSON"):
        decode_json(b"<html>oops</html>")
    with pytest.raises(InvalidResponse, match="empty"):
        decode_json(b"")
    with pytest.raises(InvalidRequest):
        decode_json(b"\xff\xfe", what="request")
    assert decode_json(json.dumps([1]).encode()) == [1]
