"""``rollout.steering``: what each file edit does in each non-terminal state (pure)."""

from __future__ import annotations

from typing import Any

import pytest

from shadowgate.config.model import RouteConfig, ShadowgateConfig
from shadowgate.rollout.machine import (
    RolloutState,
    State,
    TransitionError,
    routing_of,
)
from shadowgate.rollout.steering import Steering, steer

STEPS = (10.0, 30.0, 60.0)


def route(**kw: Any) -> RouteConfig:
    r: dict[str, Any] = {
        "name": "m",
        "match": {"path_prefix": "/m"},
        "production": {"url": "http://127.0.0.1:1"},
        "candidate": {"url": "http://127.0.0.1:2"},
        "after_promotion": {"bake": "1m", "mirror_percent": 10},
    }
    r.update(kw)
    return ShadowgateConfig.model_validate({"routes": [r]}).routes[0]


def edit(st: RolloutState, old: RouteConfig, new: RouteConfig) -> tuple[RolloutState, Any]:
    """Apply the edit ``old → new`` to ``st``; the new state and the split it implies."""
    before, after = Steering.of(old), Steering.of(new)
    why = "file edit: " + ", ".join(before.changes(after))
    out = steer(st, before, after, steps=new.canary.steps, now=50.0, reason=why)
    return out, routing_of(out, new)


def test_changes_name_every_key_including_the_bake_share() -> None:
    a = Steering.of(route())
    b = Steering.of(
        route(
            mode="canary",
            canary={"weight": 20},
            mirror={"percent": 50},
            after_promotion={"bake": "1m", "mirror_percent": 30},
        )
    )
    assert a.changes(b) == [
        "mode shadow → canary",
        "canary.weight 0 → 20",
        "mirror.percent 100 → 50",
        "after_promotion.mirror_percent 10 → 30",
    ]
    assert Steering.from_dict(b.to_dict()) == b
    # a stored steering from before the bake share was kept reads the route's
    old = {"mode": "shadow", "weight": 0.0, "mirror_percent": 100.0}
    assert Steering.from_dict(old, route()).changes(a) == []


def test_shadow_edits() -> None:
    base = route()
    st = RolloutState(State.SHADOW, since=1.0)
    out, r = edit(st, base, route(mirror={"percent": 25}))
    assert out.state is State.SHADOW and out.since == 1.0
    assert (r.mode, r.mirror, r.mirror_percent) == ("shadow", True, 25.0)
    out, r = edit(st, base, route(canary={"weight": 20}))
    assert out.state is State.SHADOW and r.mode == "shadow"
    assert "canary.weight has no effect in mode shadow" in out.reason
    out, r = edit(st, base, route(mode="canary", canary={"weight": 20}))
    assert (out.state, out.since, r.mode, r.weight) == (State.CANARY, 50.0, "canary", 20.0)
    out, r = edit(st, base, route(mode="canary", canary={"weight": 35, "steps": STEPS}))
    assert (out.step, out.weight, r.weight) == (1, 35.0, 35.0)


def test_canary_edits() -> None:
    base = route(mode="canary", canary={"weight": 20})
    st = RolloutState(State.CANARY, since=1.0)
    out, r = edit(st, base, route(mode="canary", canary={"weight": 50}))
    assert (out.state, out.since, r.weight) == (State.CANARY, 1.0, 50.0)
    out, r = edit(st, base, route(mode="canary", canary={"weight": 20}, mirror={"percent": 5}))
    assert "mirror.percent has no effect on a canary split" in out.reason
    out, r = edit(st, base, route(mode="shadow", canary={"weight": 20}))
    assert (out.state, r.mode, r.mirror) == (State.SHADOW, "shadow", True)
    stepped = route(mode="canary", canary={"weight": 0, "steps": STEPS})
    out, r = edit(
        RolloutState(State.CANARY, 0),
        stepped,
        route(mode="canary", canary={"weight": 60, "steps": STEPS}),
    )
    assert (out.step, out.weight, r.weight) == (2, 60.0, 60.0)


def test_paused_edits_change_what_resume_returns_to() -> None:
    base = route(mode="canary", canary={"weight": 20})
    st = RolloutState(State.PAUSED, paused_from=State.CANARY, since=1.0)
    out, r = edit(st, base, route(mode="canary", canary={"weight": 40}))
    assert (out.state, out.paused_from, r.weight, r.mode) == (
        State.PAUSED,
        State.CANARY,
        40.0,
        "canary",
    )
    out, r = edit(st, base, route(mode="shadow", canary={"weight": 20}))
    assert (out.paused_from, r.mode) == (State.SHADOW, "shadow")


