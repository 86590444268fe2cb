"""The rollout state machine: one table of transitions, nothing else decides a state.

States (DESIGN §4): shadow, canary (with its step), awaiting_approval, baking, promoted,
rolled_back, paused, inconclusive. Events come from the judge's verdicts or from an
operator. Everything that affects the state machine lives in this file.

    shadow ──passed──► canary[0] ──step_passed──► canary[i+1] … ──passed──► promoted
       │                  │                                       └─(await)─► awaiting_approval
       └──harm──► rolled_back ◄──harm── canary            awaiting_approval ──approve──► promoted
    any active ──limit──► inconclusive     canary ──srm──► paused ──resume──► (previous)
    any ──promote/rollback (operator)──► promoted / rolled_back
    with after_promotion, "promoted" above reads baking:
    baking ──passed (bake elapsed, no harm)──► promoted     baking ──harm──► rolled_back
    any non-terminal ──edit (mode, canary.weight, mirror.percent)──► see rollout.steering
      (baking ──edit──► canary or shadow: the promotion pulled back)
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Any

from shadowgate.config.model import RouteConfig
from shadowgate.errors import ConflictError
from shadowgate.model.routing import Routing


class State(StrEnum):
    SHADOW = "shadow"
    CANARY = "canary"
    AWAITING_APPROVAL = "awaiting_approval"
    BAKING = "baking"  # promoted, watched against the former production (after_promotion)
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
    EDIT = "edit"  # the config file's mode, canary.weight or mirror.percent changed
    RESTART = "restart"  # operator: a new rollout of the same candidate


#: the states a rollout ends in: nothing is decided, read or mirrored any more
TERMINAL = frozenset({State.PROMOTED, State.ROLLED_BACK, State.INCONCLUSIVE})
#: the states in which the judge's checks decide (paused and terminal states wait)
DECIDING = frozenset({State.SHADOW, State.CANARY, State.AWAITING_APPROVAL})


def is_final(state: State | str) -> bool:
    """True when the rollout has ended (promoted, rolled back or inconclusive)."""
    return State(state) in TERMINAL


class Target(StrEnum):
    """Symbolic targets resolved by ``transition`` (they depend on the route's settings)."""

    AFTER_SHADOW = "after_shadow"  # canary[0] if steps, else final success
    NEXT_STEP = "next_step"
    SUCCESS = "success"  # promoted, or awaiting_approval when on_success: await_approval
    APPROVED = "approved"  # promoted, or baking when after_promotion is configured
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
    (State.AWAITING_APPROVAL, Event.APPROVE): Target.APPROVED,
    (State.BAKING, Event.HARM): State.ROLLED_BACK,  # regression while baking: revert
    (State.BAKING, Event.PASSED): State.PROMOTED,  # the bake elapsed with no harm
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


class TransitionError(ConflictError):
    """The event is not allowed in the current state (e.g. approve while in shadow).

    The admin API answers it with ``error_status_hint`` (409)."""

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
    #: a canary weight set by a file edit while ``canary.steps`` are configured: it holds
    #: until the next step (None: the step's weight)
    weight: float | None = None
    #: awaiting_approval: the split a file edit asked for, ``shadow`` (mirror) or ``canary``
    #: (at ``weight``, else the file's ``canary.weight``); None holds the last stage
    mode: str | None = None
    #: baking: the share mirrored to the former production set by a file edit (None: the
    #: file's ``after_promotion.mirror_percent``)
    mirror: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "state": self.state.value,
            "step": self.step,
            "paused_from": self.paused_from.value if self.paused_from else None,
            "paused_step": self.paused_step,
            "since": self.since,
            "reason": self.reason,
            "weight": self.weight,
            "mode": self.mode,
            "mirror": self.mirror,
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
            weight=None if d.get("weight") is None else float(d["weight"]),
            mode=None if d.get("mode") is None else str(d["mode"]),
            mirror=None if d.get("mirror") is None else float(d["mirror"]),
        )


def initial_state(mode: str, steps: tuple[float, ...], now: float) -> RolloutState:
    """A new rollout starts in shadow, or directly at the first canary stage in canary mode."""
    if mode == "canary":
        return RolloutState(State.CANARY, 0, since=now, reason="rollout started in canary mode")
    return RolloutState(State.SHADOW, 0, since=now, reason="rollout started in shadow mode")


