"""The vectorised batch compare gives the per-element reference's verdicts, exactly.

``reference_compare`` is the implementation before vectorising (standard ``json``, Python
lists, element by element). Hypothesis generates batches the way model servers answer them
(probability vectors, scores, regression values, labels) and the awkward ones (NaN,
infinities, sums at the edge of the probability tolerance, None, mixed types, nested and
ragged rows), and every verdict, gap and stored prediction must be the same.
"""

from __future__ import annotations

import json
import math
from typing import Any

import numpy as np
import pytest
import reference_compare as ref
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from shadowgate.compare import batch
from shadowgate.compare.batch import MIN_VECTOR_SIZE, as_matrix, compare_batch
from shadowgate.compare.outcome import build_outcome
from shadowgate.compare.protocols import loads, split_tensor
from shadowgate.config.model import PredictionConfig, RouteConfig
from shadowgate.model.exchange import Exchange, Side
from shadowgate.model.outcome import FloatRows

CONFIGS = [
    PredictionConfig(),
    PredictionConfig(task="classification"),
    PredictionConfig(task="regression"),
    PredictionConfig(task="regression", tolerance=0.01, rel_tolerance=0.1),
    PredictionConfig(tolerance=0.0),
]
configs = st.sampled_from(CONFIGS)

edge_floats = st.sampled_from(
    [0.0, -0.0, 1.0, 0.5, 1e-300, 1e308, -1e308, math.inf, -math.inf, math.nan, 2.0, -1.0]
)
any_float = st.floats(allow_nan=True, allow_infinity=True) | edge_floats
unit_float = st.floats(0.0, 1.0) | st.sampled_from([0.0, 1.0, 0.5])


@st.composite
def probability_vector(draw: st.DrawFn, k: int) -> list[float]:
    """K non-negative weights normalised, sometimes nudged to the edge of the 1e-3 sum rule."""
    w = draw(st.lists(st.floats(0.0, 1.0), min_size=k, max_size=k))
    total = math.fsum(w)
    v = [x / total for x in w] if total > 0 else [1.0 / k] * k
    nudge = draw(st.sampled_from([0.0, 0.0, 1e-3, -1e-3, 0.999e-3, 1.001e-3, 1e-4]))
    v[0] = min(1.0, max(0.0, v[0] + nudge))
    return v


@st.composite
def float_batch(draw: st.DrawFn) -> tuple[list[Any], list[Any]]:
    """Two sides of one homogeneous float batch: scalars or rows of K values."""
    n = draw(st.integers(1, 40))
    k = draw(st.sampled_from([0, 1, 2, 2, 3, 5]))  # 0: scalar rows
    kind = draw(st.sampled_from(["probs", "probs", "unit", "any", "close"]))

    def row(draw: st.DrawFn) -> Any:
        if k == 0:
            return draw(unit_float if kind in ("probs", "unit") else any_float)
        if kind == "probs":
            return draw(probability_vector(k))
        elem = unit_float if kind == "unit" else any_float
        return draw(st.lists(elem, min_size=k, max_size=k))

    prod = [row(draw) for _ in range(n)]
    if kind == "close":  # the candidate near production, around the tolerances
        delta = st.sampled_from([0.0, 1e-7, 1e-6, 5e-3, 0.01, 0.2])

        def near(x: float) -> float:
            return x + draw(delta) if math.isfinite(x) else x

        cand = [near(r) if k == 0 else [near(x) for x in r] for r in prod]
    else:
        cand = [row(draw) for _ in range(n)]
        for i in draw(st.lists(st.integers(0, n - 1), max_size=n)):
            cand[i] = prod[i]  # some rows identical
    return prod, cand


json_leaf = (
    st.none()
    | st.booleans()
    | st.integers(-3, 3)
    | st.integers(-(2**70), 2**70)
    | any_float
    | st.text(max_size=3)
)
json_value = st.recursive(
    json_leaf,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.sampled_from(["a", "b", "id"]), inner)
    ),
    max_leaves=8,
)


@st.composite
def mixed_batch(draw: st.DrawFn) -> tuple[list[Any], list[Any]]:
    """Labels of one type, or rows of anything, possibly ragged between the sides."""
    label = draw(
        st.sampled_from(
            [st.integers(0, 3), st.text("ab", max_size=2), st.booleans(), json_value, unit_float]
        )
    )
    n = draw(st.integers(0, 40))
    prod = draw(st.lists(label, min_size=n, max_size=n))
    cand = [draw(label) if draw(st.booleans()) else x for x in prod]
    if draw(st.integers(0, 5)) == 0:
        cand = cand[: draw(st.integers(0, n))] + draw(st.lists(label, max_size=3))
    return prod, cand


