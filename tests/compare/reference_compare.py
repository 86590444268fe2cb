"""The per-element compare as it was before vectorising: the reference the new one must equal.

Kept verbatim (decode with the standard ``json``, split tensors into Python lists, compare
element by element) so tests can assert the vectorised path gives the same outcome on
generated payloads, and ``benchmarks/compare_cost.py`` can time the old way against the new.
Not part of the package.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import jmespath
from jmespath.exceptions import JMESPathError

from shadowgate.compare import protocols as _new_protocols
from shadowgate.compare.outcome import SideResult, _rows_for, _segment
from shadowgate.compare.protocols import CompareError, InvalidRequest, InvalidResponse
from shadowgate.config.model import PredictionConfig, Protocol, RouteConfig
from shadowgate.model.exchange import Exchange, Side
from shadowgate.model.outcome import OutcomeRecord

# ------------------------------------------------------------------ compare.py, per element

Task = Literal["auto", "classification", "regression"]

#: how far from 1 a vector's sum may be for "auto" to read it as probabilities
_PROB_SUM_TOLERANCE = 1e-3


@dataclass(frozen=True, slots=True)
class RowComparison:
    """The verdict on one row: whether both sides agree, and their probability gap if any."""

    agree: bool
    prob_gap: float | None = None


_DISAGREE = RowComparison(False)
_AGREE = RowComparison(True)


def _is_number(x: Any) -> bool:
    return isinstance(x, int | float) and not isinstance(x, bool)


def _numbers_close(a: float, b: float, cfg: PredictionConfig) -> bool:
    if math.isnan(a) or math.isnan(b):
        return math.isnan(a) and math.isnan(b)  # NaN agrees only with NaN
    if a == b:
        return True  # also covers equal infinities
    return math.isclose(a, b, rel_tol=cfg.rel_tolerance, abs_tol=cfg.tolerance)


def _looks_like_probabilities(v: Sequence[Any]) -> bool:
    if len(v) < 2 or not all(_is_number(x) and 0.0 <= x <= 1.0 for x in v):
        return False
    return abs(math.fsum(v) - 1.0) <= _PROB_SUM_TOLERANCE


def _argmax(v: Sequence[float]) -> int:
    return max(range(len(v)), key=lambda i: (v[i], -i))  # first index on ties


def _compare_scores(a: Sequence[float], b: Sequence[float]) -> RowComparison:
    pairs = list(zip(a, b, strict=True))
    if any(math.isnan(x) or math.isnan(y) for x, y in pairs):
        # no class can be read off NaN scores: agree only on identical vectors
        return RowComparison(all(x == y or (math.isnan(x) and math.isnan(y)) for x, y in pairs))
    gap = max(abs(x - y) for x, y in pairs)
    return RowComparison(_argmax(a) == _argmax(b), gap if math.isfinite(gap) else None)


def _compare_numbers(a: Any, b: Any, task: Task, cfg: PredictionConfig) -> RowComparison:
    if task == "classification":
        if isinstance(a, float) and isinstance(b, float) and 0 <= a <= 1 and 0 <= b <= 1:
            # a single probability of the positive class
            if a.is_integer() and b.is_integer():
                return RowComparison(a == b)
            return RowComparison((a >= 0.5) == (b >= 0.5), abs(a - b))
        both_nan = isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b)
        return RowComparison(bool(a == b) or both_nan)
    if task == "auto" and isinstance(a, int) and isinstance(b, int):
        return RowComparison(a == b)
    return RowComparison(_numbers_close(float(a), float(b), cfg))


def _compare_lists(a: list[Any], b: list[Any], task: Task, cfg: PredictionConfig) -> RowComparison:
    if len(a) != len(b):
        return _DISAGREE
    numeric = len(a) >= 2 and all(_is_number(x) for x in (*a, *b))
    scores = task == "classification" or (
        task == "auto" and _looks_like_probabilities(a) and _looks_like_probabilities(b)
    )
    if numeric and scores:
        return _compare_scores(a, b)
    return _combine([compare_values(x, y, cfg, task) for x, y in zip(a, b, strict=True)])


def _combine(parts: Sequence[RowComparison]) -> RowComparison:
    gaps = [p.prob_gap for p in parts if p.prob_gap is not None]
    return RowComparison(all(p.agree for p in parts), max(gaps) if gaps else None)


def compare_values(
    a: Any, b: Any, cfg: PredictionConfig, task: Task | None = None
) -> RowComparison:
    """Compare one row's predictions from both sides (any JSON value) under ``cfg``."""
    task = cfg.task if task is None else task
    if _is_number(a) and _is_number(b):
        return _compare_numbers(a, b, task, cfg)
    if isinstance(a, list) and isinstance(b, list):
        return _compare_lists(a, b, task, cfg)
    if isinstance(a, dict) and isinstance(b, dict):
        ignored = set(cfg.ignore_fields)
        keys_a = a.keys() - ignored
        if keys_a != b.keys() - ignored:
            return _DISAGREE
        return _combine([compare_values(a[k], b[k], cfg, task) for k in sorted(keys_a)])
    if type(a) is not type(b):
        return _DISAGREE
    return _AGREE if a == b else _DISAGREE  # strings, booleans, null


