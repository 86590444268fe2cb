"""File edits that steer a running rollout: ``mode``, ``canary.weight``, ``mirror.percent``.

An edit of one of these keys is an operator action (audited with actor ``config``). In a
non-terminal state it is applied at the judge's next look:

- ``mode: shadow → canary`` moves the rollout to the canary (the step whose weight the
  file's ``canary.weight`` reaches, or the first); ``canary → shadow`` back to shadow. The
  shadow evidence and its tests are kept: both phases' tests were given their share of α
  when the rollout started, so switching phases spends nothing twice.
- ``canary.weight`` without ``canary.steps`` is the weight ``routing_for`` uses already; with
  steps, the rollout moves to that weight (held until the next step passes).
- ``mirror.percent`` is the share ``routing_for`` puts in the published split.

While paused, the edit changes the state the rollout resumes to; ``awaiting_approval``
keeps its state (its split follows the file). A terminal state applies nothing: the
status says what differs and that ``restart`` begins a new rollout.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from typing import Any

from shadowgate.config.model import RouteConfig
from shadowgate.rollout.machine import RolloutState, State, TransitionError, is_final


@dataclass(frozen=True, slots=True)
class Steering:
    """The keys of a route's config that steer traffic, as last applied."""

    mode: str
    weight: float
    mirror_percent: float

    @classmethod
    def of(cls, route: RouteConfig) -> Steering:
        return cls(route.mode, route.canary.weight, route.mirror.percent)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Steering:
        return cls(str(d["mode"]), float(d["weight"]), float(d["mirror_percent"]))

    def changes(self, new: Steering) -> list[str]:
        """What an edit changed, as ``key old → new`` (empty when nothing did)."""
        out = []
        if new.mode != self.mode:
            out.append(f"mode {self.mode} → {new.mode}")
        if new.weight != self.weight:
            out.append(f"canary.weight {self.weight:g} → {new.weight:g}")
        if new.mirror_percent != self.mirror_percent:
            out.append(f"mirror.percent {self.mirror_percent:g} → {new.mirror_percent:g}")
        return out


def _step_for(weight: float, steps: tuple[float, ...]) -> int:
    """The last step whose weight ``weight`` reaches (0 below the first)."""
    reached = [i for i, w in enumerate(steps) if w <= weight]
    return reached[-1] if reached else 0


def steer(
    current: RolloutState,
    before: Steering,
    after: Steering,
    *,
    steps: tuple[float, ...],
    now: float,
    reason: str,
) -> RolloutState:
    """The rollout state once the edit ``before → after`` is applied (see the module doc)."""
    if is_final(current.state):
        raise TransitionError(
            f"a rollout in state {current.state.value} is not steered by the file; "
            "restart begins a new rollout"
        )
    paused = current.state is State.PAUSED
    live = (current.paused_from or State.SHADOW) if paused else current.state
    step = current.paused_step if paused else current.step
    weight = current.weight
    if live in (State.SHADOW, State.CANARY):
        if after.mode == "canary":
            if live is State.SHADOW:
                step, weight = (_step_for(after.weight, steps), None) if steps else (0, None)
            if steps and after.weight != before.weight:
                step, weight = _step_for(after.weight, steps), after.weight
            live = State.CANARY
        else:
            live, step, weight = State.SHADOW, 0, None
    if paused:
        return replace(current, paused_from=live, paused_step=step, weight=weight, reason=reason)
    since = now if live is not current.state else current.since
    return RolloutState(live, step, None, 0, since, reason, weight)
