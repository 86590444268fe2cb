"""TwoSampleMeanTest(variance="long-run"): each group's plug-in is its own long-run
variance. Batch equals one-by-one, the state survives JSON mid-stream, the i.i.d. state
keeps its format, and bursty errors in one group no longer look like a difference."""

from __future__ import annotations

import json
import math
from typing import Any

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from shadowgate.stats import TwoSampleMeanTest
from shadowgate.stats.datagen import errors
from stats.test_long_run import same
from stats.test_properties import ALTS


@settings(max_examples=30, deadline=None)
@given(
    st.lists(st.tuples(st.floats(-5, 5, allow_nan=False), st.booleans()), min_size=0, max_size=400),
    ALTS,
    st.lists(st.integers(1, 60), min_size=1, max_size=10),
    st.data(),
)
def test_batch_equals_one_by_one_and_json_mid_stream(
    rows: list[tuple[float, bool]], alt: str, sizes: list[int], data: Any
) -> None:
    x = [r[0] for r in rows]
    g = [int(r[1]) for r in rows]

    def make() -> TwoSampleMeanTest:
        return TwoSampleMeanTest(
            margin=0.1, alternative=alt, variance="long-run", min_variance=0.01, burn_in=5
        )

    fed_three_ways(make, x, g, sizes, data.draw(st.integers(0, len(x))))


def fed_three_ways(
    make: Any, x: list[float], g: list[int], sizes: list[int], cut: int
) -> tuple[Any, Any]:
    """A two-sample test fed whole, in chunks of ``sizes``, and through JSON at ``cut``
    then one by one: all three must be bit-identical. Returns the whole and the restored."""
    whole = make()
    whole.update(x, g)
    chunked = make()
    i = 0
    for k in sizes * 40:
        if i >= len(x):
            break
        chunked.update(x[i : i + k], g[i : i + k])
        i += k
    chunked.update(x[i:], g[i:])
    same(whole, chunked)
    first = make()
    first.update(x[:cut], g[:cut])
    restored = type(first).from_dict(json.loads(json.dumps(first.to_dict())))
    for j in range(cut, len(x)):
        restored.update(x[j : j + 1], g[j : j + 1])
    same(whole, restored)
    return whole, restored


def test_the_iid_state_keeps_its_format() -> None:
    t = TwoSampleMeanTest(margin=0.0)
    t.update([1.0, 2.0, 3.0], [0, 1, 0])
    d = t.to_dict()
    assert "variance" not in d and "long_run" not in d
    assert TwoSampleMeanTest.from_dict(d).to_dict() == d
    lr = TwoSampleMeanTest(margin=0.0, variance="long-run")
    lr.update([1.0, 2.0, 3.0], [0, 1, 0])
    assert lr.to_dict()["variance"] == "long-run"
    assert TwoSampleMeanTest.from_dict(lr.to_dict()).variance == "long-run"


def test_on_iid_data_it_is_never_narrower_and_not_much_wider_than_the_iid_test() -> None:
    rng = np.random.default_rng(3)
    x, g = rng.normal(size=20_000), rng.random(20_000) < 0.5
    iid = TwoSampleMeanTest(margin=0.0, variance="iid")
    lr = TwoSampleMeanTest(margin=0.0, variance="long-run")
    iid.update(x, g)
    lr.update(x, g)
    # the price of reading batch means at their upper bound (as in the paired test): a
    # larger plug-in on i.i.d. data, by 1.0-2.5 times at 10 000 per group
    for grp in (0, 1):
        assert iid.plug_in(grp) <= lr.plug_in(grp) < 2.5 * iid.plug_in(grp)
    lo_i, hi_i = iid.confidence_interval(0.05)
    lo_l, hi_l = lr.confidence_interval(0.05)
    assert lo_l <= lo_i and hi_l >= hi_i  # never narrower than the i.i.d. interval


def test_bursty_errors_in_a_canary_no_longer_look_like_harm() -> None:
    """A/A canary, each variant failing 1 % of its requests in bursts of ~50: the i.i.d.
    plug-in rolls back (the negative control); the long-run one holds."""
    rng = np.random.default_rng(9)
    runs, n, alpha = 40, 20_000, 0.005
    hits = {"iid": 0, "long-run": 0}
    for _ in range(runs):
        cand = rng.random(n) < 0.5
        failed = np.where(cand, errors(rng, n, 0.01, 50.0), errors(rng, n, 0.01, 50.0))
        for variance in hits:
            t = TwoSampleMeanTest(
                margin=0.001, alternative="greater", variance=variance, min_variance=1e-4
            )
            for lo in range(0, n, 500):
                t.update(failed[lo : lo + 500].astype(float), cand[lo : lo + 500])
            hits[variance] += t.p_value <= alpha
    assert hits["iid"] >= 0.2 * runs, hits  # the negative control must fail
    assert hits["long-run"] <= 1 + math.ceil(runs * alpha), hits


@settings(max_examples=20, deadline=None)
@given(
    st.lists(st.tuples(st.sampled_from([0.0, 1.0]), st.booleans()), max_size=300),
    st.lists(st.integers(1, 60), min_size=1, max_size=10),
)
def test_tests_updated_together_equal_tests_updated_alone(
    rows: list[tuple[float, bool]], sizes: list[int]
) -> None:
    """A canary check's harm, pass and display tests share one computation of the moments."""
    from shadowgate.stats.two_sample import update_together

    def trio() -> list[TwoSampleMeanTest]:
        return [
            TwoSampleMeanTest(
                margin=0.001, alternative="greater", variance="long-run", min_variance=1e-4
            ),
            TwoSampleMeanTest(
                margin=0.001, alternative="less", variance="long-run", min_variance=1e-4
            ),
            TwoSampleMeanTest(variance="long-run"),
        ]

    x = [r[0] for r in rows]
    g = [int(r[1]) for r in rows]
    alone, together = trio(), trio()
    i = 0
    for k in sizes * 40:
        if i >= len(x):
            break
        for t in alone:
            t.update(x[i : i + k], g[i : i + k])
        update_together(together, x[i : i + k], g[i : i + k])
        i += k
    for a, b in zip(alone, together, strict=True):
        same(a, b)
