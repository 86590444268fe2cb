"""Replay one rollout's stored outcomes through the judge's analysis, batch by batch.

The judge keeps only the latest state of each test; the report wants the path that led
there. Replaying the stored outcomes through a fresh ``RouteAnalysis`` with the same
converters the judge uses (``control.evidence``) reproduces every check's estimate,
anytime-valid interval and p-value after each batch. Labels are fed as soon as their
outcome has been fed, so a label check's ``n`` counts labelled pairs.

A bake after the promotion has tests of its own (``rollout.bake``), and the replay keeps
them apart as the judge does (``judge.context.RouteContext.pair_targets``): the outcomes
recorded while the audit says the rollout was ``baking`` (the reverse-shadow pairs, and the
labels of those pairs) feed a second ``RouteAnalysis``, whose trajectories are named
``<check>:bake``; the shadow (and canary) trajectories end where the bake began.
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
from shadowgate.rollout.machine import TERMINAL, State
from shadowgate.store.base import Store
from shadowgate.store.pages import pages
from shadowgate.store.rows import AuditRecord, LabeledOutcome, Rollout, StoredOutcome

PAGE = 5000
#: audit decisions (``event:state``) after which the judge reads no more evidence
#: audit decisions that end a rollout (``event:state`` with a terminal state)
FINAL = tuple(f":{s.value}" for s in sorted(TERMINAL))
#: every state an audit decision (``event:state``) can name
STATES = frozenset(s.value for s in State)


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
    #: the bake's checks now (empty when the rollout never baked)
    bake_final: list[CheckResult] = field(default_factory=list)
    #: when the rollout was baking: (entered, left), ``inf`` while it still bakes
    bake_windows: list[tuple[float, float]] = field(default_factory=list)
    #: outcomes recorded while baking
    bake_outcomes: int = 0

    def in_bake(self, when: float) -> bool:
        """Whether the judge acted at ``when`` on the bake's evidence: the record that left
        a bake belongs to it, the one that entered it to the phase before."""
        return any(start < when <= end for start, end in self.bake_windows)


async def read_all_outcomes(store: Store, route: str, rollout_id: str) -> list[StoredOutcome]:
    pages_ = pages(store.read_outcomes, route, page=PAGE, rollout_id=rollout_id)
    return [o async for rows in pages_ for o in rows]


async def read_all_labeled(store: Store, route: str, rollout_id: str) -> list[LabeledOutcome]:
    pages_ = pages(store.read_labeled, route, page=PAGE, rollout_id=rollout_id)
    return [x async for rows in pages_ for x in rows]


def _name(r: CheckResult, bake: bool = False) -> str:
    if bake:
        return f"{r.check}:bake"
    return r.check if r.phase == "shadow" else f"{r.check}:canary"


def bake_windows(audit: list[AuditRecord]) -> list[tuple[float, float]]:
    """When the rollout was baking, from its audit (each record names the state after it,
    ``event:state``): from the record that entered ``baking`` to the next that names
    another state; ``inf`` while it still bakes."""
    windows: list[tuple[float, float]] = []
    began: float | None = None
    for a in sorted(audit, key=lambda a: a.time):
        state = a.decision.rpartition(":")[2]
        if state not in STATES:
            continue
        if state == State.BAKING.value and began is None:
            began = a.time
        elif state != State.BAKING.value and began is not None:
            windows.append((began, a.time))
            began = None
    if began is not None:
        windows.append((began, math.inf))
    return windows


def _baked(ts: float, windows: list[tuple[float, float]]) -> bool:
    """Whether an outcome recorded at ``ts`` is the bake's (the judge's rule: since it began)."""
    return any(start <= ts < end for start, end in windows)


def _trace(
    trajectories: dict[str, Trajectory], results: list[CheckResult], ts: float, bake: bool
) -> None:
    for r in results:
        if r.segment is not None:
            continue
        name = _name(r, bake)
        t = trajectories.get(name)
        if t is None:
            t = trajectories[name] = Trajectory(name, r.metric, r.margin)
        t.add(r, ts)


def replay(
    route: RouteConfig,
    outcomes: list[StoredOutcome],
    labeled: list[LabeledOutcome],
    batches: int = 150,
    bake: list[tuple[float, float]] | None = None,
) -> tuple[dict[str, Trajectory], list[CheckResult], RouteAnalysis, RouteAnalysis | None]:
    """Every check's trajectory over ``batches`` equal slices of the outcomes; with ``bake``
    windows (``bake_windows``) the outcomes recorded in them feed the bake's own tests."""
    weight = route.canary.weight if route.mode == "canary" else 0.0
    analysis = RouteAnalysis(route.analysis, canary_weight=weight)
    baking = RouteAnalysis(route.analysis) if bake else None
    by_outcome: dict[int, list[LabeledOutcome]] = defaultdict(list)
    for lo in labeled:
        by_outcome[lo.outcome.id].append(lo)
    trajectories: dict[str, Trajectory] = {}
    classes = evidence.wants_classes(route)
    size = max(1, math.ceil(len(outcomes) / batches))
    for start in range(0, len(outcomes), size):
        chunk = outcomes[start : start + size]
        # canary requests and their labels are the rollout's, as in the judge
        analysis.add_canary(evidence.canary_from(chunk))
        joined = [lo for o in chunk for lo in by_outcome.get(o.id, ())]
        if joined:
            analysis.add_canary_labels(evidence.canary_labels_from(route, joined))
        baked = [o for o in chunk if bake and _baked(o.record.ts, bake)]
        before = [o for o in chunk if not (bake and _baked(o.record.ts, bake))]
        for tests, rows in ((analysis, before), (baking, baked)):
            if tests is None or not rows:
                continue
            tests.add_pairs(evidence.pairs_from(rows, classes=classes))
            labels = [lo for o in rows for lo in by_outcome.get(o.id, ())]
            if labels:
                tests.add_labels(evidence.labels_from(route, labels))
            results = _results(tests) if tests is analysis else tests.results("shadow")
            _trace(trajectories, results, rows[-1].record.ts, tests is baking)
    return trajectories, _results(analysis), analysis, baking


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
    windows = bake_windows(audit)
    trajectories, final, analysis, baking = replay(route, outcomes, labeled, batches, windows)
    return RolloutData(
        route, chosen, outcomes, labeled, audit, trajectories, final,
        analysis.alpha_harm_each, analysis.alpha_pass, total - len(outcomes),
        bake_final=baking.results("shadow") if baking is not None else [],
        bake_windows=windows,
        bake_outcomes=sum(1 for o in outcomes if _baked(o.record.ts, windows)),
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