@pytest.mark.parametrize("steps", [(), STEPS])
def test_awaiting_approval_keeps_its_state_and_its_split_follows(steps: tuple[float, ...]) -> None:
    base = route(canary={"weight": 0, "steps": steps})
    st = RolloutState(State.AWAITING_APPROVAL, since=1.0)
    held = routing_of(st, base)
    assert held.mode == ("canary" if steps else "shadow")  # holds the last stage
    out, r = edit(st, base, route(mode="canary", canary={"weight": 15, "steps": steps}))
    assert (out.state, out.since, r.mode, r.weight) == (
        State.AWAITING_APPROVAL,
        1.0,
        "canary",
        15.0,
    )
    out2, r = edit(
        out,
        route(mode="canary", canary={"weight": 15, "steps": steps}),
        route(mode="shadow", canary={"weight": 15, "steps": steps}),
    )
    assert (out2.state, r.mode, r.mirror) == (State.AWAITING_APPROVAL, "shadow", True)
    _, r = edit(out2, route(), route(mirror={"percent": 40}))
    assert (r.mode, r.mirror_percent) == ("shadow", 40.0)
    # a weight edit alone: a held canary moves to it; a held shadow stage says it has no effect
    out4, r = edit(st, base, route(canary={"weight": 45, "steps": steps}))
    assert out4.state is State.AWAITING_APPROVAL
    if steps:
        assert (r.mode, r.weight) == ("canary", 45.0)
    else:
        assert r.mode == "shadow" and "canary.weight has no effect in mode shadow" in out4.reason


def test_baking_mirror_edits_set_the_share_mirrored_to_the_former_production() -> None:
    base = route()
    st = RolloutState(State.BAKING, since=1.0)
    assert routing_of(st, base).mirror_percent == 10.0
    out, r = edit(st, base, route(mirror={"percent": 40}))
    assert (out.state, out.since, out.mirror) == (State.BAKING, 1.0, 40.0)
    assert (r.reverse, r.candidate_share, r.mirror_percent) == (True, 100.0, 40.0)
    assert "40% of requests are now mirrored to the former production" in out.reason
    # the later edit wins: after_promotion.mirror_percent
    newer = route(mirror={"percent": 40}, after_promotion={"bake": "1m", "mirror_percent": 5})
    out, r = edit(out, route(mirror={"percent": 40}), newer)
    assert r.mirror_percent == 5.0
    # in one edit, the after_promotion key wins
    both = route(mirror={"percent": 70}, after_promotion={"bake": "1m", "mirror_percent": 20})
    assert edit(st, base, both)[1].mirror_percent == 20.0


def test_baking_pulls_back_to_a_canary_or_to_shadow() -> None:
    base = route()
    st = RolloutState(State.BAKING, since=1.0)
    out, r = edit(st, base, route(mode="canary", canary={"weight": 30}))
    assert (out.state, out.since, r.mode, r.weight, r.reverse) == (
        State.CANARY,
        50.0,
        "canary",
        30.0,
        False,
    )
    assert "pulled back to a canary at 30%" in out.reason
    out, r = edit(st, base, route(mode="canary", canary={"weight": 0, "steps": STEPS}))
    assert (out.state, out.step, r.weight) == (State.CANARY, 0, 10.0)
    canary = route(mode="canary", canary={"weight": 100})
    out, r = edit(st, canary, route(mode="canary", canary={"weight": 25}))
    assert (out.state, r.weight) == (State.CANARY, 25.0)
    out, r = edit(st, canary, route(mode="shadow", canary={"weight": 100}))
    assert (out.state, r.mode, r.mirror, r.reverse) == (State.SHADOW, "shadow", True, False)
    assert "pulled back to shadow" in out.reason


def test_baking_edits_that_change_nothing_say_so() -> None:
    st = RolloutState(State.BAKING, since=1.0)
    out, r = edit(st, route(), route(mode="canary", canary={"weight": 100}))
    assert out.state is State.BAKING and r.reverse
    assert "already serves 100% while baking" in out.reason
    out, r = edit(st, route(), route(canary={"weight": 40}))
    assert out.state is State.BAKING and "no effect in mode shadow" in out.reason


@pytest.mark.parametrize("state", [State.PROMOTED, State.ROLLED_BACK, State.INCONCLUSIVE])
def test_a_terminal_state_is_not_steered(state: State) -> None:
    with pytest.raises(TransitionError, match="restart begins a new rollout"):
        edit(RolloutState(state), route(), route(mode="canary", canary={"weight": 5}))
