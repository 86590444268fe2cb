"""Replay one rollout's stored outcomes through the judge's analysis, batch by batch.

The judge keeps only the latest state of each test; the report wants the path that led
there. Replaying the stored outcomes through a fresh ``RouteAnalysis`` with the same
converters the judge uses (``control.evidence``) reproduces every check's estimate,
anytime-valid interval and p-value after each batch. Labels are fed as soon as their
outcome has been fed, so a label check's ``n`` counts labelled pairs.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from shadowgate.config.model import RouteConfig
from shadowgate.judge import evidence
from shadowgate.rollout.analysis import RouteAnalysis
from shadowgate.rollout.checks import CheckResult
from shadowgate.rollout.machine import TERMINAL
from shadowgate.store.base import Store
from shadowgate.store.pages import pages
from shadowgate.store.rows import AuditRecord, LabeledOutcome, Rollout, StoredOutcome

PAGE = 5000
#: audit decisions (``event:state``) after which the judge reads no more evidence
#: audit decisions that end a rollout (``event:state`` with a terminal state)
FINAL = tuple(f":{s.value}" for s in sorted(TERMINAL))


@dataclass
class Trajectory:
    """One check's evidence after each replayed batch (columns of equal length)."""

    check: str
    metric: str
    margin: float
    n: list[int] = field(default_factory=list)
    estimate: list[float] = field(default_factory=list)
    lower: list[float] = field(default_factory=list)
    upper: list[float] = field(default_factory=list)
    p_value: list[float] = field(default_factory=list)
    p_harm: list[float] = field(default_factory=list)
    p_pass: list[float] = field(default_factory=list)
    verdict: list[str] = field(default_factory=list)
    #: time of the newest outcome in each batch (to place decisions on the samples axis)
    ts: list[float] = field(default_factory=list)

    def add(self, r: CheckResult, ts: float) -> None:
        nan = math.nan
        self.ts.append(ts)
        self.n.append(r.n)
        self.estimate.append(nan if r.estimate is None else r.estimate)
        self.lower.append(nan if r.ci_lower is None else r.ci_lower)
        self.upper.append(nan if r.ci_upper is None else r.ci_upper)
        self.p_value.append(r.p_value)
        self.p_harm.append(r.p_harm)
        self.p_pass.append(r.p_pass)
        self.verdict.append(r.verdict)


@dataclass
class RolloutData:
    """Everything the report draws for one rollout."""

    route: RouteConfig
    rollout: Rollout
    outcomes: list[StoredOutcome]
    labeled: list[LabeledOutcome]
    audit: list[AuditRecord]
    trajectories: dict[str, Trajectory]
    final: list[CheckResult]
    alpha_harm: float
    alpha_pass: float
    #: outcomes recorded after the final decision (not evidence: left out of every plot)
    after_decision: int = 0


async def read_all_outcomes(store: Store, route: str, rollout_id: str) -> list[StoredOutcome]:
    pages_ = pages(store.read_outcomes, route, page=PAGE, rollout_id=rollout_id)
    return [o async for rows in pages_ for o in rows]


async def read_all_labeled(store: Store, route: str, rollout_id: str) -> list[LabeledOutcome]:
    pages_ = pages(store.read_labeled, route, page=PAGE, rollout_id=rollout_id)
    return [x async for rows in pages_ for x in rows]


def _name(r: CheckResult) -> str:
    return r.check if r.phase == "shadow" else f"{r.check}:canary"


def replay(
    route: RouteConfig,
    outcomes: list[StoredOutcome],
    labeled: list[LabeledOutcome],
    batches: int = 150,
) -> tuple[dict[str, Trajectory], list[CheckResult], RouteAnalysis]:
    """Every check's trajectory over ``batches`` equal slices of the outcomes."""
    weight = route.canary.weight if route.mode == "canary" else 0.0
    analysis = RouteAnalysis(route.analysis, canary_weight=weight)
    by_outcome: dict[int, list[LabeledOutcome]] = defaultdict(list)
    for lo in labeled:
        by_outcome[lo.outcome.id].append(lo)
    trajectories: dict[str, Trajectory] = {}
    size = max(1, math.ceil(len(outcomes) / batches))
    for start in range(0, len(outcomes), size):
        chunk = outcomes[start : start + size]
        analysis.add_pairs(evidence.pairs_from(chunk, classes=evidence.wants_classes(route)))
        analysis.add_canary(evidence.canary_from(chunk))
        joined = [lo for o in chunk for lo in by_outcome.get(o.id, ())]
        if joined:
            analysis.add_labels(evidence.labels_from(route, joined))
            analysis.add_canary_labels(evidence.canary_labels_from(route, joined))
        for r in _results(analysis):
            if r.segment is not None:
                continue
            t = trajectories.get(_name(r))
            if t is None:
                t = trajectories[_name(r)] = Trajectory(_name(r), r.metric, r.margin)
            t.add(r, chunk[-1].record.ts)
    return trajectories, _results(analysis), analysis


def samples_at(t: Trajectory, when: float) -> float | None:
    """The check's sample count when the judge acted at ``when`` (None: before any data)."""
    i = int(np.searchsorted(np.asarray(t.ts), when, side="right")) - 1
    return float(t.n[i]) if i >= 0 else None


def _results(analysis: RouteAnalysis) -> list[CheckResult]:
    out = analysis.results("shadow")
    if analysis.canary != [0, 0]:
        out += analysis.results("canary")
    return out


async def load(
    store: Store, route: RouteConfig, rollout_id: str | None = None, batches: int = 150
) -> RolloutData:
    """Read one rollout (the route's current one by default) and replay it."""
    rollouts = await store.list_rollouts(route.name)
    if not rollouts:
        raise LookupError(f"the store has no rollout of route {route.name!r}")
    if rollout_id is None:
        current = await store.current_rollout(route.name)
        chosen = current or rollouts[-1]
    else:
        found = [r for r in rollouts if r.rollout_id == rollout_id]
        if not found:
            known = ", ".join(r.rollout_id for r in rollouts)
            raise LookupError(f"no rollout {rollout_id!r} of route {route.name!r}; known: {known}")
        chosen = found[0]
    outcomes = await read_all_outcomes(store, route.name, chosen.rollout_id)
    labeled = await read_all_labeled(store, route.name, chosen.rollout_id)
    audit = await store.read_audit(route.name, chosen.rollout_id)
    end = next((a.time for a in audit if a.decision.endswith(FINAL)), None)
    total = len(outcomes)
    if end is not None:
        # the judge stops reading at a final decision; later traffic is not evidence
        outcomes = [o for o in outcomes if o.record.ts <= end]
        labeled = [lo for lo in labeled if lo.outcome.record.ts <= end]
    trajectories, final, analysis = replay(route, outcomes, labeled, batches)
    return RolloutData(
        route, chosen, outcomes, labeled, audit, trajectories, final,
        analysis.alpha_harm_each, analysis.alpha_pass, total - len(outcomes),
    )  # fmt: skip


def latencies(outcomes: list[StoredOutcome]) -> dict[str, np.ndarray[Any, Any]]:
    """Latencies (seconds) of successful answers per variant."""
    prod: list[float] = []
    cand: list[float] = []
    for o in outcomes:
        r = o.record
        if r.prod_latency is not None and r.prod_error is None and (r.prod_status or 0) < 500:
            prod.append(r.prod_latency)
        if r.cand_latency is not None and r.cand_error is None and (r.cand_status or 0) < 500:
            cand.append(r.cand_latency)
    return {"production": np.asarray(prod), "candidate": np.asarray(cand)}
