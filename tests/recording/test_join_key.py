"""Reading the join key from a body: what is taken, what is refused, what is not parsed."""

from __future__ import annotations

import json

import pytest

from shadowgate.config.join import RequestIdConfig
from shadowgate.recording import join_key
from shadowgate.recording.join_key import body_key


@pytest.mark.parametrize(
    ("body", "path", "key", "refused"),
    [
        ({"id": "a-1", "inputs": []}, "id", "a-1", None),
        ({"id": 12}, "id", "12", None),
        ({"id": ""}, "id", None, None),  # tritonclient's default: no id
        ({"inputs": []}, "id", None, None),
        ({"id": True}, "id", None, "found a bool"),
        ({"id": [1]}, "id", None, "found a list"),
        ({"id": "x" * 201}, "id", None, "201 characters"),
        ({"meta": {"trace": "t"}}, "meta.trace", "t", None),
        ({"rows": [{"k": "first"}]}, "rows[0].k", "first", None),
    ],
)
def test_body_key(body: object, path: str, key: str | None, refused: str | None) -> None:
    got, why = body_key(json.dumps(body).encode(), path)
    assert got == key
    assert (why is None) if refused is None else (why is not None and refused in why)


def test_bodies_that_cannot_hold_the_key_are_not_parsed(monkeypatch: pytest.MonkeyPatch) -> None:
    def no(*_: object) -> object:
        raise AssertionError("parsed")

    monkeypatch.setattr(join_key.json, "loads", no)
    monkeypatch.setattr(join_key, "loads", no)
    assert body_key(b'{"inputs": [{"name": "x"}]}', "id") == (None, None)
    assert body_key(b"\x00\x01binary tensor bytes", "id") == (None, None)


def test_not_json_keeps_the_header_id() -> None:
    assert body_key(b'{"id": "x", broken', "id") == (None, None)


def test_defaults_per_protocol_and_explicit_null() -> None:
    assert RequestIdConfig().body_path("open-inference-v2") == "id"
    assert RequestIdConfig().body_path("json") is None
    assert RequestIdConfig(body=None).body_path("open-inference-v2") is None
    assert RequestIdConfig(body="meta.id").body_path("json") == "meta.id"


def test_config_errors_say_what_to_do() -> None:
    with pytest.raises(ValueError, match="X-Request-Id header only"):
        RequestIdConfig(header="X-Correlation-Id")
    with pytest.raises(ValueError, match="invalid JMESPath"):
        RequestIdConfig(body="a[")


def test_the_json_header_of_tritons_binary_tensors() -> None:
    header = json.dumps(
        {
            "id": "b-7",
            "inputs": [
                {
                    "name": "x",
                    "shape": [1, 2],
                    "datatype": "FP32",
                    "parameters": {"binary_data_size": 8},
                }
            ],
        }
    ).encode()
    assert body_key(header + b"\x00\x00\x80?\xff\xfe\x00@", "id") == ("b-7", None)
