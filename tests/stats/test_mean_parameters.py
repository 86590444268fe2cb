"""Both mean tests refuse the same bad parameters with the same located messages."""

from __future__ import annotations

from typing import Any

import pytest

from shadowgate.stats import PairedMeanTest, TwoSampleMeanTest


@pytest.mark.parametrize("cls", [PairedMeanTest, TwoSampleMeanTest])
@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"mde": 0.0}, "mde must be a positive number or None; got 0.0"),
        ({"mde": float("nan")}, "mde must be a positive number or None"),
        ({"burn_in": 1}, "burn_in must be at least 2 "),
        ({"min_variance": -1.0}, "min_variance must be a number >= 0; got -1.0"),
    ],
)
def test_a_bad_parameter_is_refused(cls: Any, kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        cls(**kwargs)


def test_the_burn_in_error_says_what_it_counts() -> None:
    with pytest.raises(ValueError, match="at least 2 per group; got 1"):
        TwoSampleMeanTest(burn_in=1)
    with pytest.raises(ValueError, match=r"at least 2 \(a variance needs 2 values\); got 1"):
        PairedMeanTest(burn_in=1)


def test_good_parameters_are_kept_typed() -> None:
    t = PairedMeanTest(mde=1, burn_in=3, min_variance=0)
    assert (t.mde, t.burn_in, t.min_variance) == (1.0, 3, 0.0)
    assert isinstance(t.mde, float) and isinstance(t.min_variance, float)