def _reference(prod: list[Any], cand: list[Any], cfg: PredictionConfig) -> tuple[Any, Any]:
    rows = ref.compare_rows(prod, cand, cfg)
    return [r.agree for r in rows], [r.prob_gap for r in rows]


def _same(a: Any, b: Any) -> bool:
    """Equal, with NaN equal to NaN and the same type for every number."""
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    return type(a) is type(b) and a == b


@settings(max_examples=250, suppress_health_check=[HealthCheck.too_slow])
@given(float_batch(), configs)
@example(([[0.5005, 0.5]] * 20, [[0.5, 0.5]] * 20), PredictionConfig())  # sum 1.0005
@example(([[math.inf, 0.0]] * 20, [[math.inf, 1.0]] * 20), PredictionConfig(task="classification"))
@example(([[0.0, math.inf]] * 20, [[1.0, math.inf]] * 20), PredictionConfig(task="classification"))
@example(([1e308] * 20, [-1e308] * 20), PredictionConfig(task="regression"))
def test_float_batches_match_the_reference(
    sides: tuple[list[Any], list[Any]], cfg: PredictionConfig
) -> None:
    prod, cand = sides
    got = compare_batch(prod, cand, cfg)
    want_agree, want_gap = _reference(prod, cand, cfg)
    assert got.agree == want_agree
    assert _same(got.prob_gap, want_gap)


def _split(rows: list[Any]) -> list[Any]:
    """``rows`` as an answer's ``[N, K]`` tensor is split: FloatRows, when they are such rows."""
    if not rows or not all(type(r) is list and r and len(r) == len(rows[0]) for r in rows):
        return rows
    if not all(type(x) is float for r in rows for x in r) or len(rows[0]) < 2:
        return rows
    return FloatRows([x for r in rows for x in r], len(rows[0]))


@settings(max_examples=250, suppress_health_check=[HealthCheck.too_slow])
@given(float_batch(), configs)
def test_rows_split_from_a_tensor_compare_as_their_lists_do(
    sides: tuple[list[Any], list[Any]], cfg: PredictionConfig
) -> None:
    prod, cand = sides
    got = compare_batch(_split(prod), _split(cand), cfg)
    want = compare_batch(prod, cand, cfg)
    assert got.agree == want.agree
    assert _same(got.prob_gap, want.prob_gap)
    split = _split(prod)
    if isinstance(split, FloatRows):
        assert as_matrix(split) is split.matrix  # no second pass over the rows
        assert np.array_equal(split.matrix, as_matrix(prod), equal_nan=True)  # type: ignore[arg-type]


def test_an_answers_tensor_is_split_into_rows_that_carry_its_array() -> None:
    data = [0.1, 0.9, 0.7, 0.3, 0.5, 0.5]
    rows = split_tensor({"name": "p", "shape": [3, 2], "datatype": "FP64", "data": data})
    assert isinstance(rows, FloatRows) and rows == [[0.1, 0.9], [0.7, 0.3], [0.5, 0.5]]
    assert rows.matrix.shape == (3, 2) and rows.matrix.tolist() == rows
    ints = split_tensor({"name": "p", "shape": [2, 2], "datatype": "INT64", "data": [1, 0, 0, 1]})
    assert not isinstance(ints, FloatRows)  # integers keep their own rules


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(mixed_batch(), configs)
def test_labels_mixed_nested_and_ragged_batches_match_the_reference(
    sides: tuple[list[Any], list[Any]], cfg: PredictionConfig
) -> None:
    prod, cand = sides
    got = compare_batch(prod, cand, cfg)
    want_agree, want_gap = _reference(prod, cand, cfg)
    assert got.agree == want_agree
    assert _same(got.prob_gap, want_gap)


