"""Output kinds: a difference in kind is recorded, and labels vs probabilities still pair."""

from __future__ import annotations

import json
from typing import Any

import pytest

from shadowgate.compare.kinds import map_kinds, mismatch, output_kind
from shadowgate.compare.outcome import build_outcome
from shadowgate.config.model import RouteConfig
from shadowgate.model.exchange import Exchange, Side


def route(**prediction: Any) -> RouteConfig:
    return RouteConfig.model_validate(
        {
            "name": "r",
            "match": {"path_prefix": "/v2/models/m"},
            "production": {"url": "http://127.0.0.1:1"},
            "candidate": {"url": "http://127.0.0.1:2"},
            "protocol": "open-inference-v2",
            "prediction": prediction,
        }
    )


def answer(data: list[Any], shape: list[int], datatype: str) -> Side:
    out = {"name": "o", "shape": shape, "datatype": datatype, "data": data}
    return Side(200, 0.01, json.dumps({"outputs": [out]}).encode(), "application/json")


def exchange(prod: Side, cand: Side, rows: int) -> Exchange:
    req = {"inputs": [{"name": "x", "shape": [rows, 1], "datatype": "FP64", "data": [0.0] * rows}]}
    return Exchange("r", "q", 0.0, "shadow", "production", "POST", "/v2/models/m/infer",
                    json.dumps(req).encode(), "application/json", None, prod, cand)  # fmt: skip


LABELS = answer([1, 0, 1, 1], [4], "INT64")
PROBS = answer([0.2, 0.8, 0.6, 0.4, 0.9, 0.1, 0.3, 0.7], [4, 2], "FP64")


def test_labels_against_probabilities_are_recorded_and_compared_by_class() -> None:
    rec = build_outcome(exchange(LABELS, PROBS, 4), route(), "x")
    assert rec.extra["kind_mismatch"] == (
        "production: labels [4] INT64; candidate: probabilities [4,2] FP64"
    )
    assert "argmax" in rec.extra["kind_mapped"]
    assert rec.agree == [True, True, False, True]
    assert rec.prob_gap is None
    assert rec.cand_pred == [[0.2, 0.8], [0.6, 0.4], [0.9, 0.1], [0.3, 0.7]]  # stored as sent


def test_the_mapping_works_both_ways_round() -> None:
    rec = build_outcome(exchange(PROBS, LABELS, 4), route(), "x")
    assert rec.extra["kind_mismatch"].startswith("production: probabilities [4,2] FP64")
    assert rec.agree == [True, True, False, True]


def test_map_kinds_off_records_the_mismatch_and_compares_values() -> None:
    rec = build_outcome(exchange(LABELS, PROBS, 4), route(map_kinds=False), "x")
    assert "kind_mismatch" in rec.extra and "kind_mapped" not in rec.extra
    assert rec.agree == [False] * 4


def test_shape_and_datatype_differences_are_recorded_without_mapping() -> None:
    three = answer([0.1, 0.2, 0.7] * 4, [4, 3], "FP64")
    rec = build_outcome(exchange(PROBS, three, 4), route(), "x")
    assert rec.extra["kind_mismatch"] == (
        "production: probabilities [4,2] FP64; candidate: probabilities [4,3] FP64"
    )
    assert "kind_mapped" not in rec.extra
    fp32 = answer([0.2, 0.8, 0.6, 0.4, 0.9, 0.1, 0.3, 0.7], [4, 2], "FP32")
    rec = build_outcome(exchange(PROBS, fp32, 4), route(), "x")
    assert rec.extra["kind_mismatch"].endswith("candidate: probabilities [4,2] FP32")
    assert rec.agree == [True] * 4


def test_the_same_kind_records_nothing() -> None:
    rec = build_outcome(exchange(PROBS, PROBS, 4), route(), "x")
    assert "kind_mismatch" not in rec.extra


@pytest.mark.parametrize(
    ("labels", "vectors"),
    [
        (["a", "b"], [[0.1, 0.9], [0.8, 0.2]]),  # string classes: their order is unknown
        ([0, 2], [[0.1, 0.9], [0.8, 0.2]]),  # 2 is no class of a 2-vector
        ([0, 1], [[float("nan"), 0.9], [0.8, 0.2]]),
    ],
)
def test_ambiguous_mappings_are_refused(labels: list[Any], vectors: list[Any]) -> None:
    lk, vk = output_kind(labels), output_kind(vectors)
    assert mismatch(lk, vk) is not None
    assert map_kinds(labels, vectors, lk, vk) is None


def test_kinds_describe_outputs() -> None:
    assert str(output_kind([0.5, 0.25])) == "values [2]"
    assert str(output_kind([[2.0, -1.0]])) == "scores [1,2]"
    assert str(output_kind([{"a": 1}])) == "objects [1]"
    assert output_kind([[0.5, 0.5]]).key == output_kind([[3.0, -1.0]]).key  # both vectors
