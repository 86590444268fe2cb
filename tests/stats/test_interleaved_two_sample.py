"""InterleavedTwoSampleTest: the canary's betting pass test for bursty outcomes.

Batch equals one-by-one and the state survives JSON mid-stream; pairs are formed in each
lane from the variants the router assigned (checked against a direct construction); the
p-value is the union bound over the lanes' bettors; on a canary whose candidate fails
twice as often in bursts the variance-plug-in test passes it and this one does not, an
identical error-free canary still passes; and bad input is refused.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shadowgate.stats import BoundedMeanCS, TwoSampleMeanTest
from shadowgate.stats.datagen import errors
from shadowgate.stats.interleaved_two_sample import InterleavedTwoSampleTest
from stats.test_properties import ALTS
from stats.test_two_sample_long_run import fed_three_ways

M = 0.001  # the canary errors margin (0.1 point)


@settings(max_examples=30, deadline=None)
@given(
    st.lists(st.tuples(st.sampled_from([0.0, 1.0]), st.sampled_from([0, 1])), max_size=300),
    ALTS,
    st.integers(1, 7),
    st.lists(st.integers(1, 40), min_size=1, max_size=10),
    st.data(),
)
def test_batch_equals_one_by_one_and_json_mid_stream(
    rows: list[tuple[float, int]], alt: str, spacing: int, sizes: list[int], data: Any
) -> None:
    x = [v for v, _ in rows]
    g = [gi for _, gi in rows]

    def make() -> InterleavedTwoSampleTest:
        return InterleavedTwoSampleTest(margin=M, alternative=alt, spacing=spacing)

    batch, resumed = fed_three_ways(make, x, g, sizes, data.draw(st.integers(0, len(x))))
    assert resumed.estimate == pytest.approx(batch.estimate, nan_ok=True)


def _pairs_by_hand(x: np.ndarray, g: np.ndarray, k: int) -> list[list[float]]:
    """Each lane's differences, built the slow way the docstring states."""
    out: list[list[float]] = [[] for _ in range(k)]
    for lane in range(k):
        waiting: dict[int, float] = {}
        for v, gi in zip(x[lane::k], g[lane::k], strict=True):
            if 1 - gi in waiting:
                other = waiting.pop(1 - gi)
                out[lane].append(v - other if gi == 1 else other - v)
            else:
                waiting[int(gi)] = float(v)
    return out


def test_pairs_are_neighbours_in_each_lane_and_the_p_value_is_the_union_bound() -> None:
    k, n = 5, 30_000
    rng = np.random.default_rng(3)
    g = (rng.random(n) < 0.3).astype(int)
    x = (rng.random(n) < 0.001).astype(float)
    t = InterleavedTwoSampleTest(margin=M, alternative="less", alpha=0.025, spacing=k)
    for chunk in np.array_split(np.arange(n), 70):
        t.update(x[chunk], g[chunk])
    lanes = _pairs_by_hand(x, g, k)
    bettors = []
    for d in lanes:
        b = BoundedMeanCS(threshold=(1 + M) / 2, alternative="less", alpha=0.025, bets="grapa")
        b.update((np.asarray(d) + 1) / 2)
        bettors.append(b)
    assert t.n == n and t.pairs == sum(len(d) for d in lanes)
    assert t.p_value == pytest.approx(min(1.0, k * min(b.p_value for b in bettors)))
    all_d = np.concatenate([np.asarray(d) for d in lanes])
    assert t.estimate == pytest.approx(float(all_d.mean()))
    lo, hi = t.confidence_interval(0.05)
    assert lo <= float(all_d.mean()) <= hi


def _canary(rng: np.random.Generator, n: int, prod: float, cand: float, burst: float) -> Any:
    """As ``shadowgate simulate``'s canary: a 50 % split, each variant's own bad minutes."""
    g = rng.random(n) < 0.5
    failed = np.where(g, errors(rng, n, cand, burst), errors(rng, n, prod, burst))
    return failed.astype(float), g.astype(int)


def test_a_worse_canary_with_bursty_errors_passes_the_plug_in_test_only() -> None:
    """2 % vs 1 % in bursts of ~50, ten margins worse: the long-run two-sample pass test
    reads the quiet stretch before the candidate's first burst as rarity; interleaving at
    250 (five mean burst lengths) does not."""
    rng = np.random.default_rng(12)
    runs, n, alpha = 60, 20_000, 0.025
    plug_in = inter = 0
    for _ in range(runs):
        x, g = _canary(rng, n, 0.01, 0.02, 50.0)
        p = TwoSampleMeanTest(margin=M, alternative="less", min_variance=1e-4, variance="long-run")
        i = InterleavedTwoSampleTest(margin=M, alternative="less", alpha=alpha, spacing=250)
        for chunk in np.array_split(np.arange(n), 200):  # a look every 100 requests
            p.update(x[chunk], g[chunk])
            i.update(x[chunk], g[chunk])
        plug_in += p.p_value <= alpha
        inter += i.p_value <= alpha
    assert plug_in >= 2  # the negative control must fail (0.111 of 4 000 runs)
    assert inter == 0


def test_an_error_free_canary_passes_and_pays_about_spacing_times() -> None:
    alpha = 0.025
    reached = {}
    for k in (1, 4):
        rng = np.random.default_rng(5)
        t = InterleavedTwoSampleTest(margin=M, alternative="less", alpha=alpha, spacing=k)
        while t.p_value > alpha and t.n < 400_000:
            t.update(np.zeros(100), (rng.random(100) < 0.5).astype(int))
        reached[k] = t.n
    assert reached[1] < 25_000, reached  # a quarter of requests pair at 50 %
    assert 3.5 <= reached[4] / reached[1] <= 6.0, reached


def test_accuracy_and_bounded_losses_map_through_the_scale() -> None:
    # candidate accuracy 0.9 vs 0.8: "greater" against -margin passes
    rng = np.random.default_rng(8)
    n = 20_000
    g = (rng.random(n) < 0.5).astype(int)
    correct = (rng.random(n) < np.where(g == 1, 0.9, 0.8)).astype(float)
    t = InterleavedTwoSampleTest(margin=-0.01, alternative="greater", alpha=0.025, spacing=3)
    t.update(correct, g)
    assert t.p_value < 1e-6 and 0.05 < t.estimate < 0.15
    loss = np.where(g == 1, 2.0, 4.0) * rng.random(n)  # bound 4: candidate lower by 1
    b = InterleavedTwoSampleTest(margin=0.1, alternative="less", spacing=3, scale=4.0)
    b.update(loss, g)
    assert b.p_value < 1e-6 and -1.2 < b.estimate < -0.8
    lo, hi = b.confidence_interval(0.05)
    assert -4.0 <= lo <= b.estimate <= hi <= 4.0


@pytest.mark.parametrize(
    ("kwargs", "values", "groups", "match"),
    [
        ({"scale": 0.0}, [0.0], [0], "scale"),
        ({"margin": 2.0}, [0.0], [0], "margin"),
        ({"spacing": 0}, [0.0], [0], "spacing"),
        ({}, [0.0, 1.0], [0], "differ in length"),
        ({}, [0.0], [2], "groups must be 0"),
        ({}, [1.5], [1], r"\[0, 1\]"),
        ({}, [float("nan")], [1], "finite"),
    ],
)
def test_bad_input_is_refused(
    kwargs: dict[str, Any], values: list[float], groups: list[int], match: str
) -> None:
    with pytest.raises(ValueError, match=match):
        InterleavedTwoSampleTest(**kwargs).update(values, groups)
