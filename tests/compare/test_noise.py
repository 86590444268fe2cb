"""The noise floor accumulator."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from shadowgate.compare.noise import NoiseFloor
from shadowgate.model.outcome import OutcomeRecord


def rec(kind: str, agree: list[bool] | None, cand_error: str | None = None) -> OutcomeRecord:
    r = OutcomeRecord("r", "x", "q", 0.0, kind, "production")
    r.agree, r.cand_error = agree, cand_error
    return r


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
