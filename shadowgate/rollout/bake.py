"""The bake after a promotion: the checks again, on reverse-shadow pairs, with their own α.

While ``baking`` the candidate serves everyone and the former production is mirrored as
the reference; the route's checks run on those pairs in a fresh ``RouteAnalysis`` (its own
α, nothing carried over from before the promotion). Any harm reverts the promotion; the
bake elapsed with at least ``min_samples`` pairs and no harm makes it final.
"""

from __future__ import annotations

from shadowgate.config.model import RouteConfig
from shadowgate.rollout.analysis import RouteAnalysis
from shadowgate.rollout.checks import CheckResult
from shadowgate.rollout.machine import Event, RolloutState, State
from shadowgate.rollout.policy import Decision

REGRESSION = "regression while baking"


def _describe(r: CheckResult) -> str:
    est = "n/a" if r.estimate is None else f"{r.estimate:+.4g}"
    seg = f" in segment {r.segment!r}" if r.segment is not None else ""
    return (
        f"{r.check}{seg}: candidate worse than the former production "
        f"(estimate {est}, p={r.p_value:.3g}, n={r.n})"
    )


def decide_bake(
    route: RouteConfig,
    rollout: RolloutState,
    bake: RouteAnalysis | None,
    *,
    now: float,
    complete: bool = True,
) -> Decision | None:
    """The bake's next event: harm → revert, elapsed and clean → promoted, else None."""
    if rollout.state is not State.BAKING:
        return None
    cfg = route.after_promotion
    if cfg is None:
        return Decision(Event.PASSED, "after_promotion was removed from the file: promotion final")
    if bake is None or not complete:
        return None
    for r in bake.results("shadow"):
        if r.verdict == "harm":
            return Decision(Event.HARM, f"{REGRESSION}: {_describe(r)}", r)
    if now - rollout.since >= cfg.bake and bake.pairs >= cfg.min_samples:
        return Decision(
            Event.PASSED,
            f"bake of {cfg.bake:g}s done: {bake.pairs} pairs against the former production, "
            "no harm",
        )
    return None
