"""Triton's binary tensor data extension decodes to the JSON form, or says what is wrong."""

from __future__ import annotations

import json
import struct
from typing import Any

import numpy as np
import pytest

from shadowgate.compare.binary import decode_binary
from shadowgate.compare.protocols import CompareError


def body(tensors: list[tuple[dict[str, Any], bytes]], key: str = "outputs") -> bytes:
    header = []
    raw = b""
    for t, data in tensors:
        header.append({**t, "parameters": {"binary_data_size": len(data)}})
        raw += data
    return json.dumps({"model_name": "m", key: header}).encode() + raw


def test_fixed_size_types_bool_and_bytes() -> None:
    probs = np.array([[0.25, 0.75], [0.5, 0.5]], dtype="<f4")
    labels = np.array([1, 0], dtype="<i8")
    names = b"".join(struct.pack("<I", len(s)) + s for s in (b"yes", "né".encode()))
    doc = decode_binary(
        body(
            [
                ({"name": "p", "shape": [2, 2], "datatype": "FP32"}, probs.tobytes()),
                ({"name": "l", "shape": [2], "datatype": "INT64"}, labels.tobytes()),
                ({"name": "b", "shape": [2], "datatype": "BOOL"}, b"\x01\x00"),
                ({"name": "s", "shape": [2], "datatype": "BYTES"}, names),
            ]
        )
    )
    assert doc is not None
    data = [o["data"] for o in doc["outputs"]]
    assert data == [[0.25, 0.75, 0.5, 0.5], [1, 0], [True, False], ["yes", "né"]]


def test_bf16_and_inputs_of_a_request() -> None:
    halves = (np.array([1.5, -2.0], dtype="<f4").view("<u4") >> 16).astype("<u2")
    doc = decode_binary(body([({"name": "x", "shape": [1, 2], "datatype": "BF16"},
                                halves.tobytes())], key="inputs"))  # fmt: skip
    assert doc is not None and doc["inputs"][0]["data"] == [1.5, -2.0]


def test_json_tensors_beside_binary_ones_keep_their_data() -> None:
    plain = {"name": "j", "shape": [1], "datatype": "FP64", "data": [0.5]}
    doc = json.dumps({"outputs": [plain, {"name": "b", "shape": [1], "datatype": "FP64",
                      "parameters": {"binary_data_size": 8}}]}).encode()  # fmt: skip
    got = decode_binary(doc + struct.pack("<d", 0.25))
    assert got is not None and [o["data"] for o in got["outputs"]] == [[0.5], [0.25]]


@pytest.mark.parametrize(
    "raw",
    [b'{"outputs": []}', b"not json", b'{"outputs": [{"name": "o"}]} trailing', b""],
)
def test_bodies_that_are_not_binary_extension_bodies(raw: bytes) -> None:
    assert decode_binary(raw) is None


@pytest.mark.parametrize(
    ("tensor", "data", "says"),
    [
        ({"shape": [3], "datatype": "FP32"}, b"\x00" * 8, "2 values in binary data but shape"),
        ({"shape": [1], "datatype": "FP32"}, b"\x00" * 5, "no whole number of FP32"),
        ({"shape": [1], "datatype": "COMPLEX"}, b"\x00" * 4, "unknown datatype"),
        ({"shape": [1], "datatype": "BYTES"}, b"\x09\x00\x00\x00ab", "overruns"),
    ],
)
def test_broken_binary_data_is_a_located_error(
    tensor: dict[str, Any], data: bytes, says: str
) -> None:
    with pytest.raises(CompareError, match=says):
        decode_binary(body([({"name": "o", **tensor}, data)]))


def test_sizes_must_add_up_to_the_bytes_after_the_header() -> None:
    raw = body([({"name": "o", "shape": [1], "datatype": "FP32"}, b"\x00" * 4)]) + b"xx"
    with pytest.raises(CompareError, match="6 bytes but the tensors declare 4"):
        decode_binary(raw)
