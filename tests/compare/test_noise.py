"""The noise floor accumulator."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from shadowgate.compare.noise import NoiseFloor
from shadowgate.model.outcome import OutcomeRecord


def rec(
    kind: str,
    agree: list[bool] | None,
    cand_error: str | None = None,
    prod_status: int | None = 200,
    cand_status: int | None = 200,
) -> OutcomeRecord:
    r = OutcomeRecord("r", "x", "q", 0.0, kind, "production")
    r.agree, r.cand_error = agree, cand_error
    r.prod_status, r.cand_status = prod_status, cand_status
    r.prod_latency = r.cand_latency = 0.01
    return r


def test_a_5xx_is_a_failure_as_everywhere_else() -> None:
    """One definition of a failed side (``model.outcome.side_failed``): a 5xx answer on one
    side only is a mismatch, and its latency is not a latency pair; a client that went away
    fails neither side."""
    floor = NoiseFloor().update(
        [
            rec("noise", None, prod_status=503),
            rec("noise", None, cand_status=502),
            rec("noise", None, cand_error="client_closed"),
            rec("noise", None),
        ]
    )
    assert floor.error_mismatches == 2
    assert floor.latency_pairs == 2


def test_counts_noise_outcomes_only() -> None:
    floor = NoiseFloor().update(
        [
            rec("noise", [True, True, False]),
            rec("noise", [True]),
            rec("shadow", [False, False]),  # a candidate comparison: not noise
            rec("noise", None, cand_error="timeout"),
        ]
    )
    assert (floor.pairs, floor.rows, floor.disagreements, floor.error_mismatches) == (3, 4, 1, 1)
    assert floor.rate == 0.25
    ub = floor.upper_bound()
    assert ub is not None and 0.25 < ub < 1.0


def test_empty_floor_has_no_rate() -> None:
    assert NoiseFloor().rate is None and NoiseFloor().upper_bound() is None


def test_zero_disagreements_still_has_an_upper_bound() -> None:
    floor = NoiseFloor()
    floor.add_rows([True] * 20)
    assert floor.rate == 0.0
    ub = floor.upper_bound()
    assert ub is not None and 0.1 < ub < 0.2  # Wilson: ~0.161 for 0/20


@given(st.lists(st.lists(st.booleans(), max_size=5), max_size=20), st.integers(0, 20))
def test_merge_equals_one_pass_and_roundtrips(batches: list[list[bool]], cut: int) -> None:
    records = [rec("noise", b) for b in batches]
    whole = NoiseFloor().update(records)
    parts = NoiseFloor().update(records[:cut]).merge(NoiseFloor().update(records[cut:]))
    assert parts == whole
    assert NoiseFloor.from_dict(whole.to_dict()) == whole
    assert whole.disagreements == sum(b.count(False) for b in batches)


def timed(prod: float | None, cand: float | None, cand_error: str | None = None) -> OutcomeRecord:
    r = rec("noise", [True], cand_error)
    r.prod_latency, r.cand_latency = prod, cand
    return r


def test_latency_bias_is_the_mirrored_copys_relative_latency() -> None:
    floor = NoiseFloor().update(
        [
            timed(0.010, 0.011),
            timed(0.020, 0.022),
            timed(0.010, None, cand_error="timeout"),  # no latency pair
            timed(0.010, 0.5, cand_error="5xx"),  # a failed side says nothing of latency
        ]
    )
    assert floor.latency_pairs == 2
    assert floor.latency_bias is not None and abs(floor.latency_bias - 0.1) < 1e-9
    lo, hi = floor.latency_bias_interval() or (0.0, 0.0)
    assert lo - 1e-9 <= 0.1 <= hi + 1e-9


def test_latency_bias_is_zero_centred_for_identical_sides() -> None:
    import numpy as np

    rng = np.random.default_rng(3)
    base = rng.lognormal(np.log(0.003), 0.3, 4000)
    floor = NoiseFloor().update(
        timed(float(a), float(b))
        for a, b in zip(base, rng.lognormal(np.log(0.003), 0.3, 4000), strict=True)
    )
    lo, hi = floor.latency_bias_interval() or (1.0, -1.0)
    assert lo < 0.0 < hi and hi - lo < 0.05


@given(st.lists(st.tuples(st.floats(1e-4, 1.0), st.floats(1e-4, 1.0)), max_size=30))
def test_latency_sums_survive_to_dict_and_merge(pairs: list[tuple[float, float]]) -> None:
    half = len(pairs) // 2
    a = NoiseFloor().update(timed(p, c) for p, c in pairs[:half])
    b = NoiseFloor().update(timed(p, c) for p, c in pairs[half:])
    whole = NoiseFloor().update(timed(p, c) for p, c in pairs)
    merged = NoiseFloor.from_dict(a.to_dict()).merge(NoiseFloor.from_dict(b.to_dict()))
    assert merged.latency_pairs == whole.latency_pairs
    if whole.latency_bias is None:
        assert merged.latency_bias is None
    else:
        assert merged.latency_bias is not None
        assert abs(merged.latency_bias - whole.latency_bias) < 1e-9
