"""Batch updates equal one-by-one updates; state survives a JSON round-trip mid-stream."""

from __future__ import annotations

import json
import math
from typing import Any

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from shadowgate.stats import (
    BoundedMeanCS,
    CountShareTest,
    PairedMeanTest,
    SignTest,
    TwoSampleMeanTest,
)

ALTS = st.sampled_from(["two-sided", "greater", "less"])
FLOATS = st.floats(-1e3, 1e3, allow_nan=False, allow_infinity=False)


def close(a: Any, b: Any) -> bool:
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(close(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(close(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, float) and isinstance(b, float):
        return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-9) or a == b
    return bool(a == b)


def same_outputs(a: Any, b: Any) -> None:
    assert a.n == b.n
    assert math.isclose(a.p_value, b.p_value, rel_tol=1e-9, abs_tol=1e-300)
    assert close(a.to_dict(), b.to_dict())


def split_feed(make: Any, feed: Any, data: list[Any], cut: int) -> Any:
    """Feed data[:cut] in one batch, persist through JSON, then the rest one by one."""
    first = make()
    feed(first, data[:cut])
    resumed = type(first).from_dict(json.loads(json.dumps(first.to_dict())))
    for item in data[cut:]:
        feed(resumed, [item])
    return resumed


@settings(max_examples=40, deadline=None)
@given(st.lists(FLOATS, min_size=0, max_size=80), ALTS, st.sampled_from([None, 0.5]), st.data())
def test_paired_batch_equals_one_by_one(
    xs: list[float], alt: str, mde: float | None, data: Any
) -> None:
    def make() -> PairedMeanTest:
        return PairedMeanTest(mde=mde, margin=0.1, alternative=alt, burn_in=5)

    batch = make()
    batch.update(xs)
    single = make()
    for x in xs:
        single.update([x])
    same_outputs(batch, single)
    cut = data.draw(st.integers(0, len(xs)))
    same_outputs(batch, split_feed(make, lambda t, d: t.update(d), xs, cut))


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(FLOATS, st.integers(0, 1)), max_size=80), ALTS, st.data())
def test_two_sample_batch_equals_one_by_one(
    pairs: list[tuple[float, int]], alt: str, data: Any
) -> None:
    def make() -> TwoSampleMeanTest:
        return TwoSampleMeanTest(alternative=alt, burn_in=3)

    def feed(t: TwoSampleMeanTest, d: list[tuple[float, int]]) -> None:
        t.update([v for v, _ in d], [g for _, g in d])

    batch = make()
    feed(batch, pairs)
    single = make()
    for p in pairs:
        feed(single, [p])
    same_outputs(batch, single)
    cut = data.draw(st.integers(0, len(pairs)))
    same_outputs(batch, split_feed(make, feed, pairs, cut))


@settings(max_examples=40, deadline=None)
@given(st.lists(st.sampled_from([-1, 0, 1]), max_size=150), ALTS, st.floats(0.2, 0.8), st.data())
def test_sign_batch_equals_one_by_one(signs: list[int], alt: str, p0: float, data: Any) -> None:
    def make() -> SignTest:
        return SignTest(p0=p0, alternative=alt)

    batch = make()
    batch.update(signs)
    single = make()
    for s in signs:
        single.update([s])
    same_outputs(batch, single)
    cut = data.draw(st.integers(0, len(signs)))
    same_outputs(batch, split_feed(make, lambda t, d: t.update(d), signs, cut))


@settings(max_examples=40, deadline=None)
@given(
    st.lists(st.integers(0, 1), max_size=150),
    ALTS,
    st.lists(st.floats(0.01, 0.6), min_size=1, max_size=4),
    st.data(),
)
def test_count_share_batch_equals_one_by_one(
    origins: list[int], alt: str, weights: list[float], data: Any
) -> None:
    """Shares change between chunks; batching within a chunk changes nothing."""
    chunks = np.array_split(np.array(origins, dtype=int), len(weights))
    batch = CountShareTest(shares=(1 - weights[0], weights[0]), alternative=alt)
    single = CountShareTest(shares=(1 - weights[0], weights[0]), alternative=alt)
    for w, chunk in zip(weights, chunks, strict=True):
        for t in (batch, single):
            t.set_shares((1 - w, w))
        batch.update(chunk)
        for o in chunk:
            single.update([o])
        if data.draw(st.booleans()):
            single = CountShareTest.from_dict(json.loads(json.dumps(single.to_dict())))
    same_outputs(batch, single)


@settings(max_examples=40, deadline=None)
@given(st.lists(st.floats(0, 1), max_size=120), ALTS, st.sampled_from([None, 0.3, 0.9]), st.data())
def test_bounded_batch_equals_one_by_one(
    xs: list[float], alt: str, thr: float | None, data: Any
) -> None:
    def make() -> BoundedMeanCS:
        return BoundedMeanCS(threshold=thr, alternative=alt)

    batch = make()
    batch.update(xs)
    single = make()
    for x in xs:
        single.update([x])
    same_outputs(batch, single)
    cut = data.draw(st.integers(0, len(xs)))
    resumed = split_feed(make, lambda t, d: t.update(d), xs, cut)
    same_outputs(batch, resumed)
    assert close(list(batch.confidence_interval(0.1)), list(resumed.confidence_interval(0.1)))
