"""Saved test states keep their format: states written before a change still load.

``saved_states.json`` holds one state per test, written by the release before the save and
load code moved into ``EProcessReadout``; loading and saving again must give them back.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from shadowgate.stats import (
    BoundedMeanCS,
    CountShareTest,
    PairedMeanTest,
    SignTest,
    TwoSampleMeanTest,
)

SAVED: dict[str, dict[str, Any]] = json.loads(
    (Path(__file__).parent / "saved_states.json").read_text()
)
CLASSES: dict[str, Any] = {
    "paired": PairedMeanTest,
    "two_sample": TwoSampleMeanTest,
    "bounded": BoundedMeanCS,
    "count_share": CountShareTest,
    "sign": SignTest,
}


@pytest.mark.parametrize("name", sorted(CLASSES))
def test_an_old_state_loads_and_saves_back_unchanged(name: str) -> None:
    old = SAVED[name]
    test = CLASSES[name].from_dict(old)
    assert test.to_dict() == old
    assert test.n > 0


@pytest.mark.parametrize(
    ("name", "dropped", "attribute", "default"),
    [
        ("paired", "variance", "variance", "iid"),
        ("paired", "min_variance", "min_variance", 0.0),
        ("two_sample", "min_variance", "min_variance", 0.0),
        ("bounded", "bets", "bets", "eb"),
    ],
)
def test_a_parameter_older_states_lack_takes_its_default(
    name: str, dropped: str, attribute: str, default: Any
) -> None:
    old = dict(SAVED[name])
    del old[dropped]
    if name == "paired":
        old["long_run"] = None  # an i.i.d. state has no long-run statistics
    test = CLASSES[name].from_dict(old)
    assert getattr(test, attribute) == default
    assert test.n == CLASSES[name].from_dict(SAVED[name]).n


def test_a_bounded_state_without_wealth_loads() -> None:
    old = dict(SAVED["bounded"])
    del old["wealth"]
    assert BoundedMeanCS.from_dict(old).to_dict()["wealth"] == [0.0, 0.0]


@pytest.mark.parametrize("name", sorted(CLASSES))
def test_a_state_of_another_kind_is_refused(name: str) -> None:
    other = "sign" if name != "sign" else "paired"
    with pytest.raises(ValueError, match="state is for"):
        CLASSES[name].from_dict(SAVED[other])


@pytest.mark.parametrize("name", sorted(CLASSES))
def test_a_state_missing_a_required_parameter_is_refused(name: str) -> None:
    old = dict(SAVED[name])
    del old[CLASSES[name].params[0]]
    with pytest.raises(KeyError):
        CLASSES[name].from_dict(old)
