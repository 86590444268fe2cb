"""The rollout state machine: one table of transitions, nothing else decides a state.

States (DESIGN §4): shadow, canary (with its step), awaiting_approval, promoted,
rolled_back, paused, inconclusive. Events come from the judge's verdicts or from an
operator. Everything that affects the state machine lives in this file.

    shadow ──passed──► canary[0] ──step_passed──► canary[i+1] … ──passed──► promoted
       │                  │                                       └─(await)─► awaiting_approval
       └──harm──► rolled_back ◄──harm── canary            awaiting_approval ──approve──► promoted
    any active ──limit──► inconclusive     canary ──srm──► paused ──resume──► (previous)
    any ──promote/rollback (operator)──► promoted / rolled_back
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Any, Literal


class State(StrEnum):
    SHADOW = "shadow"
    CANARY = "canary"
    AWAITING_APPROVAL = "awaiting_approval"
    PROMOTED = "promoted"
    ROLLED_BACK = "rolled_back"
    PAUSED = "paused"
    INCONCLUSIVE = "inconclusive"


class Event(StrEnum):
    PASSED = "passed"  # every check passed (final stage) → promote or await approval
    STEP_PASSED = "step_passed"  # the current canary step passed and more steps remain
    HARM = "harm"  # a guardrail's harm test rejected
    LIMIT = "limit"  # max_samples or deadline reached
    SRM = "srm"  # sample-ratio mismatch in canary: the split is broken
    PROMOTE = "promote"  # operator
    ROLLBACK = "rollback"  # operator
    APPROVE = "approve"  # operator
    PAUSE = "pause"  # operator
    RESUME = "resume"  # operator


TERMINAL = frozenset({State.PROMOTED, State.ROLLED_BACK, State.INCONCLUSIVE})
ACTIVE = frozenset({State.SHADOW, State.CANARY})


class Target(StrEnum):
    """Symbolic targets resolved by ``transition`` (they depend on the route's settings)."""

    AFTER_SHADOW = "after_shadow"  # canary[0] if steps, else final success
    NEXT_STEP = "next_step"
    SUCCESS = "success"  # promoted, or awaiting_approval when on_success: await_approval
    PREVIOUS = "previous"  # the state before the pause


#: (state, event) → next state or symbolic target. Pairs not listed are refused.
TABLE: dict[tuple[State, Event], State | Target] = {
    (State.SHADOW, Event.PASSED): Target.AFTER_SHADOW,
    (State.SHADOW, Event.HARM): State.ROLLED_BACK,
    (State.SHADOW, Event.LIMIT): State.INCONCLUSIVE,
    (State.CANARY, Event.STEP_PASSED): Target.NEXT_STEP,
    (State.CANARY, Event.PASSED): Target.SUCCESS,
    (State.CANARY, Event.HARM): State.ROLLED_BACK,
    (State.CANARY, Event.LIMIT): State.INCONCLUSIVE,
    (State.CANARY, Event.SRM): State.PAUSED,
    (State.AWAITING_APPROVAL, Event.APPROVE): State.PROMOTED,
    (State.AWAITING_APPROVAL, Event.HARM): State.ROLLED_BACK,
    (State.PAUSED, Event.RESUME): Target.PREVIOUS,
    # operators may always promote or roll back, from any state
    **{(s, Event.PROMOTE): State.PROMOTED for s in State if s is not State.PROMOTED},
    **{(s, Event.ROLLBACK): State.ROLLED_BACK for s in State if s is not State.ROLLED_BACK},
    **{
        (s, Event.PAUSE): State.PAUSED
        for s in (State.SHADOW, State.CANARY, State.AWAITING_APPROVAL)
    },
}


class TransitionError(ValueError):
    """The event is not allowed in the current state (e.g. approve while in shadow)."""

    error_status_hint = 409


@dataclass(frozen=True)
class RolloutState:
    """Where a rollout stands. ``step`` indexes ``canary.steps`` while in canary."""

    state: State = State.SHADOW
    step: int = 0
    #: the state (and step) to return to on resume
    paused_from: State | None = None
    paused_step: int = 0
    since: float = 0.0
    reason: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "state": self.state.value,
            "step": self.step,
            "paused_from": self.paused_from.value if self.paused_from else None,
            "paused_step": self.paused_step,
            "since": self.since,
            "reason": self.reason,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> RolloutState:
        return cls(
            state=State(d["state"]),
            step=int(d.get("step", 0)),
            paused_from=State(d["paused_from"]) if d.get("paused_from") else None,
            paused_step=int(d.get("paused_step", 0)),
            since=float(d.get("since", 0.0)),
            reason=str(d.get("reason", "")),
        )


def initial_state(mode: str, steps: tuple[float, ...], now: float) -> RolloutState:
    """A new rollout starts in shadow, or directly at the first canary stage in canary mode."""
    if mode == "canary":
        return RolloutState(State.CANARY, 0, since=now, reason="rollout started in canary mode")
    return RolloutState(State.SHADOW, 0, since=now, reason="rollout started in shadow mode")


def allowed(state: State, event: Event) -> bool:
    return (state, event) in TABLE


def transition(
    current: RolloutState,
    event: Event,
    *,
    n_steps: int,
    await_approval: bool,
    now: float,
    reason: str,
) -> RolloutState:
    """Apply ``event``; raise ``TransitionError`` when the table has no such transition."""
    target = TABLE.get((current.state, event))
    if target is None:
        raise TransitionError(f"cannot {event.value} a rollout in state {current.state.value}")
    success = State.AWAITING_APPROVAL if await_approval else State.PROMOTED
    step = current.step
    if target is Target.AFTER_SHADOW:
        nxt = State.CANARY if n_steps > 0 else success
        step = 0
    elif target is Target.NEXT_STEP:
        if current.step + 1 < n_steps:
            nxt, step = State.CANARY, current.step + 1
        else:
            nxt = success
    elif target is Target.SUCCESS:
        nxt = success
    elif target is Target.PREVIOUS:
        nxt = current.paused_from or State.SHADOW
        step = current.paused_step
    else:
        nxt = State(target)
    if nxt is State.PAUSED:
        return replace(
            current,
            state=nxt,
            paused_from=current.state,
            paused_step=current.step,
            since=now,
            reason=reason,
        )
    return RolloutState(nxt, step, None, 0, now, reason)


@dataclass(frozen=True)
class Routing:
    """What the data plane does for a route in a given rollout state."""

    mode: Literal["shadow", "canary"]
    weight: float  # percent served by the candidate
    mirror: bool  # mirror to the candidate (shadow mode)


def routing_for(st: RolloutState, *, mode: str, weight: float, steps: tuple[float, ...]) -> Routing:
    """The traffic split a state implies. ``mode``/``weight`` are the config file's."""
    s = st.paused_from if st.state is State.PAUSED and st.paused_from else st.state
    step = st.paused_step if st.state is State.PAUSED else st.step
    if s is State.SHADOW:
        return Routing("shadow", 0.0, True)
    if s is State.CANARY:
        w = steps[min(step, len(steps) - 1)] if steps else weight
        return Routing("canary", w, False)
    if s is State.AWAITING_APPROVAL:
        # hold the last stage: the final canary weight, or keep mirroring after shadow
        if steps:
            return Routing("canary", steps[-1], False)
        if mode == "canary":
            return Routing("canary", weight, False)
        return Routing("shadow", 0.0, True)
    if s is State.PROMOTED:
        return Routing("canary", 100.0, False)
    # rolled_back, inconclusive: production alone serves, nothing mirrored
    return Routing("canary", 0.0, False)
