"""The (metric, phase) table: every check builds the tests its docstring promises."""

from __future__ import annotations

import math

import pytest

from shadowgate.config.model import CheckConfig
from shadowgate.rollout.checks import spec_for
from shadowgate.stats import BoundedMeanCS, PairedMeanTest, TwoSampleMeanTest


def built(metric: str, phase: str, method: str = "long-run", **kw: object) -> tuple[object, ...]:
    spec = spec_for(CheckConfig(metric=metric, **kw), phase, method=method)  # type: ignore[arg-type]
    assert spec is not None
    return spec.make_harm(), spec.make_pass(), spec.make_display()


def test_errors_in_shadow_harm_long_run_pass_by_betting() -> None:
    harm, pass_, display = built("errors", "shadow")
    assert isinstance(harm, PairedMeanTest) and harm.variance == "long-run"
    assert math.isclose(harm.margin, (1 + 0.001) / 2) and harm.alternative == "greater"
    assert isinstance(pass_, BoundedMeanCS) and pass_.bets == "grapa"
    assert pass_.alternative == "less" and math.isclose(pass_.threshold or 0, 0.5005)
    assert isinstance(display, BoundedMeanCS)


def test_latency_margins_are_log_ratios_and_superiority_moves_the_pass_boundary() -> None:
    harm, pass_, _ = built("latency", "shadow", margin=0.1)
    assert isinstance(harm, PairedMeanTest) and isinstance(pass_, PairedMeanTest)
    assert math.isclose(harm.margin, math.log(1.1)) and math.isclose(pass_.margin, math.log(1.1))
    assert (harm.alternative, pass_.alternative) == ("greater", "less")
    _, sup, _ = built("latency", "shadow", margin=0.1, goal="superior")
    assert isinstance(sup, PairedMeanTest) and sup.margin == 0.0


def test_agreement_is_a_level_with_a_variance_floor_and_not_observable_in_canary() -> None:
    harm, pass_, _ = built("agreement", "shadow", min=0.9)
    assert isinstance(harm, PairedMeanTest) and harm.alternative == "less"
    assert isinstance(pass_, PairedMeanTest) and pass_.alternative == "greater"
    assert harm.margin == 0.9 and math.isclose(harm.min_variance, 0.9 * 0.1 / 4)
    assert spec_for(CheckConfig(metric="agreement"), "canary") is None


@pytest.mark.parametrize(
    ("metric", "harm_margin", "harm_alt"),
    [
        ("errors", 0.001, "greater"),
        ("latency", math.log(1.1), "greater"),
        ("accuracy", -0.01, "less"),
        ("loss", 0.01, "greater"),
    ],
)
def test_canary_rows_are_two_sample_tests(metric: str, harm_margin: float, harm_alt: str) -> None:
    harm, pass_, display = built(metric, "canary")
    assert isinstance(harm, TwoSampleMeanTest) and isinstance(pass_, TwoSampleMeanTest)
    assert math.isclose(harm.margin, harm_margin) and harm.alternative == harm_alt
    assert isinstance(display, TwoSampleMeanTest)


def test_iid_method_builds_the_earlier_tests() -> None:
    harm, pass_, _ = built("errors", "shadow", method="iid")
    assert isinstance(harm, BoundedMeanCS) and harm.bets == "eb"
    assert isinstance(pass_, BoundedMeanCS) and pass_.bets == "eb"
    lat, _, _ = built("latency", "shadow", method="iid")
    assert isinstance(lat, PairedMeanTest) and lat.variance == "iid"


@pytest.mark.parametrize("metric", ["errors", "accuracy"])
def test_a_constant_zero_one_stream_is_evidence_in_shadow(metric: str) -> None:
    """A candidate failing (or missing) every row while production never does gives a
    constant stream of paired differences: it must roll back, not carry no evidence."""
    import numpy as np

    spec = spec_for(CheckConfig(metric=metric), "shadow")  # type: ignore[arg-type]
    assert spec is not None
    harm = spec.make_harm()
    worst = 1.0 if metric == "errors" else 0.0  # (fail_c - fail_p + 1) / 2, correct likewise
    harm.update(np.full(400, worst))
    assert harm.p_value < 1e-6
    same = spec.make_harm()
    same.update(np.full(5_000, 0.5))  # identical: never harm
    assert same.p_value == 1.0


@pytest.mark.parametrize("metric", ["errors", "accuracy"])
def test_a_constant_zero_one_stream_is_evidence_in_canary(metric: str) -> None:
    import numpy as np

    spec = spec_for(CheckConfig(metric=metric), "canary")  # type: ignore[arg-type]
    assert spec is not None
    harm = spec.make_harm()
    prod, cand = (0.0, 1.0) if metric == "errors" else (1.0, 0.0)
    groups = np.tile([0, 1], 300)
    harm.update(np.where(groups == 1, cand, prod), groups)
    assert harm.p_value < 1e-6
