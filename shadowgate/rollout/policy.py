"""The decision policy: evidence + state + time in, at most one event out (pure).

Order of questions at each look, in an active state:

1. Is the evidence complete? If the judge knows records were lost, decide nothing.
2. Does any harm test reject (any phase seen so far)? → ``harm``: roll back now.
3. Canary only: does the sample-ratio-mismatch check reject? → ``srm``: pause; a broken
   split invalidates every other comparison.
4. Is ``max_samples`` or the ``deadline`` reached? → ``limit``: inconclusive.
5. Shadow: ``min_samples`` pairs (since the shadow stage began: a file edit back to shadow
   begins it again) and every observable check passed → ``passed``.
6. Canary: the step has ``step_min_samples`` per variant → ``step_passed`` while steps
   remain; at the last step → ``passed`` (when the rollout began in canary mode, with no
   shadow phase to prove non-inferiority, every canary pass test must also have passed).
   A canary at 0 % (``canary.weight: 0`` without steps) never passes: the candidate
   serves no one.

A check that needs labels stays pending until labels arrive; it never passes on no data.
"""

from __future__ import annotations

from dataclasses import dataclass

from shadowgate.config.model import RouteConfig
from shadowgate.rollout.analysis import RouteAnalysis
from shadowgate.rollout.checks import CheckResult
from shadowgate.rollout.machine import DECIDING, Event, RolloutState, State


@dataclass(frozen=True)
class Decision:
    event: Event
    reason: str
    #: the check that decided (None for limits and step changes)
    result: CheckResult | None = None


def _describe(r: CheckResult, what: str) -> str:
    seg = f" in segment {r.segment!r}" if r.segment is not None else ""
    est = "n/a" if r.estimate is None else f"{r.estimate:+.4g}"
    ci = (
        ""
        if r.ci_lower is None or r.ci_upper is None
        else f", CI [{r.ci_lower:.4g}, {r.ci_upper:.4g}]"
    )
    return f"{r.check}{seg}: {what} (estimate {est}{ci}, p={r.p_value:.3g}, n={r.n})"


def decide(
    route: RouteConfig,
    state: RolloutState,
    analysis: RouteAnalysis,
    *,
    now: float,
    started_at: float,
    complete: bool = True,
    began_in_shadow: bool = True,
) -> Decision | None:
    """The next event for this route, or None to keep going."""
    if state.state not in DECIDING:
        return None
    if not complete:
        return None
    a = route.analysis
    phases = ["shadow"] if state.state is State.SHADOW else ["shadow", "canary"]
    seen: dict[str, list[CheckResult]] = {}  # each phase's results, read once per look
    for phase in phases:
        seen[phase] = analysis.results(phase)  # type: ignore[arg-type]
        for r in seen[phase]:
            if r.verdict == "harm":
                worse = "candidate worse than production beyond the margin"
                if r.metric == "agreement":
                    worse = f"agreement below the minimum {r.margin:g}"
                elif r.metric == "prediction_shift":
                    worse = f"a predicted class's share moved by more than {r.margin:g}"
                return Decision(Event.HARM, _describe(r, worse), r)
    if state.state is State.AWAITING_APPROVAL:
        return None
    if state.state is State.CANARY and analysis.srm_rejected():
        share = f"{analysis.srm_weight:g}%"
        return Decision(
            Event.SRM,
            f"sample-ratio mismatch: the candidate's share of requests differs from the "
            f"configured {share} (p={analysis.srm_p_value():.3g}); "
            "the split is broken, so every comparison is suspect",
        )
    n = analysis.pairs if state.state is State.SHADOW else sum(analysis.canary)
    if n >= a.max_samples:
        return Decision(Event.LIMIT, f"max_samples ({a.max_samples}) reached without a decision")
    if now - started_at >= a.deadline:
        return Decision(Event.LIMIT, f"deadline ({a.deadline:g}s) reached without a decision")
    if state.state is State.SHADOW:
        if analysis.stage_pairs < a.min_samples:  # = pairs, unless an edit began it again
            return None
        results = seen["shadow"]
        if results and all(r.verdict == "passed" for r in results if r.segment is None):
            return Decision(
                Event.PASSED,
                "every check passed: " + "; ".join(_describe(r, "passed") for r in results),
            )
        return None
    # canary
    steps = route.canary.steps
    need = route.canary.step_min_samples
    # per variant that the step sends traffic to: at a 100 % step production gets none
    if state.weight is not None:
        weight = state.weight
    elif steps:
        weight = steps[min(state.step, len(steps) - 1)]
    else:
        weight = route.canary.weight
    if weight <= 0.0:
        return None  # at 0 % the candidate serves no one: nothing to pass on
    shares = (100.0 - weight, weight)
    served = [n for n, sh in zip(analysis.step_counts, shares, strict=True) if sh > 0]
    if not served or min(served) < need:
        return None
    last = not steps or state.step >= len(steps) - 1
    if not last:
        w = steps[state.step]
        return Decision(
            Event.STEP_PASSED,
            f"canary step {state.step + 1}/{len(steps)} ({w:g}%) done: "
            f"{analysis.step_counts[1]} candidate and {analysis.step_counts[0]} production "
            "samples, no harm",
        )
    if sum(analysis.canary) < a.min_samples:
        return None
    if not began_in_shadow:
        results = seen["canary"]
        if not all(r.verdict == "passed" for r in results if r.segment is None):
            return None
        return Decision(
            Event.PASSED,
            "every canary check passed: " + "; ".join(_describe(r, "passed") for r in results),
        )
    return Decision(Event.PASSED, "final canary step done with no harm after shadow checks passed")
