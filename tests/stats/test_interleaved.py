"""InterleavedMeanTest: the betting pass test for bursty outcomes.

Batch equals one-by-one and the state survives JSON mid-stream; one subsequence is the
plain aGRAPA test bit for bit; the p-value is the union bound over the subsequences; on a
worse candidate whose errors come in bursts the plain test passes it and the interleaved
one does not; and on an error-free stream it pays about ``spacing`` times the pairs.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shadowgate.stats import BoundedMeanCS, InterleavedMeanTest
from shadowgate.stats.datagen import errors
from stats.test_long_run import same
from stats.test_properties import ALTS, split_feed

M = 0.001
THRESHOLD = (1 + M) / 2  # the errors pass boundary on the (fail_c - fail_p + 1) / 2 scale


@settings(max_examples=30, deadline=None)
@given(
    st.lists(st.sampled_from([0.0, 0.5, 1.0]), max_size=300),
    ALTS,
    st.integers(1, 7),
    st.lists(st.integers(1, 40), min_size=1, max_size=10),
    st.data(),
)
def test_batch_equals_one_by_one_and_json_mid_stream(
    xs: list[float], alt: str, spacing: int, sizes: list[int], data: Any
) -> None:
    def make() -> InterleavedMeanTest:
        return InterleavedMeanTest(threshold=THRESHOLD, alternative=alt, spacing=spacing)

    batch = make()
    batch.update(xs)
    chunked = make()
    i = 0
    for k in sizes * 40:
        if i >= len(xs):
            break
        chunked.update(xs[i : i + k])
        i += k
    chunked.update(xs[i:])
    same(batch, chunked)
    cut = data.draw(st.integers(0, len(xs)))
    restored = split_feed(make, lambda t, d: t.update(d), xs, cut)
    same(batch, restored)
    assert restored.estimate == pytest.approx(batch.estimate, nan_ok=True)


def test_one_subsequence_is_the_plain_betting_test() -> None:
    rng = np.random.default_rng(1)
    x = (rng.random(5_000) < 0.002) * 0.5 + 0.5 - (rng.random(5_000) < 0.002) * 0.5
    one = InterleavedMeanTest(threshold=THRESHOLD, alternative="less", alpha=0.025)
    plain = BoundedMeanCS(threshold=THRESHOLD, alternative="less", alpha=0.025, bets="grapa")
    for chunk in np.array_split(x, 37):
        one.update(chunk)
        plain.update(chunk)
        assert one.p_value == plain.p_value
        assert one.e_value == plain.e_value
    assert one.estimate == pytest.approx(plain.estimate)


def test_the_p_value_is_the_union_bound_over_the_subsequences() -> None:
    k = 5
    rng = np.random.default_rng(2)
    x = np.where(rng.random(20_000) < 0.0005, 1.0, 0.5)
    t = InterleavedMeanTest(threshold=THRESHOLD, alternative="less", spacing=k)
    t.update(x)
    subs = [BoundedMeanCS(threshold=THRESHOLD, alternative="less", bets="grapa") for _ in range(k)]
    for j, s in enumerate(subs):
        s.update(x[j::k])
    assert t.p_value == pytest.approx(min(1.0, k * min(s.p_value for s in subs)))
    assert t.n == 20_000 and t.estimate == pytest.approx(float(x.mean()))
    lo, hi = t.confidence_interval(0.05)
    assert lo <= float(x.mean()) <= hi


def test_a_worse_candidate_with_bursty_errors_passes_the_plain_test_only() -> None:
    """1 % vs 2 % errors in bursts of ~50: the candidate is 10 margins worse. Quiet
    stretches between bursts win the plain bettor its wealth; interleaving at 250 (five
    mean burst lengths) leaves each bettor nearly independent values."""
    rng = np.random.default_rng(11)
    runs, n, alpha = 60, 20_000, 0.025
    plain = inter = 0
    for _ in range(runs):
        d = (errors(rng, n, 0.02, 50.0).astype(float) - errors(rng, n, 0.01, 50.0) + 1) / 2
        p = BoundedMeanCS(threshold=THRESHOLD, alternative="less", alpha=alpha, bets="grapa")
        i = InterleavedMeanTest(threshold=THRESHOLD, alternative="less", alpha=alpha, spacing=250)
        for chunk in np.array_split(d, 400):  # a look every 50 pairs
            p.update(chunk)
            i.update(chunk)
        plain += p.p_value <= alpha
        inter += i.p_value <= alpha
    assert plain >= 0.25 * runs  # the negative control must fail (0.55 in 400 runs)
    assert inter == 0


def test_an_error_free_stream_costs_about_spacing_times_the_pairs() -> None:
    alpha = 0.025
    reached = {}
    for k in (1, 4):
        t = InterleavedMeanTest(threshold=THRESHOLD, alternative="less", alpha=alpha, spacing=k)
        while t.p_value > alpha and t.n < 100_000:
            t.update(np.full(50, 0.5))
        reached[k] = t.n
    assert reached[1] < 5_000
    ratio = reached[4] / reached[1]
    assert 4 <= ratio <= 4 * (1 + math.log(4) / math.log(1 / alpha)) + 0.5, reached


@pytest.mark.parametrize("spacing", [0, -1, 1.5, True])
def test_a_bad_spacing_is_refused(spacing: Any) -> None:
    with pytest.raises(ValueError, match="spacing"):
        InterleavedMeanTest(threshold=0.5, spacing=spacing)
