"""The rollout state machine table: every transition, and every refusal."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shadowgate.config.model import RouteConfig
from shadowgate.model.routing import Routing
from shadowgate.rollout.machine import (
    TABLE,
    TERMINAL,
    Event,
    RolloutState,
    State,
    TransitionError,
    from_detail,
    initial_routing,
    initial_state,
    is_final,
    routing_for,
    routing_of,
    to_detail,
    transition,
)


def go(s: RolloutState, e: Event, steps: int = 0, wait: bool = False) -> RolloutState:
    return transition(s, e, n_steps=steps, await_approval=wait, now=1.0, reason="t")


def test_shadow_without_steps_promotes_or_awaits() -> None:
    s = initial_state("shadow", (), 0.0)
    assert go(s, Event.PASSED).state is State.PROMOTED
    assert go(s, Event.PASSED, wait=True).state is State.AWAITING_APPROVAL


def test_shadow_then_canary_steps_then_promoted() -> None:
    s = initial_state("shadow", (5, 50, 100), 0.0)
    s = go(s, Event.PASSED, steps=3)
    assert (s.state, s.step) == (State.CANARY, 0)
    s = go(s, Event.STEP_PASSED, steps=3)
    assert (s.state, s.step) == (State.CANARY, 1)
    s = go(s, Event.STEP_PASSED, steps=3)
    assert (s.state, s.step) == (State.CANARY, 2)
    s = go(s, Event.STEP_PASSED, steps=3)  # past the last step: success
    assert s.state is State.PROMOTED


@pytest.mark.parametrize("state", [State.SHADOW, State.CANARY, State.AWAITING_APPROVAL])
def test_harm_rolls_back_from_every_active_state(state: State) -> None:
    assert go(RolloutState(state), Event.HARM, steps=2).state is State.ROLLED_BACK


def test_pause_and_resume_restore_state_and_step() -> None:
    s = RolloutState(State.CANARY, step=2)
    p = go(s, Event.SRM, steps=4)
    assert p.state is State.PAUSED and p.paused_from is State.CANARY and p.paused_step == 2
    r = go(p, Event.RESUME, steps=4)
    assert (r.state, r.step) == (State.CANARY, 2)


def test_refused_transitions_raise() -> None:
    with pytest.raises(TransitionError, match="cannot approve a rollout in state shadow"):
        go(RolloutState(State.SHADOW), Event.APPROVE)
    with pytest.raises(TransitionError):
        go(RolloutState(State.PROMOTED), Event.PAUSE)
    with pytest.raises(TransitionError):
        go(RolloutState(State.ROLLED_BACK), Event.PASSED)
    with pytest.raises(TransitionError):
        go(RolloutState(State.SHADOW), Event.RESUME)


@given(st.sampled_from(list(State)), st.sampled_from([Event.PROMOTE, Event.ROLLBACK]))
def test_operator_can_always_promote_or_roll_back(state: State, event: Event) -> None:
    target = State.PROMOTED if event is Event.PROMOTE else State.ROLLED_BACK
    if state is target:
        assert (state, event) not in TABLE
    else:
        assert go(RolloutState(state), event).state is target


@given(st.sampled_from(list(State)), st.sampled_from(list(Event)), st.integers(0, 3))
def test_transitions_are_total_over_the_table(state: State, event: Event, step: int) -> None:
    s = RolloutState(state, step=step, paused_from=State.SHADOW if state is State.PAUSED else None)
    if (state, event) in TABLE:
        nxt = go(s, event, steps=4)
        assert isinstance(nxt.state, State)
        assert RolloutState.from_dict(nxt.to_dict()) == nxt
    else:
        with pytest.raises(TransitionError):
            go(s, event, steps=4)


def test_routing_for_each_state() -> None:
    steps = (5.0, 50.0)
    r = routing_for(RolloutState(State.SHADOW), mode="shadow", weight=0, steps=steps)
    assert (r.mode, r.weight, r.mirror) == ("shadow", 0.0, True)
    r = routing_for(RolloutState(State.CANARY, 1), mode="shadow", weight=0, steps=steps)
    assert (r.mode, r.weight, r.mirror) == ("canary", 50.0, False)
    r = routing_for(RolloutState(State.CANARY), mode="canary", weight=10, steps=())
    assert r.weight == 10
    assert (
        routing_for(RolloutState(State.PROMOTED), mode="shadow", weight=0, steps=()).weight == 100
    )
    for s in (State.ROLLED_BACK, State.INCONCLUSIVE):
        r = routing_for(RolloutState(s), mode="canary", weight=30, steps=())
        assert (r.weight, r.mirror) == (0.0, False)
    paused = RolloutState(State.PAUSED, paused_from=State.CANARY, paused_step=1)
    assert routing_for(paused, mode="shadow", weight=0, steps=steps).weight == 50.0


def test_only_the_three_ends_are_final() -> None:
    assert {s for s in State if is_final(s)} == TERMINAL
    assert {State.PROMOTED, State.ROLLED_BACK, State.INCONCLUSIVE} == TERMINAL
    assert is_final("rolled_back") and not is_final("paused")


def _route(**kw: object) -> RouteConfig:
    return RouteConfig.model_validate(
        {
            "name": "m",
            "match": {"path_prefix": "/m"},
            "production": {"url": "http://127.0.0.1:1"},
            "candidate": {"url": "http://127.0.0.1:2"},
            **kw,
        }
    )


def test_the_routing_carries_the_rollout_its_mirror_share_and_whether_it_ended() -> None:
    route = _route(mode="canary", canary={"weight": 10}, mirror={"percent": 30})
    assert initial_routing(route, "m-1") == Routing("canary", 10.0, False, 30.0, "m-1", False)
    shadow = routing_of(RolloutState(State.SHADOW), route, "m-1")
    assert (shadow.mode, shadow.mirror, shadow.mirror_percent) == ("shadow", True, 30.0)
    for s in State:
        assert routing_of(RolloutState(s), route, "m-1").final is is_final(s)


def test_a_committed_state_reads_back_whole_with_its_split() -> None:
    route = _route(canary={"steps": [5, 50]})
    st = RolloutState(State.PAUSED, 0, State.CANARY, 1, since=12.5, reason="srm: split broken")
    routing = routing_of(st, route, "m-2")
    assert routing.weight == 50.0 and routing.mode == "canary"
    assert from_detail(to_detail(st, routing), route, "m-2") == (st, routing)
    # a state stored before the split was: the split is derived by the same function
    assert from_detail({"rollout": st.to_dict()}, route, "m-2") == (st, routing)
