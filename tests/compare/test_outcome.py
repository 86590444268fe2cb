"""build_outcome: error classes, per-row pairing, segments, bodies; it never raises."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shadowgate.compare.outcome import build_outcome
from shadowgate.config.model import RouteConfig
from shadowgate.model.exchange import Exchange, Side


def route(**kw: Any) -> RouteConfig:
    base: dict[str, Any] = {
        "name": "r",
        "match": {"path_prefix": "/v2/models/m"},
        "production": {"url": "http://127.0.0.1:1"},
        "candidate": {"url": "http://127.0.0.1:2"},
        "protocol": "open-inference-v2",
    }
    base.update(kw)
    return RouteConfig.model_validate(base)


def oip_request(rows: int, extra: dict[str, Any] | None = None) -> bytes:
    body = {
        "inputs": [{"name": "x", "shape": [rows, 2], "datatype": "FP64", "data": [0.0] * 2 * rows}]
    }
    body.update(extra or {})
    return json.dumps(body).encode()


def oip_response(data: list[Any], width: int = 1, **kw: Any) -> bytes:
    rows = len(data) // width
    shape = [rows] if width == 1 else [rows, width]
    body = {
        "model_name": kw.get("model_name", "m"),
        "id": kw.get("id", "x"),
        "model_version": kw.get("model_version", "1"),
        "outputs": [{"name": "out", "shape": shape, "datatype": "FP64", "data": data}],
    }
    return json.dumps(body).encode()


def ok(body: bytes, latency: float = 0.01) -> Side:
    return Side(status=200, latency=latency, body=body, content_type="application/json")


def exchange(
    prod: Side | None,
    cand: Side | None,
    request: bytes | None = None,
    kind: Any = "shadow",
    variant: Any = "production",
    segment: str | None = None,
) -> Exchange:
    return Exchange(
        route="r",
        request_id="req-1",
        ts=1000.0,
        kind=kind,
        variant=variant,
        method="POST",
        path="/v2/models/m/infer",
        request_body=request if request is not None else oip_request(3),
        request_content_type="application/json",
        segment=segment,
        production=prod,
        candidate=cand,
    )


def test_batch_of_three_pairs_row_by_row_ignoring_ids_and_versions() -> None:
    prod = ok(oip_response([0.2, 0.8, 0.9, 0.1, 0.5, 0.5], width=2, id="a", model_version="1"))
    cand = ok(oip_response([0.3, 0.7, 0.4, 0.6, 0.5, 0.5], width=2, id="b", model_version="2"))
    rec = build_outcome(exchange(prod, cand), route(), "roll-1")
    assert (rec.route, rec.rollout_id, rec.request_id, rec.ts) == ("r", "roll-1", "req-1", 1000.0)
    assert rec.rows == 3
    assert rec.prod_pred == [[0.2, 0.8], [0.9, 0.1], [0.5, 0.5]]
    assert rec.agree == [True, False, True]
    assert rec.prob_gap == pytest.approx([0.1, 0.5, 0.0])
    assert rec.prod_error is None and rec.cand_error is None
    assert (rec.prod_status, rec.cand_status, rec.prod_latency) == (200, 200, 0.01)


@pytest.mark.parametrize(
    ("cand", "error"),
    [
        (Side(None, 2.0, None, error="timeout"), "timeout"),
        (Side(None, 0.001, None, error="connect"), "connect"),
        (Side(None, 0.1, None, error="reset"), "reset"),
        (Side(503, 0.01, b"overloaded"), "5xx"),
        (Side(200, 0.01, b"<html>not json</html>"), "invalid"),
        (Side(200, 0.01, b'{"outputs": [{"name": "o", "shape": [3], "data": [1]}]}'), "invalid"),
        (Side(422, 0.01, b'{"error": "bad"}'), "invalid"),
        (Side(None, None, None), "invalid"),
    ],
)
def test_error_classes(cand: Side, error: str) -> None:
    prod = ok(oip_response([1.0, 2.0, 3.0]))
    rec = build_outcome(exchange(prod, cand), route(), "x")
    assert rec.cand_error == error
    assert rec.prod_error is None
    assert rec.agree is None and rec.cand_pred is None
    assert rec.prod_pred == [1.0, 2.0, 3.0]
    if error == "invalid":
        assert rec.extra["invalid"]["candidate"]


def test_a_side_alone_returning_the_wrong_row_count_is_invalid() -> None:
    prod = ok(oip_response([1.0, 2.0, 3.0]))
    cand = ok(oip_response([1.0, 2.0]))
    rec = build_outcome(exchange(prod, cand), route(), "x")
    assert rec.cand_error == "invalid"
    assert "2 predictions for a request of 3 rows" in rec.extra["invalid"]["candidate"]


def test_when_neither_side_matches_the_request_rows_are_paired_by_index() -> None:
    prod = ok(oip_response([1.0, 2.0]))
    cand = ok(oip_response([1.0]))
    rec = build_outcome(exchange(prod, cand), route(), "x")
    assert rec.prod_error is None and rec.cand_error is None
    assert rec.agree == [True, False]


def test_canary_records_one_side() -> None:
    cand = ok(oip_response([1.0, 2.0, 3.0]))
    rec = build_outcome(exchange(None, cand, kind="canary", variant="candidate"), route(), "x")
    assert rec.kind == "canary" and rec.variant == "candidate"
    assert rec.prod_status is None and rec.prod_pred is None and rec.prod_error is None
    assert rec.cand_pred == [1.0, 2.0, 3.0]
    assert rec.agree is None


def test_noise_exchange_compares_production_with_itself() -> None:
    a, b = ok(oip_response([1.0, 2.0, 3.0])), ok(oip_response([1.0, 2.5, 3.0]))
    rec = build_outcome(exchange(a, b, kind="noise"), route(), "x")
    assert rec.kind == "noise" and rec.agree == [True, False, True]


def test_segment_from_header_or_body() -> None:
    prod = cand = ok(oip_response([1.0, 2.0, 3.0]))
    from_header = build_outcome(
        exchange(prod, cand, segment="mobile"), route(segment={"header": "x-seg"}), "x"
    )
    assert from_header.segment == "mobile"
    body_route = route(segment={"body": "parameters.country"})
    req = oip_request(3, {"parameters": {"country": "fr"}})
    assert build_outcome(exchange(prod, cand, request=req), body_route, "x").segment == "fr"
    req = oip_request(3, {"parameters": {"country": 7}})
    assert build_outcome(exchange(prod, cand, request=req), body_route, "x").segment == "7"
    missing = build_outcome(exchange(prod, cand), body_route, "x")
    assert missing.segment is None
    not_json = build_outcome(exchange(prod, cand, request=b"\x00garbage"), body_route, "x")
    assert not_json.segment is None and not_json.rows == 3  # rows from the responses


def test_request_body_kept_only_when_asked() -> None:
    prod = cand = ok(oip_response([1.0, 2.0, 3.0]))
    req = oip_request(3)
    assert build_outcome(exchange(prod, cand, request=req), route(), "x").request_body is None
    kept = build_outcome(exchange(prod, cand, request=req), route(record_bodies=True), "x")
    assert kept.request_body == req


def test_uncaptured_body_is_not_an_error_but_not_compared() -> None:
    prod = ok(oip_response([1.0, 2.0, 3.0]))
    rec = build_outcome(exchange(prod, Side(200, 0.01, None)), route(), "x")
    assert rec.cand_error is None and rec.cand_pred is None and rec.agree is None


def test_json_protocol_whole_body_minus_ignored_fields() -> None:
    r = route(protocol="json")
    a = ok(b'{"label": "spam", "id": "1", "created": 5}')
    b = ok(b'{"label": "spam", "id": "2", "created": 6}')
    rec = build_outcome(exchange(a, b, request=b'{"text": "hi"}'), r, "x")
    assert rec.rows == 1 and rec.agree == [True]


@given(
    prod_body=st.binary(max_size=64) | st.none(),
    cand_body=st.binary(max_size=64) | st.none(),
    request=st.binary(max_size=64) | st.none(),
    status=st.sampled_from([None, 200, 204, 404, 500]),
    protocol=st.sampled_from(["open-inference-v2", "kserve-v1", "tfserving", "mlflow", "json"]),
)
def test_build_outcome_never_raises_on_garbage(
    prod_body: bytes | None,
    cand_body: bytes | None,
    request: bytes | None,
    status: int | None,
    protocol: str,
) -> None:
    r = route(protocol=protocol, segment={"body": "a.b"})
    ex = exchange(Side(status, 0.1, prod_body), Side(200, 0.1, cand_body), request=request or b"")
    rec = build_outcome(ex, r, "x")
    assert rec.request_id == "req-1"
    assert "compare_error" not in rec.extra  # garbage is classified, never a caught bug
    assert rec.cand_error in (None, "invalid")
    if rec.agree is not None:
        assert len(rec.agree) == max(len(rec.prod_pred or []), len(rec.cand_pred or []))


@given(st.lists(st.floats(allow_nan=False, width=32), min_size=1, max_size=8))
def test_identical_responses_agree_on_every_row(data: list[float]) -> None:
    body = oip_response(data)
    rec = build_outcome(exchange(ok(body), ok(body), request=oip_request(len(data))), route(), "x")
    assert rec.agree == [True] * len(data)
    assert rec.rows == len(data)


@given(
    st.lists(st.integers(0, 2), max_size=12),
    st.lists(st.integers(0, 2), max_size=12),
    st.sampled_from(["tfserving", "kserve-v1", "mlflow"]),
)
def test_batch_of_n_rows_gives_n_pairs(prod: list[int], cand: list[int], protocol: str) -> None:
    n = len(prod)
    cand = (cand + [0] * n)[:n]
    req = json.dumps({"instances": [[float(i)] for i in range(n)]}).encode()
    rec = build_outcome(
        exchange(
            ok(json.dumps({"predictions": prod, "model_version": "1"}).encode()),
            ok(json.dumps({"predictions": cand, "model_version": "2"}).encode()),
            request=req,
        ),
        route(protocol=protocol),
        "x",
    )
    assert rec.rows == n and rec.prod_pred == prod and rec.cand_pred == cand
    assert rec.agree == [a == b for a, b in zip(prod, cand, strict=True)]
