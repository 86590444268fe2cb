"""One decode per body on the recording path: the input checks, the outcome and the body join
key read the same decoded request and answers, and each reader still sees what it saw when
it decoded alone (errors included)."""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

import numpy as np
import orjson
import pytest

from shadowgate.config.model import ShadowgateConfig
from shadowgate.inputs import ModelSchema
from shadowgate.model.exchange import Exchange, Side
from shadowgate.model.outcome import OutcomeRecord
from shadowgate.recording.inputs_watch import InputWatch
from shadowgate.recording.recorder import Recorder

SCHEMA = ModelSchema.from_metadata(
    {"inputs": [{"name": "x", "datatype": "FP32", "shape": [-1, 3]}]}
)
CFG = ShadowgateConfig.model_validate(
    {
        "routes": [
            {
                "name": "m",
                "match": {"path_prefix": "/v2/models/m"},
                "production": {"url": "http://127.0.0.1:1"},
                "candidate": {"url": "http://127.0.0.1:2"},
                "protocol": "open-inference-v2",
                "validation": {"schema": "auto"},
                "drift": {"reference": 100, "every": 1},
                # the OIP default: labels join on the body's "id" (a third reader)
            }
        ]
    }
)


def exchange(i: int, request: bytes, answer: bytes) -> Exchange:
    side = Side(status=200, latency=0.003, body=answer)
    cand = Side(status=200, latency=0.003, body=bytes(answer))  # equal, not the same object
    return Exchange(
        "m", f"h{i}", 1000.0 + i, "shadow", "production", "POST", "/v2/models/m/infer",
        request, "application/json", None, side, cand,
    )  # fmt: skip


def request(i: int, rows: int = 4) -> bytes:
    x = np.random.default_rng(i).standard_normal((rows, 3)).round(3)
    doc = {
        "id": f"body-{i}",
        "inputs": [
            {"name": "x", "datatype": "FP32", "shape": [rows, 3], "data": x.ravel().tolist()}
        ],
    }
    return json.dumps(doc).encode()


def answer(rows: int = 4) -> bytes:
    out = {"name": "p", "datatype": "FP64", "shape": [rows, 2], "data": [0.25, 0.75] * rows}
    return json.dumps({"outputs": [out]}).encode()


def recorded(exchanges: list[Exchange]) -> tuple[list[OutcomeRecord], InputWatch]:
    watch = InputWatch()
    watch.configure(CFG)
    watch.set_schemas("m", SCHEMA, SCHEMA)
    out: list[OutcomeRecord] = []
    rec = Recorder(route_config=CFG.route, routing=lambda _: None, write=out.extend)
    rec.observers.append(watch.observe)
    for ex in exchanges:
        rec.submit(ex)
    rec.process()
    return out, watch


def test_each_body_is_decoded_once_for_every_reader(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: Counter[bytes] = Counter()
    real_orjson, real_json = orjson.loads, json.loads

    def counting_orjson(body: Any) -> Any:
        seen[bytes(body)] += 1
        return real_orjson(body)

    def counting_json(body: Any, **kw: Any) -> Any:
        if isinstance(body, bytes | bytearray):
            seen[bytes(body)] += 1
        return real_json(body, **kw)

    monkeypatch.setattr(orjson, "loads", counting_orjson)
    monkeypatch.setattr(json, "loads", counting_json)
    exchanges = [exchange(i, request(i), answer()) for i in range(40)]
    records, watch = recorded(exchanges)
    for ex in exchanges:
        assert ex.production is not None and ex.candidate is not None
        assert seen[ex.request_body or b""] == 1  # validation, drift, outcome and join key
    # production's and the candidate's answers are equal bytes: each side decoded once
    assert seen[answer()] == 2 * len(exchanges)
    # every reader got what it needs from the shared decode
    assert [r.request_id for r in records] == [f"body-{i}" for i in range(40)]
    assert all(r.rows == 4 and r.agree == [True] * 4 for r in records)
    status = watch.status("m")
    assert status is not None
    assert status["inputs"]["validation"]["checked"] == 40
    assert status["inputs"]["drift"]["rows"] == 40 * 4 - 100  # after the 100 reference rows


def test_a_body_that_is_not_json_fails_every_reader_as_before() -> None:
    broken = exchange(0, b'{"id": "body-0", "inputs": [', b"<html>busy</html>")
    records, watch = recorded([broken])
    (rec,) = records
    assert rec.request_id == "h0"  # no body id: labels join on the header's id
    assert rec.rows == 0 and rec.prod_error == "invalid" and rec.cand_error == "invalid"
    assert "response body is not JSON" in rec.extra["invalid"]["production"]
    status = watch.status("m")
    assert status is not None
    assert status["inputs"]["validation"]["violations"] == {"malformed": 1}
    example = status["inputs"]["validation"]["examples"][0]
    assert example["request_id"] == "h0" and "not JSON" in example["message"]
