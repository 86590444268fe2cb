"""Drift e-processes and monitors: batch = one-by-one, state round trip, alarms and reports."""

from __future__ import annotations

import itertools
import json
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from reference_eprocess import ReferenceEProcess

from shadowgate.inputs import BinDriftEProcess, DriftMonitor
from shadowgate.inputs.binning import Binning
from shadowgate.inputs.drift import _assign
from shadowgate.inputs.eprocess import start_log_weight


def _bins(seed: int, n: int, k: int = 5) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, k, size=(2, n))


@settings(max_examples=30, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    n=st.integers(1, 400),
    cuts=st.lists(st.integers(1, 399), max_size=6),
)
def test_batches_equal_one_by_one(seed: int, n: int, cuts: list[int]) -> None:
    bins = _bins(seed, n)
    mask = np.random.default_rng(seed + 1).random((2, n)) > 0.1
    sizes = [[20, 20, 20, 20, 21], [10, 30, 30, 30, 1]]
    whole = BinDriftEProcess(sizes, block=50, max_starts=3, level=2.0)
    whole.update(bins, mask)
    parts = BinDriftEProcess(sizes, block=50, max_starts=3, level=2.0)
    edges = sorted({0, n, *(c for c in cuts if c < n)})
    for a, b in itertools.pairwise(edges):
        parts.update(bins[:, a:b], mask[:, a:b])
    np.testing.assert_allclose(whole.log_e, parts.log_e, rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(whole.max_log_e, parts.max_log_e, rtol=1e-9, atol=1e-9)
    np.testing.assert_array_equal(whole.alarm_row, parts.alarm_row)
    np.testing.assert_array_equal(whole.start_b, parts.start_b)


def test_state_round_trip_continues_identically() -> None:
    bins = _bins(3, 900)
    mask = np.ones_like(bins, dtype=bool)
    a = BinDriftEProcess([[20] * 4 + [21]] * 2, block=100, max_starts=4)
    a.update(bins[:, :500], mask[:, :500])
    b = BinDriftEProcess.from_dict(json.loads(json.dumps(a.to_dict())))
    a.update(bins[:, 500:], mask[:, 500:])
    b.update(bins[:, 500:], mask[:, 500:])
    np.testing.assert_allclose(a.log_e, b.log_e)
    assert a.start_b.tolist() == b.start_b.tolist()


def test_start_weights_sum_to_at_most_one() -> None:
    total = sum(math.exp(start_log_weight(b)) for b in range(200_000))
    assert total <= 1.0


def test_exchangeable_rows_hit_bins_at_the_urn_rate() -> None:
    rng = np.random.default_rng(11)
    counts = np.zeros(4)
    for _ in range(3000):
        data = rng.integers(0, 3, 41).astype(float)  # ties: categories as numbers
        b = Binning.from_reference(data[:40], "numeric", rng.random(40), max_bins=4)
        counts[b.assign(data[40:], rng.random(1))[0]] += 1
        expected = b.sizes / b.sizes.sum()
    # every reference here gives the same gap sizes (10/10/10/11 of 41)
    np.testing.assert_allclose(counts / counts.sum(), expected, atol=0.03)


def _stream(rng: np.random.Generator, n: int, shift: float = 0.0) -> dict[str, object]:
    return {
        "a": rng.standard_normal(n),
        "b": rng.standard_normal(n) + shift,
        "c": rng.choice(["x", "y", "z"], n, p=[0.5, 0.3, 0.2]).tolist(),
    }


def test_alarm_names_the_shifted_feature_only() -> None:
    rng = np.random.default_rng(5)
    kinds = {"a": "numeric", "b": "numeric", "c": "categorical"}
    mon = DriftMonitor(kinds, reference=2000, alpha=0.01, block=200)  # type: ignore[arg-type]
    for _ in range(200):  # 2000 reference rows, then 4000 undrifted
        assert mon.observe(_stream(rng, 30)) == []
    raised = []
    for i in range(100):
        raised += mon.observe(_stream(rng, 32, shift=1.0), now=1000.0 + i)
    assert [a.feature for a in raised] == ["b"]
    alarm = raised[0]
    assert alarm.since_row >= 3800 and alarm.row > alarm.since_row
    assert alarm.e_value >= 3 / 0.01
    top = alarm.bins[0]
    assert top["bin"].endswith("inf)") and top["observed"] > top["expected"]
    assert "drift in 'b' since row" in str(alarm)
    assert [a["feature"] for a in mon.status()["alarms"]] == ["b"]


def test_categorical_share_shift_names_the_category() -> None:
    rng = np.random.default_rng(8)
    mon = DriftMonitor({"c": "categorical"}, reference=1000, alpha=0.01)
    mon.observe({"c": rng.choice(["x", "y", "z"], 1000, p=[0.5, 0.3, 0.2]).tolist()})
    raised = mon.observe({"c": rng.choice(["x", "y", "z"], 3000, p=[0.3, 0.3, 0.4]).tolist()})
    assert [a.feature for a in raised] == ["c"]
    assert {b["bin"] for b in raised[0].bins[:2]} == {"x", "z"}


def test_unseen_category_is_drift() -> None:
    rng = np.random.default_rng(9)
    mon = DriftMonitor({"c": "categorical"}, reference=500, alpha=0.01)
    mon.observe({"c": rng.choice(["x", "y"], 500).tolist()})
    raised = mon.observe({"c": ["new"] * 200})
    assert raised and raised[0].bins[0]["bin"] == "(unseen)"


def test_reference_given_up_front_and_missing_values_skipped() -> None:
    rng = np.random.default_rng(1)
    mon = DriftMonitor({"a": "numeric"}, reference={"a": rng.standard_normal(500).tolist()})
    assert mon.ready
    mon.observe({"a": [math.nan] * 100})
    assert mon.process is not None and mon.process.t[0] == 0 and mon.process.rows == 100
    with pytest.raises(ValueError, match="no column for b"):
        DriftMonitor({"a": "numeric", "b": "numeric"}, reference={"a": [1.0] * 100})


def test_monitor_round_trip_mid_reference_and_mid_stream() -> None:
    rng = np.random.default_rng(2)
    kinds = {"c": "categorical", "a": "numeric"}  # not in sorted order
    a = DriftMonitor(kinds, reference=300, every=2, seed=4)  # type: ignore[arg-type]
    b = DriftMonitor(kinds, reference=300, every=2, seed=4)  # type: ignore[arg-type]
    data = [_stream(rng, 37) for _ in range(40)]
    for i, batch in enumerate(data):
        cols = {k: batch[k] for k in kinds}
        a.observe(cols)
        b.observe(cols)
        if i in (5, 25):  # as stores keep it: canonical JSON, keys sorted
            b = DriftMonitor.from_dict(json.loads(json.dumps(b.to_dict(), sort_keys=True)))
    assert a.e_values() == b.e_values() and a.p_values() == b.p_values()
    assert a.process is not None and a.process.rows == (40 * 37 + 1) // 2 - 300


def test_bad_arguments_are_explained() -> None:
    with pytest.raises(ValueError, match="at least one feature"):
        DriftMonitor({})
    with pytest.raises(ValueError, match="alpha"):
        DriftMonitor({"a": "numeric"}, alpha=1.5)
    mon = DriftMonitor({"a": "numeric"}, reference=10)
    with pytest.raises(ValueError, match="drift reference for 'a'"):
        mon.observe({"a": [math.nan] * 10})


@settings(max_examples=60, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    n=st.integers(1, 700),
    cuts=st.lists(st.integers(1, 699), max_size=5),
    missing=st.sampled_from([0.0, 0.2]),
    drift=st.booleans(),
)
def test_grouped_update_equals_the_row_by_row_reference(
    seed: int, n: int, cuts: list[int], missing: float, drift: bool
) -> None:
    """Bets multiplied over groups of rows, one log per group, give the e-values, alarms and
    state of a log per row (``reference_eprocess``), on streams with and without drift
    (drift: most rows in a bin of small share, so the products grow fast)."""
    rng = np.random.default_rng(seed)
    sizes = [[20, 20, 20, 20, 21], [10, 30, 30, 30, 1], [50, 51], [3, 97, 1]]
    kinds = [len(s) for s in sizes]
    bins = np.stack([rng.integers(0, k, size=n) for k in kinds])
    if drift:
        bins[1, n // 3 :] = np.where(rng.random(n - n // 3) < 0.6, 0, bins[1, n // 3 :])
        bins[3, n // 2 :] = 2  # the bin of 1 gap in 101: the largest bets there are
    mask = rng.random(bins.shape) >= missing
    new = BinDriftEProcess(sizes, block=60, max_starts=4, level=4.0)
    ref = ReferenceEProcess(sizes, block=60, max_starts=4, level=4.0)
    edges = sorted({0, n, *(c for c in cuts if c < n)})
    for a, b in itertools.pairwise(edges):
        new.update(bins[:, a:b], mask[:, a:b])
        ref.update(bins[:, a:b], mask[:, a:b])
    for name in ("log_e", "max_log_e", "log_l", "x", "t", "alarm_counts"):
        np.testing.assert_allclose(getattr(new, name), getattr(ref, name), rtol=1e-9, atol=1e-9)
    for name in ("alarm_row", "alarm_start", "start_b"):
        np.testing.assert_array_equal(getattr(new, name), getattr(ref, name))


@settings(max_examples=150, deadline=None)
@given(
    categories=st.lists(
        st.one_of(st.integers(-300, 300).map(str), st.text(max_size=3)), min_size=2, max_size=8
    ),
    values=st.one_of(
        st.lists(
            st.one_of(
                st.integers(-300, 300), st.text(max_size=3), st.none(), st.booleans(), st.floats()
            ),
            max_size=30,
        ),
        st.lists(st.integers(-300, 300), max_size=30).map(np.array),  # predictions_of's
        st.lists(st.text(max_size=3), max_size=30).map(lambda v: np.array(v, dtype=str)),
    ),
)
def test_category_codes_are_the_lookup_of_each_values_str(
    categories: list[str], values: object
) -> None:
    """Arrays of strings and integers are coded by vectorised lookups; they give what
    looking each element's str() up gives (None is missing, NaN)."""
    rng = np.random.default_rng(0)
    ref = categories * 5
    b = Binning.from_reference(ref, "categorical", rng.random(len(ref)), max_bins=4)
    lookup = {c: float(i) for i, c in enumerate(b.categories)}
    unseen = float(len(b.categories))
    want = [math.nan if v is None else lookup.get(str(v), unseen) for v in np.ravel(values)]
    np.testing.assert_array_equal(b.encode(values), np.array(want, dtype=np.float64))


def test_bins_of_every_feature_at_once_match_each_binning() -> None:
    """The monitor's edge-by-edge assignment is each feature's Binning.assign (ties and NaN
    included)."""
    rng = np.random.default_rng(4)
    cols = {
        "a": rng.standard_normal(400).round(1),  # ties with the edges
        "c": rng.choice(["x", "y", "z"], 400).tolist(),
        "d": rng.integers(0, 3, 400).astype(float),
    }
    kinds = {"a": "numeric", "c": "categorical", "d": "numeric"}
    mon = DriftMonitor(kinds, reference=200, block=100)  # type: ignore[arg-type]
    mon.observe({k: v[:200] for k, v in cols.items()})
    rest = {k: v[200:] for k, v in cols.items()}
    rest["a"] = np.where(rng.random(200) < 0.1, math.nan, rest["a"])
    codes = np.stack([b.encode(rest[n]) for n, b in zip(mon.names, mon.binnings, strict=True)])
    u = rng.random(codes.shape)
    mask = np.isfinite(codes)
    got = _assign(np.where(mask, codes, -np.inf), u, mon._ev, mon._eu)
    for i, b in enumerate(mon.binnings):
        want = b.assign(np.where(mask[i], codes[i], -np.inf), u[i])
        np.testing.assert_array_equal(got[i], want)
