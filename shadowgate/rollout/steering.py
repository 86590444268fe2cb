"""File edits that steer a running rollout: ``mode``, ``canary.weight``, ``mirror.percent``
(and, for the bake, ``after_promotion.mirror_percent``).

An edit of one of these keys is an operator action (audited with actor ``config``, the
reason naming what changed and what it did). In a non-terminal state it is applied at the
judge's next look:

- ``shadow``/``canary``: ``mode: shadow → canary`` moves the rollout to the canary (the
  step whose weight the file's ``canary.weight`` reaches, or the first); ``canary → shadow``
  back to shadow, where the shadow stage runs again (``min_samples`` new pairs before it
  may pass). The shadow evidence and its tests are kept: both phases' tests were given
  their share of α when the rollout started, so switching phases spends nothing twice.
  ``canary.weight`` without ``canary.steps`` is the weight ``routing_for`` uses already;
  with steps, the rollout moves to that weight (held until the next step passes).
  ``mirror.percent`` is the share ``routing_for`` puts in the published split.
- ``paused``: the edit changes the state (and split) the rollout resumes to.
- ``awaiting_approval`` keeps its state; its split follows the edit (``mode: shadow``
  mirrors, ``mode: canary`` serves the candidate at ``canary.weight``, steps or not).
- ``baking`` (the promoted candidate serves everyone, the former production is mirrored):
  ``mode: shadow`` pulls the promotion back to shadow (production serves everyone again,
  the candidate is mirrored); ``mode: canary`` (or a ``canary.weight`` edit in canary mode)
  with a weight under 100 % pulls it back to a canary at that weight, production serving
  the rest. Either way the rollout goes on from there: it passes again only on new
  evidence, and bakes again. A weight of 100 % changes nothing: the candidate already
  serves everyone. ``mirror.percent`` or ``after_promotion.mirror_percent`` sets the share
  mirrored to the former production (the later edit wins; in one edit, the
  ``after_promotion`` key, the more specific one).

An edit that changes nothing in the current state says so in its reason (e.g. a
``canary.weight`` edit in mode shadow). A terminal state applies nothing: the status says
what differs and that ``restart`` begins a new rollout.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from typing import Any

from shadowgate.config.model import RouteConfig
from shadowgate.rollout.machine import RolloutState, State, TransitionError, is_final


def _pct(v: float | None) -> str:
    return "unset" if v is None else f"{v:g}"


@dataclass(frozen=True, slots=True)
class Steering:
    """The keys of a route's config that steer traffic, as last applied."""

    mode: str
    weight: float
    mirror_percent: float
    #: ``after_promotion.mirror_percent`` (None without ``after_promotion``)
    bake_percent: float | None = None

    @classmethod
    def of(cls, route: RouteConfig) -> Steering:
        bake = route.after_promotion.mirror_percent if route.after_promotion else None
        return cls(route.mode, route.canary.weight, route.mirror.percent, bake)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any], route: RouteConfig | None = None) -> Steering:
        """Read back ``to_dict``; a state stored before ``bake_percent`` was kept takes the
        route's current value (so that reading it is not mistaken for an edit)."""
        if "bake_percent" in d:
            bake = None if d["bake_percent"] is None else float(d["bake_percent"])
        else:
            bake = cls.of(route).bake_percent if route is not None else None
        return cls(str(d["mode"]), float(d["weight"]), float(d["mirror_percent"]), bake)

    def changes(self, new: Steering) -> list[str]:
        """What an edit changed, as ``key old → new`` (empty when nothing did)."""
        out = []
        if new.mode != self.mode:
            out.append(f"mode {self.mode} → {new.mode}")
        if new.weight != self.weight:
            out.append(f"canary.weight {self.weight:g} → {new.weight:g}")
        if new.mirror_percent != self.mirror_percent:
            out.append(f"mirror.percent {self.mirror_percent:g} → {new.mirror_percent:g}")
        if new.bake_percent != self.bake_percent:
            old, now = _pct(self.bake_percent), _pct(new.bake_percent)
            out.append(f"after_promotion.mirror_percent {old} → {now}")
        return out


def _step_for(weight: float, steps: tuple[float, ...]) -> int:
    """The last step whose weight ``weight`` reaches (0 below the first)."""
    reached = [i for i, w in enumerate(steps) if w <= weight]
    return reached[-1] if reached else 0


