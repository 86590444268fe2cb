"""What each test means: directions, estimates, intervals, input errors, the family."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.special import betaincc, betaln

from shadowgate.stats import (
    BoundedMeanCS,
    CountShareTest,
    PairedMeanTest,
    SignTest,
    TestFamily,
    TwoSampleMeanTest,
)
from shadowgate.stats.sign import sign_log_e, sign_prior

RNG = np.random.default_rng(0)


def test_nothing_seen_means_p_one() -> None:
    for t in (PairedMeanTest(), SignTest(), CountShareTest(), TwoSampleMeanTest(), BoundedMeanCS()):
        assert t.p_value == 1.0
        assert t.n == 0


def test_paired_directions_and_margin() -> None:
    slower = RNG.normal(0.2, 1.0, 3000)  # candidate 0.2 higher
    greater, less = PairedMeanTest(alternative="greater"), PairedMeanTest(alternative="less")
    for t in (greater, less):
        t.update(slower)
    assert greater.reject(0.01) and not less.reject(0.05)
    # non-inferiority: within a margin of 0.5 -> "less" with margin rejects
    pass_test = PairedMeanTest(margin=0.5, alternative="less", mde=0.3)
    pass_test.update(slower)
    assert pass_test.reject(0.01)
    lo, hi = pass_test.confidence_interval(0.05)
    assert lo < pass_test.estimate < hi and hi < 0.5


def test_paired_is_scale_free_without_mde() -> None:
    x = RNG.normal(0.1, 1.0, 2000)
    a, b = PairedMeanTest(), PairedMeanTest()
    a.update(x)
    b.update(x * 1000.0)
    assert math.isclose(a.p_value, b.p_value, rel_tol=1e-6)


def test_two_sample_detects_shift_in_the_right_direction() -> None:
    g = (RNG.random(4000) < 0.3).astype(int)
    x = RNG.normal(0.0, 1.0, 4000) + 0.25 * g
    harm, other = TwoSampleMeanTest(alternative="greater"), TwoSampleMeanTest(alternative="less")
    for t in (harm, other):
        t.update(x, g)
    assert harm.reject(0.01) and not other.reject(0.05)
    lo, hi = harm.confidence_interval()
    assert lo < 0.25 < hi


def test_sign_matches_closed_form_and_exact_tail() -> None:
    signs = RNG.choice([1, -1, 0], p=[0.4, 0.3, 0.3], size=500)
    t = SignTest(alternative="greater")
    t.update(signs)
    a, b = sign_prior(0.5, 0.1)
    s, f = t.counts
    expect = betaln(a + s, b + f) - betaln(a, b) - (s + f) * math.log(0.5)
    expect += math.log(betaincc(a + s, b + f, 0.5)) - math.log(betaincc(a, b, 0.5))
    assert math.isclose(math.log(t.e_value), expect, rel_tol=1e-9)
    z = np.zeros(1)
    _, _, _, tail = sign_log_e(
        signs.reshape(1, -1).astype(float), z, z, p0=0.5, a=a, b=b, alternative="greater"
    )
    assert math.isclose(tail[0, -1], betaincc(a + s, b + f, 0.5), rel_tol=1e-9)


def test_sign_ties_are_ignored() -> None:
    a, b = SignTest(), SignTest()
    a.update([1, 1, -1, 1])
    b.update([0, 1, 0, 1, -1, 0, 1, 0])
    assert a.p_value == b.p_value and a.n == b.n == 4


def test_count_share_equals_dirichlet_multinomial_bayes_factor() -> None:
    v = (RNG.random(2000) < 0.12).astype(int)
    t = CountShareTest(shares=(0.9, 0.1), k=100)
    t.update(v)
    x1 = int(v.sum())
    x0 = v.size - x1
    alpha0 = np.array([90.0, 10.0])
    log_bf = (
        betaln(alpha0[0] + x0, alpha0[1] + x1)
        - betaln(alpha0[0], alpha0[1])
        - x0 * math.log(0.9)
        - x1 * math.log(0.1)
    )
    assert math.isclose(math.log(t.e_value), log_bf, rel_tol=1e-9)


def test_count_share_one_sided_asks_about_excess() -> None:
    more = (RNG.random(3000) < 0.2).astype(int)  # candidate has 2x+ its 10% share
    harm, fewer = CountShareTest(alternative="greater"), CountShareTest(alternative="less")
    for t in (harm, fewer):
        t.update(more)
    assert harm.reject(0.01) and not fewer.reject(0.05)
    lo, hi = harm.confidence_interval(0.05)
    assert 1.0 < lo < harm.estimate < hi


def test_count_share_rejects_bad_shares() -> None:
    with pytest.raises(ValueError, match="summing to 1"):
        CountShareTest(shares=(0.5, 0.6))
    t = CountShareTest()
    with pytest.raises(ValueError, match="0 \\(production\\) or 1"):
        t.update([0, 2])


def test_bounded_threshold_directions_and_interval() -> None:
    x = (RNG.random(3000) < 0.95).astype(float)
    passed, harm = (
        BoundedMeanCS(threshold=0.9, alternative="greater"),
        BoundedMeanCS(threshold=0.9, alternative="less"),
    )
    for t in (passed, harm):
        t.update(x)
    assert passed.reject(0.01) and not harm.reject(0.05)
    lo, hi = passed.confidence_interval(0.05)
    assert 0.9 < lo < passed.estimate < hi <= 1.0
    with pytest.raises(ValueError, match="\\[0, 1\\]"):
        passed.update([1.5])


def test_bounded_without_threshold_only_estimates() -> None:
    t = BoundedMeanCS()
    t.update(RNG.random(100))
    assert t.p_value == 1.0
    lo, hi = t.confidence_interval(0.05)
    assert 0.0 <= lo < t.estimate < hi <= 1.0


def test_bad_alternative_is_named() -> None:
    with pytest.raises(ValueError, match="two-sided, greater, less"):
        PairedMeanTest(alternative="bigger")


def test_family_bonferroni_names_the_deciding_check() -> None:
    errors, latency = SignTest(alternative="greater"), PairedMeanTest(alternative="greater")
    latency.update(RNG.normal(0.0, 1.0, 500))
    errors.update([1] * 40)
    fam = TestFamily({"errors": errors, "latency": latency}, alpha=0.05)
    res = fam.result()
    assert res.reject and res.decided_by == "errors"
    assert res.alpha_shares == {"errors": 0.025, "latency": 0.025}


def test_family_e_average_keeps_running_maximum() -> None:
    t = SignTest(alternative="greater")
    fam = TestFamily({"a": t, "b": SignTest()}, alpha=0.05, method="e-average")
    assert not fam.result().reject
    t.update([1] * 60)
    res = fam.result()
    assert res.reject and res.decided_by == "a"
    t.update([-1] * 400)  # evidence drops, the family's decision stands
    assert fam.result().reject
