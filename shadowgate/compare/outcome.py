"""Turn one :class:`Exchange` into the :class:`OutcomeRecord` the store writes.

This is where raw bytes become comparable facts, off the client's response path: each side
gets an error class (its transport error, ``5xx``, or ``invalid`` when its body is not a
prediction response per the route's protocol), the predictions of every row, and, when both
sides answered, per-row agreement and probability gaps. :func:`build_outcome` never raises:
a record that cannot be compared is still a record, so stored + dropped == mirrored holds.
The bodies are read through a :class:`~shadowgate.compare.decoded.DecodedExchange`, so the
recorder's other readers of the same exchange share one decode of each.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any

import jmespath
from jmespath.exceptions import JMESPathError

from shadowgate.compare.batch import compare_batch
from shadowgate.compare.binary import decode_binary
from shadowgate.compare.decoded import DecodedExchange
from shadowgate.compare.kinds import MAPPED, map_kinds, mismatch, output_kind
from shadowgate.compare.protocols import (
    CompareError,
    decode_json,
    output_datatype,
    predictions,
    request_rows,
)
from shadowgate.config.model import RouteConfig
from shadowgate.model.exchange import Exchange, Side
from shadowgate.model.outcome import OutcomeRecord

#: longest segment value kept; longer values are cut (segments are grouping keys, not data)
MAX_SEGMENT_LENGTH = 200


@dataclass(slots=True)
class SideResult:
    """What one side's answer amounts to: its error class and its per-row predictions."""

    error: str | None
    predictions: list[Any] | None
    detail: str | None = None  # why it is invalid, for people reading the record
    datatype: str | None = None  # the OIP v2 output's datatype, to tell kinds apart


def classify_side(
    side: Side, route: RouteConfig, parse: Callable[[], Any] | None = None
) -> SideResult:
    """Error class and predictions of one side's answer (never raises).

    ``parse()`` gives the body as JSON (e.g. a shared :class:`DecodedExchange`'s decode) or
    raises as :func:`~shadowgate.compare.protocols.loads` does; by default the body is
    decoded here.
    """
    if side.error is not None:
        return SideResult(side.error, None)
    if side.status is None:
        return SideResult("invalid", None, "no status and no transport error")
    if side.status >= 500:
        return SideResult("5xx", None)
    if not 200 <= side.status < 300:
        return SideResult("invalid", None, f"HTTP {side.status} is not a prediction response")
    if side.body is None:
        return SideResult(None, None)  # answered fine, but the body was not captured
    try:
        body = _decode(route, side.body, parse)
        preds = predictions(route.protocol, body, route.prediction)
    except CompareError as exc:
        return SideResult("invalid", None, str(exc))
    except RecursionError:
        return SideResult("invalid", None, "response nested too deeply")
    return SideResult(None, preds, datatype=output_datatype(route.protocol, body, route.prediction))


def _decode(route: RouteConfig, body: bytes, parse: Callable[[], Any] | None) -> Any:
    """A response body as JSON, Triton's binary tensor form included (OIP v2 routes)."""
    try:
        return decode_json(body, parse=parse)
    except CompareError:
        if route.protocol != "open-inference-v2":
            raise
        doc = decode_binary(body)
        if doc is None:
            raise
        return doc


def _request_json(exchange: Exchange, route: RouteConfig, decoded: DecodedExchange) -> Any:
    try:
        return decoded.request(binary=route.protocol == "open-inference-v2")
    except (ValueError, RecursionError):
        return None


def _segment(exchange: Exchange, route: RouteConfig, body: Any) -> str | None:
    """The segment value: from the header (the data plane read it) or the request body."""
    if exchange.segment is not None or route.segment is None or route.segment.body is None:
        return exchange.segment
    if body is None:
        return None
    try:
        found = jmespath.search(route.segment.body, body)
    except JMESPathError:
        return None
    if found is None:
        return None
    text = found if isinstance(found, str) else json.dumps(found, sort_keys=True)
    return text[:MAX_SEGMENT_LENGTH]


def _rows_for(route: RouteConfig, body: Any) -> int | None:
    if body is None:
        return None
    try:
        return request_rows(route.protocol, body)
    except CompareError:
        return None


