"""The rollout state machine table: every transition, and every refusal."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shadowgate.rollout.machine import (
    TABLE,
    Event,
    RolloutState,
    State,
    TransitionError,
    initial_state,
    routing_for,
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
