"""The bake after a promotion: the checks again, on reverse-shadow pairs, with their own α.

While ``baking`` the candidate serves everyone and the former production is mirrored as
the reference; the route's checks run on those pairs in a ``RouteAnalysis`` of their own
(its own α, nothing carried over from before the promotion). Any harm reverts the
promotion; the bake elapsed with at least ``min_samples`` pairs and no harm makes it final.

A failing reference is no evidence either way. Its failed pairs cannot show harm (the
candidate answered where the reference did not) and do not count towards ``min_samples``
(only pairs the former production answered do). While the judge's production-outage gate
is active (the reference failing beyond ``analysis.production_outage``), nothing is
decided and the bake's clock stops: the bake lasts ``bake`` seconds of a working reference.
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


def bake_elapsed(
    rollout: RolloutState, now: float, stopped: float = 0.0, outage_since: float | None = None
) -> float:
    """Seconds of the bake with a working reference: the time since it began, less the
    ``stopped`` seconds of outages that have ended and the open one since ``outage_since``."""
    since = rollout.since
    running = max(0.0, now - max(outage_since, since)) if outage_since is not None else 0.0
    return max(0.0, now - since - stopped - running)


def decide_bake(
    route: RouteConfig,
    rollout: RolloutState,
    bake: RouteAnalysis | None,
    *,
    now: float,
    complete: bool = True,
    elapsed: float | None = None,
) -> Decision | None:
    """The bake's next event: harm → revert, elapsed and clean → promoted, else None.

    ``elapsed`` is the bake's clock (``bake_elapsed``; by default the time since it began)."""
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
    elapsed = now - rollout.since if elapsed is None else elapsed
    if elapsed >= cfg.bake and bake.answered >= cfg.min_samples:
        return Decision(
            Event.PASSED,
            f"bake of {cfg.bake:g}s done: {bake.answered} pairs against the former production, "
            "no harm",
        )
    return None


def bake_waiting(route: RouteConfig, bake: RouteAnalysis | None, elapsed: float) -> str | None:
    """Why a bake whose time is up has not ended (too few answered pairs), else None."""
    cfg = route.after_promotion
    if cfg is None or elapsed < cfg.bake:
        return None
    answered = 0 if bake is None else bake.answered
    if answered >= cfg.min_samples:
        return None
    failed = 0 if bake is None else bake.pairs - bake.answered
    return (
        f"bake of {cfg.bake:g}s elapsed, but only {answered} of the {cfg.min_samples} pairs "
        f"it needs had an answer from the former production ({failed} failed there, and are "
        "no evidence); the promotion is final once they are in"
    )