def test_a_float_batch_is_compared_without_the_per_element_rules(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def per_element(*_: Any, **__: Any) -> Any:
        raise AssertionError("a homogeneous batch went element by element")

    monkeypatch.setattr(batch, "compare_values", per_element)
    prod = [[0.9, 0.1]] * 16 + [[0.2, 0.8]] * 16
    cand = [[0.8, 0.2]] * 16 + [[0.6, 0.4]] * 16
    got = compare_batch(prod, cand, PredictionConfig())
    assert got.agree == [True] * 16 + [False] * 16
    assert got.prob_gap == pytest.approx([0.1] * 16 + [0.4] * 16)
    labels = compare_batch(list(range(20)), [0] * 20, PredictionConfig())
    assert labels.agree == [True] + [False] * 19


def test_small_batches_go_row_by_row_where_numpy_costs_more() -> None:
    assert MIN_VECTOR_SIZE > 2
    assert compare_batch([[0.3, 0.7]], [[0.6, 0.4]], PredictionConfig()).agree == [False]


def test_as_matrix_casts_only_floats() -> None:
    assert as_matrix([1.0, 2.0]) is not None
    assert as_matrix([[1.0, 2.0], [3.0, 4.0]]).shape == (2, 2)  # type: ignore[union-attr]
    for rows in ([1, 2.0], [True, 1.0], [[1.0], [1.0, 2.0]], [[1.0, None]], [[]], [], [None]):
        assert as_matrix(rows) is None, rows


# ----------------------------------------------------------------- decode and whole outcomes


@given(json_value)
@example(float("nan"))
@example([1e400])
@example(2**80)
@example(2**64)
@example(-(2**63) - 1)
@example("\ud800")
def test_loads_reads_what_json_reads(value: Any) -> None:
    for text in (json.dumps(value), json.dumps(value, indent=1)):
        assert _same(loads(text.encode()), json.loads(text))


def test_loads_reads_utf16_and_refuses_what_json_refuses() -> None:
    assert loads('{"a": 1}'.encode("utf-16")) == {"a": 1}
    with pytest.raises(ValueError):
        loads(b"{not json")


ROUTE = RouteConfig.model_validate(
    {
        "name": "r",
        "match": {"path_prefix": "/v2/models/m"},
        "production": {"url": "http://127.0.0.1:1"},
        "candidate": {"url": "http://127.0.0.1:2"},
        "protocol": "open-inference-v2",
        "prediction": {"map_kinds": False},
    }
)


MAPPING_ROUTE = ROUTE.model_copy(
    update={"prediction": ROUTE.prediction.model_copy(update={"map_kinds": True})}
)


@st.composite
def oip_body(draw: st.DrawFn, rows: int) -> bytes:
    width = draw(st.sampled_from([None, 1, 2, 3]))
    shape = [rows] if width is None else [rows, width]
    size = rows * (width or 1)
    elem = draw(st.sampled_from([unit_float, any_float, st.integers(0, 2), json_leaf]))
    if draw(st.booleans()) and width and width > 1:
        data: list[Any] = []
        for _ in range(rows):
            data += draw(probability_vector(width))
    else:
        data = draw(st.lists(elem, min_size=size, max_size=size))
    if draw(st.integers(0, 9)) == 0:
        data = data[:-1]  # a tensor whose data does not fill its shape
    nested = draw(st.booleans()) and width is not None
    payload = [data[i : i + width] for i in range(0, len(data), width)] if nested else data
    out = {"name": "o", "shape": shape, "datatype": "FP64", "data": payload}
    return json.dumps({"model_name": "m", "id": "x", "outputs": [out]}).encode()


@settings(max_examples=120, suppress_health_check=[HealthCheck.too_slow])
@given(st.data(), st.integers(1, 40))
def test_whole_outcomes_match_the_reference(data: st.DataObject, rows: int) -> None:
    request = json.dumps(
        {"inputs": [{"name": "x", "shape": [rows, 1], "datatype": "FP64", "data": [0.0] * rows}]}
    ).encode()
    sides = [
        Side(200, 0.01, data.draw(oip_body(rows)), "application/json"),
        Side(200, 0.01, data.draw(oip_body(data.draw(st.sampled_from([rows, rows, 1])))), None),
    ]
    ex = Exchange("r", "q", 0.0, "shadow", "production", "POST", "/v2/models/m/infer", request,
                  "application/json", None, sides[0], sides[1])  # fmt: skip
    want = ref.build_outcome(ex, ROUTE, "x")
    for route in (ROUTE, MAPPING_ROUTE):
        got = build_outcome(ex, route, "x")
        mapped = got.extra.pop("kind_mapped", None)
        got.extra.pop("kind_mismatch", None)  # recorded now; the reference had no such note
        if mapped is not None:
            assert route is MAPPING_ROUTE
            continue  # compared as classes: test_kinds covers it
        for field in ("agree", "prob_gap", "prod_pred", "cand_pred", "prod_error", "cand_error"):
            assert _same(getattr(got, field), getattr(want, field)), field
        assert got.rows == want.rows
        assert got.extra == want.extra