def _to_canary(
    live: State,
    step: int,
    weight: float | None,
    before: Steering,
    after: Steering,
    steps: tuple[float, ...],
) -> tuple[int, float | None]:
    """The canary step and held weight an edit into (or within) the canary moves to."""
    if live is not State.CANARY:
        step, weight = (_step_for(after.weight, steps), None) if steps else (0, None)
    if steps and after.weight != before.weight:
        step, weight = _step_for(after.weight, steps), after.weight
    return step, weight


def _unused(live: State, canary_split: bool, before: Steering, after: Steering) -> list[str]:
    """What the edit changed that has no effect in the state (and split) it leaves."""
    out = []
    if after.weight != before.weight and after.mode == "shadow" and not canary_split:
        out.append("canary.weight has no effect in mode shadow")
    if after.mirror_percent != before.mirror_percent and canary_split:
        out.append("mirror.percent has no effect on a canary split (nothing is mirrored)")
    if after.bake_percent != before.bake_percent and live is not State.BAKING:
        out.append("after_promotion.mirror_percent applies once the rollout bakes")
    return out


def _bake(
    current: RolloutState, before: Steering, after: Steering, steps: tuple[float, ...], now: float
) -> tuple[RolloutState, list[str]]:
    """An edit while baking: a pull-back to shadow or a canary, or a new mirrored share."""
    moved = after.mode != before.mode or (after.mode == "canary" and after.weight != before.weight)
    if moved and after.mode == "shadow":
        why = "the promotion is pulled back to shadow: production serves everyone again"
        return RolloutState(State.SHADOW, 0, since=now), [why]
    notes = []
    if moved:
        step, weight = _to_canary(State.BAKING, 0, None, before, after, steps)
        w = weight if weight is not None else steps[step] if steps else after.weight
        if w < 100.0:
            why = f"the promotion is pulled back to a canary at {w:g}%: production serves the rest"
            return RolloutState(State.CANARY, step, since=now, weight=weight), [why]
        notes.append("the candidate already serves 100% while baking: the bake goes on")
    mirror = current.mirror
    if after.bake_percent != before.bake_percent and after.bake_percent is not None:
        mirror = after.bake_percent
    elif after.mirror_percent != before.mirror_percent:
        mirror = after.mirror_percent
    if mirror != current.mirror:
        notes.append(f"{mirror:g}% of requests are now mirrored to the former production")
    return replace(current, mirror=mirror), notes


def steer(
    current: RolloutState,
    before: Steering,
    after: Steering,
    *,
    steps: tuple[float, ...],
    now: float,
    reason: str,
) -> RolloutState:
    """The rollout state once the edit ``before → after`` is applied (see the module doc).

    ``reason`` (what changed) comes back in the state's reason, with what the edit did
    where that is not plain from the keys, and what had no effect."""
    if is_final(current.state):
        raise TransitionError(
            f"a rollout in state {current.state.value} is not steered by the file; "
            "restart begins a new rollout"
        )
    paused = current.state is State.PAUSED
    live = (current.paused_from or State.SHADOW) if paused else current.state
    if live is State.BAKING:
        out, notes = _bake(current, before, after, steps, now)
        unused = _unused(out.state, out.state is State.CANARY, before, after)
        return replace(out, reason="; ".join([reason, *notes, *unused]))
    step = current.paused_step if paused else current.step
    weight, mode = current.weight, current.mode
    canary_split = after.mode == "canary"
    if live is State.AWAITING_APPROVAL:  # it holds a canary split, or keeps mirroring
        held = mode or ("canary" if steps or before.mode == "canary" else "shadow")
        if after.mode != before.mode:
            mode, weight = after.mode, after.weight if after.mode == "canary" else None
        elif after.weight != before.weight and held == "canary":
            mode, weight = "canary", after.weight
        canary_split = (mode or held) == "canary"
    elif canary_split:
        step, weight = _to_canary(live, step, weight, before, after, steps)
        live = State.CANARY
    else:
        live, step, weight = State.SHADOW, 0, None
    why = "; ".join([reason, *_unused(live, canary_split, before, after)])
    if paused:
        return replace(
            current, paused_from=live, paused_step=step, weight=weight, mode=mode, reason=why
        )
    since = now if live is not current.state else current.since
    return RolloutState(live, step, None, 0, since, why, weight, mode)
