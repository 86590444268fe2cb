"""The routing contract: one frozen value, checked on construction, stored and read back whole."""

from __future__ import annotations

import dataclasses

import pytest

from shadowgate.model.outcome import side_failed
from shadowgate.model.routing import Routing


def test_a_routing_round_trips_and_is_frozen() -> None:
    r = Routing("canary", 25.0, mirror=False, mirror_percent=40.0, rollout_id="m-3", final=True)
    assert Routing.from_dict(r.to_dict()) == r
    with pytest.raises(dataclasses.FrozenInstanceError):
        r.weight = 50.0  # type: ignore[misc]


def test_the_candidate_share_is_the_weight_only_in_canary_mode() -> None:
    assert Routing("canary", 25.0).candidate_share == 25.0
    assert Routing("shadow", 25.0).candidate_share == 0.0


@pytest.mark.parametrize(
    ("kw", "message"),
    [
        ({"mode": "blue"}, "mode must be shadow or canary, not 'blue'"),
        ({"mode": "canary", "weight": 101.0}, "weight must be within [0, 100], not 101.0"),
        ({"mode": "shadow", "mirror_percent": -1.0}, "mirror percent must be within"),
    ],
)
def test_bad_routings_are_refused_with_what_is_wrong(kw: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError) as exc:
        Routing(**kw)  # type: ignore[arg-type]
    assert message in str(exc.value)
    with pytest.raises(ValueError, match="mode must be"):
        Routing.from_dict({"mode": "green"})


def test_failed_is_defined_once_for_every_side() -> None:
    assert side_failed("timeout", None) and side_failed("5xx", 503)
    assert not side_failed("client_closed", None)  # the client's doing, not a model's
    assert side_failed(None, 500) and side_failed(None, None)
    assert not side_failed(None, 200) and not side_failed(None, 404)