def transition(
    current: RolloutState,
    event: Event,
    *,
    n_steps: int,
    await_approval: bool,
    now: float,
    reason: str,
    bake: bool = False,
) -> RolloutState:
    """Apply ``event``; raise ``TransitionError`` when the table has no such transition."""
    target = TABLE.get((current.state, event))
    if target is None:
        raise TransitionError(f"cannot {event.value} a rollout in state {current.state.value}")
    promoted = State.BAKING if bake else State.PROMOTED
    success = State.AWAITING_APPROVAL if await_approval else promoted
    step = current.step
    weight = mode = None
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
    elif target is Target.APPROVED:
        nxt = promoted
    elif target is Target.PREVIOUS:
        nxt = current.paused_from or State.SHADOW
        step, weight, mode = current.paused_step, current.weight, current.mode
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
    return RolloutState(nxt, step, None, 0, now, reason, weight, mode)


def routing_for(
    st: RolloutState,
    *,
    mode: str,
    weight: float,
    steps: tuple[float, ...],
    mirror_percent: float = 100.0,
    rollout_id: str = "",
    bake_percent: float = 0.0,
) -> Routing:
    """The traffic split a state implies: the only place a split is computed.

    ``mode``, ``weight``, ``steps`` and ``mirror_percent`` are the config file's; the
    result is what the judge commits and every data plane applies unchanged."""
    s = st.paused_from if st.state is State.PAUSED and st.paused_from else st.state
    step = st.paused_step if st.state is State.PAUSED else st.step

    def split(m: str, w: float, mirror: bool) -> Routing:
        return Routing(
            "canary" if m == "canary" else "shadow",
            w,
            mirror,
            mirror_percent,
            rollout_id,
            is_final(s),
        )

    if s is State.SHADOW:
        return split("shadow", 0.0, True)
    if s is State.CANARY:
        if st.weight is not None:
            return split("canary", st.weight, False)
        return split("canary", steps[min(step, len(steps) - 1)] if steps else weight, False)
    if s is State.AWAITING_APPROVAL:
        if st.mode == "shadow":  # a file edit asked for shadow while awaiting approval
            return split("shadow", 0.0, True)
        if st.mode == "canary":
            return split("canary", weight if st.weight is None else st.weight, False)
        # hold the last stage: the final canary weight, or keep mirroring after shadow
        if steps:
            return split("canary", steps[-1], False)
        if mode == "canary":
            return split("canary", weight, False)
        return split("shadow", 0.0, True)
    if s is State.BAKING:  # reverse shadow: the candidate serves, production is mirrored
        share = bake_percent if st.mirror is None else st.mirror
        return Routing("shadow", 100.0, True, share, rollout_id, False, reverse=True)
    if s is State.PROMOTED:
        return split("canary", 100.0, False)
    # rolled_back, inconclusive: production alone serves, nothing mirrored
    return split("canary", 0.0, False)


def routing_of(st: RolloutState, route: RouteConfig, rollout_id: str = "") -> Routing:
    """``routing_for`` with the route's configured mode, weight, steps and mirror share."""
    return routing_for(
        st,
        mode=route.mode,
        weight=route.canary.weight,
        steps=route.canary.steps,
        mirror_percent=route.mirror.percent,
        rollout_id=rollout_id,
        bake_percent=route.after_promotion.mirror_percent if route.after_promotion else 0.0,
    )


def initial_routing(route: RouteConfig, rollout_id: str = "") -> Routing:
    """The split of a rollout that has just started in the route's configured mode, or the
    steady state of a route without a candidate: production alone, nothing mirrored."""
    if route.candidate is None:
        return Routing("shadow", 0.0, False, 0.0, "", final=True)
    return routing_of(initial_state(route.mode, route.canary.steps, 0.0), route, rollout_id)


def to_detail(st: RolloutState, routing: Routing) -> dict[str, Any]:
    """What a commit stores for data planes: the rollout state and the split it implies."""
    return {"rollout": st.to_dict(), "routing": routing.to_dict()}


def from_detail(
    detail: dict[str, Any], route: RouteConfig, rollout_id: str
) -> tuple[RolloutState, Routing]:
    """Read back what ``to_detail`` stored (a state committed before the routing was stored
    gets its split from ``routing_of``)."""
    st = RolloutState.from_dict(detail["rollout"])
    routing = detail.get("routing")
    if routing is None:
        return st, routing_of(st, route, rollout_id)
    return st, Routing.from_dict(routing)