def compare_rows(
    prod: Sequence[Any], cand: Sequence[Any], cfg: PredictionConfig
) -> list[RowComparison]:
    """Pair two sides' predictions row by row.

    When the sides return different numbers of rows, the rows only one side answered
    disagree, so a candidate that drops or invents rows never looks better for it.
    """
    n = max(len(prod), len(cand))
    return [
        compare_values(prod[i], cand[i], cfg) if i < len(prod) and i < len(cand) else _DISAGREE
        for i in range(n)
    ]


# ------------------------------------------------------- protocols.py, json and list splits


def decode_json(body: bytes | None, what: str = "response") -> Any:
    """Decode a JSON body, raising :class:`InvalidResponse` (or ``InvalidRequest``) if it isn't."""
    err = InvalidRequest if what == "request" else InvalidResponse
    if body is None or body == b"":
        raise err(f"empty {what} body: expected JSON")
    try:
        return json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise err(f"{what} body is not JSON: {exc}") from None


def _flatten(data: Any) -> list[Any]:
    """Flatten nested lists in row-major order; strings (BYTES) and dicts stay atoms."""
    if not isinstance(data, list):
        return [data]
    out: list[Any] = []
    stack: list[Any] = [iter(data)]
    while stack:
        for item in stack[-1]:
            if isinstance(item, list):
                stack.append(iter(item))
                break
            out.append(item)
        else:
            stack.pop()
    return out


def _reshape(flat: Sequence[Any], dims: Sequence[int]) -> Any:
    """Nest a flat row-major sequence into ``dims``; a single element becomes a scalar."""
    if math.prod(dims) == 1:
        return flat[0]
    if len(dims) == 1:
        return list(flat)
    step = math.prod(dims[1:])
    return [_reshape(flat[i * step : (i + 1) * step], dims[1:]) for i in range(dims[0])]


def _shape(tensor: dict[str, Any], where: str, err: type[CompareError]) -> list[int]:
    shape = tensor.get("shape")
    if not isinstance(shape, list) or not all(
        isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in shape
    ):
        raise err(f"{where}.shape must be a list of non-negative integers, got {shape!r}")
    return shape


def split_tensor(tensor: Any, where: str = "output") -> list[Any]:
    """Split one OIP v2 tensor into rows by its ``shape`` (rows = the first dimension).

    ``shape [N]`` and ``[N, 1]`` give N scalars; ``[N, K]`` gives N lists of K values (e.g.
    class probabilities); a scalar tensor (``shape []``) is one row.
    """
    if not isinstance(tensor, dict):
        raise InvalidResponse(f"{where} must be an object with name, shape, datatype, data")
    shape = _shape(tensor, where, InvalidResponse)
    if "data" not in tensor:
        raise InvalidResponse(f"{where} has no 'data'")
    flat = _flatten(tensor["data"])
    if len(flat) != math.prod(shape):
        raise InvalidResponse(
            f"{where} has {len(flat)} values but shape {shape} needs {math.prod(shape)}"
        )
    if not shape:
        return [flat[0]]
    rows, per_row = shape[0], shape[1:]
    step = math.prod(per_row)
    if step == 0:
        return [[] for _ in range(rows)]
    return [_reshape(flat[i * step : (i + 1) * step], per_row) for i in range(rows)]