def _check_counts(prod: SideResult, cand: SideResult, rows: int | None) -> None:
    """Mark a side invalid when it alone returned a different number of rows than asked.

    When neither side matches the request's row count, the request's shape was probably
    read differently than the servers read it (e.g. a 1-D OIP v2 input), so neither is
    blamed and the rows are paired by index.
    """
    if rows is None or prod.predictions is None or cand.predictions is None:
        return
    ok_p, ok_c = len(prod.predictions) == rows, len(cand.predictions) == rows
    for res, ok, other_ok in ((prod, ok_p, ok_c), (cand, ok_c, ok_p)):
        if other_ok and not ok:
            n = len(res.predictions or [])
            res.error, res.predictions = "invalid", None
            res.detail = f"returned {n} predictions for a request of {rows} rows"


def build_outcome(
    exchange: Exchange,
    route: RouteConfig,
    rollout_id: str,
    decoded: DecodedExchange | None = None,
) -> OutcomeRecord:
    """Classify, parse and compare one exchange under its route's config (never raises).

    ``decoded`` shares the bodies' decode with the recorder's other readers.
    """
    rec = OutcomeRecord(
        route=exchange.route,
        rollout_id=rollout_id,
        request_id=exchange.request_id,
        ts=exchange.ts,
        kind=exchange.kind,
        variant=exchange.variant,
    )
    if exchange.forced:
        rec.extra["forced"] = True
    try:
        _fill(rec, exchange, route, decoded or DecodedExchange(exchange))
    except Exception as exc:  # a bug must cost one comparison, never the record
        rec.agree = rec.prob_gap = None
        rec.extra["compare_error"] = f"{type(exc).__name__}: {exc}"[:500]
    return rec


def _fill(
    rec: OutcomeRecord, exchange: Exchange, route: RouteConfig, decoded: DecodedExchange
) -> None:
    body = _request_json(exchange, route, decoded)
    rec.segment = _segment(exchange, route, body)
    if route.record_bodies:
        rec.request_body = exchange.request_body
    rows = _rows_for(route, body)
    results: dict[str, SideResult] = {}
    sides = (
        ("production", exchange.production, partial(decoded.answer, "production")),
        ("candidate", exchange.candidate, partial(decoded.answer, "candidate")),
    )
    for name, side, parse in sides:
        if side is None:
            continue
        res = classify_side(side, route, parse)
        results[name] = res
        prefix = "prod" if name == "production" else "cand"
        setattr(rec, f"{prefix}_status", side.status)
        setattr(rec, f"{prefix}_latency", side.latency)
    prod, cand = results.get("production"), results.get("candidate")
    if prod is not None and cand is not None:
        _check_counts(prod, cand, rows)
    invalid: dict[str, str] = {}
    for name, res in results.items():
        prefix = "prod" if name == "production" else "cand"
        setattr(rec, f"{prefix}_error", res.error)
        setattr(rec, f"{prefix}_pred", res.predictions)
        if res.detail:
            invalid[name] = res.detail[:500]
    if invalid:
        rec.extra["invalid"] = invalid
    counts = [len(r.predictions) for r in results.values() if r.predictions is not None]
    rec.rows = rows if rows is not None else max(counts, default=0)
    if prod and cand and prod.predictions is not None and cand.predictions is not None:
        p_rows, c_rows = _comparable(rec, prod, cand, route)
        verdicts = compare_batch(p_rows, c_rows, route.prediction)
        rec.agree = verdicts.agree
        gaps = verdicts.prob_gap
        # rows without probabilities (labels, unpaired rows) get a gap of 0.0
        rec.prob_gap = None if all(g is None for g in gaps) else [g or 0.0 for g in gaps]


def _comparable(
    rec: OutcomeRecord, prod: SideResult, cand: SideResult, route: RouteConfig
) -> tuple[list[Any], list[Any]]:
    """Both sides' rows as compared: recorded kind mismatch, mapped where unambiguous."""
    p_rows, c_rows = prod.predictions or [], cand.predictions or []
    pk, ck = output_kind(p_rows, prod.datatype), output_kind(c_rows, cand.datatype)
    differ = mismatch(pk, ck)
    if differ is None:
        return p_rows, c_rows
    rec.extra["kind_mismatch"] = differ
    mapped = map_kinds(p_rows, c_rows, pk, ck) if route.prediction.map_kinds else None
    if mapped is None:
        return p_rows, c_rows
    rec.extra["kind_mapped"] = MAPPED
    return mapped
