"""Time to a decision by simulating the judge's own procedure on generated outcomes.

``shadowgate plan`` asks: at this traffic, with these checks and margins, how long until a
candidate that is this much worse (or identical, or better) is promoted or rolled back?
The answer is not a formula for one test: each simulated run feeds generated batches to
the route's :class:`~shadowgate.rollout.analysis.RouteAnalysis` (the same checks, α split
and tests the judge builds) and asks :func:`~shadowgate.rollout.policy.decide` after every
look, applying its events with the state machine, until the rollout is promoted, rolled
back or inconclusive. Whatever changes in the checks or the policy changes the plan too.

The candidate differs from production on one metric by ``effect`` ("how much worse"; 0 is
identical, negative is better) and is identical on the others:

- errors: its failure rate is higher by ``effect`` (it fails where production fails, and
  on ``effect`` of the other requests);
- latency: it is slower by the factor ``1 + effect`` (log-normal pair ratios);
- agreement: it disagrees with production on ``effect`` of requests;
- accuracy: its accuracy is lower by ``effect`` (it is wrong on some of production's right
  answers); labels arrive for ``label_share`` of requests at once;
- loss: its mean loss is higher by ``effect``.

Pure: no clock (simulated time is samples / rate), no I/O.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from shadowgate.config.model import RouteConfig
from shadowgate.rollout.analysis import RouteAnalysis
from shadowgate.rollout.evidence import CanaryBatch, CanaryLabelBatch, LabelBatch, PairBatch
from shadowgate.rollout.machine import State, initial_state, routing_for, transition
from shadowgate.rollout.policy import decide

Outcome = Literal["promote", "rollback", "inconclusive", "paused"]
#: each look adds at least this share of the samples seen so far (bounds looks per run)
GROWTH = 0.05
MIN_BATCH = 20


@dataclass(frozen=True)
class Scenario:
    """How the generated candidate differs from production (see the module doc)."""

    metric: str
    effect: float
    baseline_error: float = 0.01
    baseline_accuracy: float = 0.9
    latency_sd: float = 0.3  # sd of log(candidate latency / production latency), per pair
    label_share: float = 1.0


@dataclass(frozen=True)
class Run:
    outcome: Outcome
    samples: int  # pairs (shadow) plus requests judged (canary) at the decision
    requests: float  # client requests it took
    check: str | None  # the check that decided a rollback


@dataclass
class Summary:
    """Samples and time to each kind of decision over ``runs`` simulated rollouts."""

    scenario: Scenario
    rate: float
    runs: int
    share: dict[str, float] = field(default_factory=dict)
    samples: dict[str, dict[str, float]] = field(default_factory=dict)  # outcome → median/p90
    seconds: dict[str, dict[str, float]] = field(default_factory=dict)
    deciding_checks: dict[str, int] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "metric": self.scenario.metric,
            "effect": self.scenario.effect,
            "rate": self.rate,
            "runs": self.runs,
            "share": self.share,
            "samples": self.samples,
            "seconds": self.seconds,
            "deciding_checks": self.deciding_checks,
        }


class _Generator:
    def __init__(self, route: RouteConfig, sc: Scenario, rng: np.random.Generator) -> None:
        self.sc = sc
        self.rng = rng
        self.labels = any(c.metric in ("accuracy", "loss") for c in route.analysis.checks)
        self.classes = any(c.metric == "prediction_shift" for c in route.analysis.checks)

    def _effect(self, metric: str) -> float:
        return self.sc.effect if self.sc.metric == metric else 0.0

    def _cand_fail(self, prod_fail: np.ndarray[Any, Any], n: int) -> np.ndarray[Any, Any]:
        de, pe = self._effect("errors"), self.sc.baseline_error
        if de >= 0:
            return prod_fail | (self.rng.random(n) < de / max(1e-12, 1 - pe))
        return prod_fail & ~(self.rng.random(n) < min(1.0, -de / max(pe, 1e-12)))

    def pairs(self, n: int) -> tuple[PairBatch, LabelBatch | None]:
        rng, sc = self.rng, self.sc
        pf = rng.random(n) < sc.baseline_error
        cf = self._cand_fail(pf, n)
        ok = ~(pf | cf)
        lat = rng.normal(math.log1p(self._effect("latency")), sc.latency_sd, n)
        agree = (rng.random(n) >= self._effect("agreement")).astype(np.float64)
        nan = np.float64(math.nan)
        batch = PairBatch(pf, cf, np.where(ok, lat, nan), np.where(ok, agree, nan), [None] * n)
        if self.classes:  # two classes, same shares; a disagreeing row swaps its class
            prod = rng.random(n) < 0.5
            cand = np.where(agree == 1.0, prod, ~prod)
            batch.prod_class = np.where(prod[ok], "1", "0").astype(object)
            batch.cand_class = np.where(cand[ok], "1", "0").astype(object)
            batch.class_segment = [None] * len(batch.prod_class)
        if not self.labels:
            return batch, None
        k = int(rng.binomial(n, sc.label_share))
        pc = (rng.random(k) < sc.baseline_accuracy).astype(np.float64)
        cc = self._cand_correct(pc)
        pl = rng.exponential(0.3, k)
        cl = pl + self._effect("loss") + rng.normal(0.0, 0.1, k)
        return batch, LabelBatch(pc, cc, pl, cl, [None] * k)

    def _cand_correct(self, pc: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
        e, a = self._effect("accuracy"), self.sc.baseline_accuracy
        u = self.rng.random(len(pc))
        if e >= 0:  # wrong on e / a of production's right answers
            return np.where((pc == 1.0) & (u < e / max(a, 1e-12)), 0.0, pc)
        return np.where((pc == 0.0) & (u < -e / max(1 - a, 1e-12)), 1.0, pc)

    def canary(self, n: int, weight: float) -> tuple[CanaryBatch, CanaryLabelBatch | None]:
        rng, sc = self.rng, self.sc
        cand = rng.random(n) < weight / 100.0
        failed = rng.random(n) < sc.baseline_error + cand * self._effect("errors")
        lat = math.log(0.02) + rng.normal(0.0, sc.latency_sd, n)
        lat = lat + cand * math.log1p(self._effect("latency"))
        batch = CanaryBatch(
            cand, failed, np.where(failed, math.nan, lat), np.ones(n, bool), [None] * n
        )
        if not self.labels:
            return batch, None
        k = int(rng.binomial(n, sc.label_share))
        lc = cand[:k]
        correct = rng.random(k) < sc.baseline_accuracy - lc * self._effect("accuracy")
        loss = rng.exponential(0.3, k) + lc * self._effect("loss")
        return batch, CanaryLabelBatch(lc, correct.astype(np.float64), loss, [None] * k)


def simulate_run(route: RouteConfig, sc: Scenario, rate: float, rng: np.random.Generator) -> Run:
    """One rollout of ``route`` from its start to a decision, on generated outcomes."""
    a, steps = route.analysis, route.canary.steps
    state = initial_state(route.mode, steps, 0.0)
    weight = routing_for(state, mode=route.mode, weight=route.canary.weight, steps=steps).weight
    analysis = RouteAnalysis(a, canary_weight=weight if route.mode == "canary" else 0.0)
    gen = _Generator(route, sc, rng)
    mirror = max(route.mirror.percent, 1e-9) / 100.0
    requests = 0.0
    while True:
        seen = analysis.pairs + sum(analysis.canary)
        n = max(MIN_BATCH, int(rate * a.interval), int(seen * GROWTH))
        if state.state is State.SHADOW:
            pairs, labels = gen.pairs(n)
            analysis.add_pairs(pairs)
            if labels is not None:
                analysis.add_labels(labels)
            requests += n / mirror
        else:
            batch, clabels = gen.canary(n, weight)
            analysis.add_canary(batch)
            if clabels is not None:
                analysis.add_canary_labels(clabels)
            requests += n
        now = requests / rate
        began = route.mode == "shadow"
        d = decide(route, state, analysis, now=now, started_at=0.0, began_in_shadow=began)
        if d is None:
            continue
        before = state
        state = transition(
            state, d.event, n_steps=len(steps), await_approval=False, now=now, reason=d.reason
        )
        samples = analysis.pairs + sum(analysis.canary)
        if state.state is State.CANARY and (before.state, before.step) != (
            State.CANARY,
            state.step,
        ):
            r = routing_for(state, mode=route.mode, weight=route.canary.weight, steps=steps)
            weight = r.weight
            analysis.set_canary_weight(weight)
            continue
        check = d.result.check if d.result is not None else None
        if state.state is State.PROMOTED:
            return Run("promote", samples, requests, None)
        if state.state is State.ROLLED_BACK:
            return Run("rollback", samples, requests, check)
        if state.state is State.PAUSED:
            return Run("paused", samples, requests, None)
        return Run("inconclusive", samples, requests, None)


def plan(route: RouteConfig, sc: Scenario, rate: float, runs: int = 100, seed: int = 1) -> Summary:
    """``runs`` simulated rollouts: how often each decision, and how soon (median, p90)."""
    if rate <= 0:
        raise ValueError("rate must be positive")
    if runs < 1:
        raise ValueError("runs must be at least 1")
    rng = np.random.default_rng(seed)
    done = [simulate_run(route, sc, rate, rng) for _ in range(runs)]
    out = Summary(sc, rate, runs)
    for kind in ("promote", "rollback", "inconclusive", "paused"):
        mine = [r for r in done if r.outcome == kind]
        out.share[kind] = len(mine) / runs
        if not mine:
            continue
        s = np.array([r.samples for r in mine], dtype=np.float64)
        t = np.array([r.requests / rate for r in mine], dtype=np.float64)
        out.samples[kind] = {"median": float(np.median(s)), "p90": float(np.quantile(s, 0.9))}
        out.seconds[kind] = {"median": float(np.median(t)), "p90": float(np.quantile(t, 0.9))}
    for r in done:
        if r.check is not None:
            out.deciding_checks[r.check] = out.deciding_checks.get(r.check, 0) + 1
    return out