def _oip_predictions(body: Any, output: str | None) -> list[Any]:
    outputs = body.get("outputs") if isinstance(body, dict) else None
    if not isinstance(outputs, list) or not outputs:
        raise InvalidResponse("open-inference-v2 response needs 'outputs': a non-empty list")
    if output is not None:
        names = [o.get("name") if isinstance(o, dict) else None for o in outputs]
        if output not in names:
            raise InvalidResponse(f"no output named {output!r}; the response has {names}")
        i = names.index(output)
        return split_tensor(outputs[i], f"outputs[{i}]")
    # several outputs and none chosen: the first, as the config reference documents
    return split_tensor(outputs[0], "outputs[0]")


def _by_path(body: Any, path: str) -> list[Any]:
    try:
        found = jmespath.search(path, body)
    except JMESPathError as exc:  # a runtime type error, e.g. indexing a string
        raise InvalidResponse(f"prediction.path {path!r} failed: {exc}") from None
    if found is None:
        raise InvalidResponse(f"prediction.path {path!r} found nothing in the response")
    if isinstance(found, dict) and "shape" in found and "data" in found:
        return split_tensor(found, path)  # an OIP v2 tensor: keep its row structure
    return list(found) if isinstance(found, list) else [found]


def predictions(protocol: Protocol, body: Any, cfg: PredictionConfig) -> list[Any]:
    """One prediction per row of a decoded response; raises :class:`InvalidResponse`."""
    if cfg.path:
        return _by_path(body, cfg.path)
    if protocol == "open-inference-v2":
        return _oip_predictions(body, cfg.output)
    if protocol in ("kserve-v1", "tfserving"):
        return _new_protocols._tf_predictions(body)
    if protocol == "mlflow":
        return _new_protocols._mlflow_predictions(body)
    return [body]  # json without a path: the whole body is one prediction


# ------------------------------------------------------------------------- outcome.py


def classify_side(side: Side, route: RouteConfig) -> SideResult:
    """Error class and predictions of one side's answer (never raises)."""
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
        preds = predictions(route.protocol, decode_json(side.body), route.prediction)
    except CompareError as exc:
        return SideResult("invalid", None, str(exc))
    except RecursionError:
        return SideResult("invalid", None, "response nested too deeply")
    return SideResult(None, preds)


def _request_json(exchange: Exchange) -> Any:
    if not exchange.request_body:
        return None
    try:
        return json.loads(exchange.request_body)
    except (ValueError, RecursionError):
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


def build_outcome(exchange: Exchange, route: RouteConfig, rollout_id: str) -> OutcomeRecord:
    """Classify, parse and compare one exchange under its route's config (never raises)."""
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
        _fill(rec, exchange, route)
    except Exception as exc:  # a bug must cost one comparison, never the record
        rec.agree = rec.prob_gap = None
        rec.extra["compare_error"] = f"{type(exc).__name__}: {exc}"[:500]
    return rec


def _fill(rec: OutcomeRecord, exchange: Exchange, route: RouteConfig) -> None:
    body = _request_json(exchange)
    rec.segment = _segment(exchange, route, body)
    if route.record_bodies:
        rec.request_body = exchange.request_body
    rows = _rows_for(route, body)
    results: dict[str, SideResult] = {}
    for name, side in (("production", exchange.production), ("candidate", exchange.candidate)):
        if side is None:
            continue
        res = classify_side(side, route)
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
        verdicts = compare_rows(prod.predictions, cand.predictions, route.prediction)
        rec.agree = [v.agree for v in verdicts]
        gaps = [v.prob_gap for v in verdicts]
        # rows without probabilities (labels, unpaired rows) get a gap of 0.0
        rec.prob_gap = None if all(g is None for g in gaps) else [g or 0.0 for g in gaps]
