"""Checks from the config mapped to ``shadowgate.stats`` tests (DESIGN §5).

Every check asks two one-sided questions on the same data, both about the check's
margin ``m`` (its tolerance):

- **harm**: is the candidate worse than production by more than ``m``? Rejecting rolls
  the candidate back. A route rolls back if *any* harm test rejects, so harm tests share
  α/2 by Bonferroni (anytime-valid tests stay valid under Bonferroni).
- **pass**: is the candidate worse by less than ``m`` (goal ``non_inferior``) or better
  (goal ``superior``)? A route passes only when *every* pass test rejects; by the
  intersection–union principle each pass test may then use the full α/2.

So P(wrong rollback) + P(wrong promotion) ≤ α/2 + α/2 = α. Per-segment guardrails add
harm tests per segment value, paid from the check's harm share with an α-spending
series (the j-th segment seen gets 6/(π² j²) of half the share), so segments that
appear later cost no validity.

Mapping (values are candidate − production, "worse" is up for errors/latency/loss and
down for accuracy/agreement):

| metric    | shadow (paired)                                  | canary (unpaired)              |
|-----------|--------------------------------------------------|--------------------------------|
| errors    | BoundedMeanCS on (fail_c − fail_p + 1)/2         | TwoSampleMeanTest on fail 0/1  |
| latency   | PairedMeanTest on log(lat_c / lat_p), m=log(1+m) | TwoSampleMeanTest on log lat   |
| agreement | BoundedMeanCS on per-request agreement vs ``min``| (not observable: no pairs)     |
| accuracy  | BoundedMeanCS on (correct_c − correct_p + 1)/2   | TwoSampleMeanTest on correct   |
| loss      | PairedMeanTest on loss_c − loss_p                | TwoSampleMeanTest on loss      |
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal, Protocol

import numpy as np

from shadowgate.config.model import CheckConfig
from shadowgate.rollout.evidence import (
    CanaryBatch,
    CanaryLabelBatch,
    Floats,
    LabelBatch,
    PairBatch,
)
from shadowgate.stats import BoundedMeanCS, PairedMeanTest, TwoSampleMeanTest

Phase = Literal["shadow", "canary"]
Verdict = Literal["pending", "passed", "harm", "n/a"]


class _Test(Protocol):
    @property
    def n(self) -> int: ...
    @property
    def p_value(self) -> float: ...
    @property
    def estimate(self) -> float: ...
    def confidence_interval(self, alpha: float = ...) -> tuple[float, float]: ...
    def to_dict(self) -> dict[str, Any]: ...


_CLASSES: dict[str, Any] = {
    "BoundedMeanCS": BoundedMeanCS,
    "PairedMeanTest": PairedMeanTest,
    "TwoSampleMeanTest": TwoSampleMeanTest,
}


def _dump(test: _Test) -> dict[str, Any]:
    return {"cls": type(test).__name__, "state": test.to_dict()}


def _load(d: dict[str, Any]) -> Any:
    return _CLASSES[d["cls"]].from_dict(d["state"])


@dataclass(frozen=True)
class CheckResult:
    """What one check says now (shown in /api/status, metrics and the audit log)."""

    check: str
    metric: str
    phase: Phase
    segment: str | None
    n: int
    estimate: float | None
    ci_lower: float | None
    ci_upper: float | None
    p_harm: float
    p_pass: float
    verdict: Verdict
    margin: float

    @property
    def p_value(self) -> float:
        """The p-value of the question that decided, else the smaller of the two."""
        if self.verdict == "harm":
            return self.p_harm
        if self.verdict == "passed":
            return self.p_pass
        return min(self.p_harm, self.p_pass)

    def to_dict(self) -> dict[str, Any]:
        return {
            "check": self.check,
            "metric": self.metric,
            "phase": self.phase,
            "segment": self.segment,
            "n": self.n,
            "estimate": self.estimate,
            "ci": [self.ci_lower, self.ci_upper],
            "p_value": self.p_value,
            "p_harm": self.p_harm,
            "p_pass": self.p_pass,
            "verdict": self.verdict,
            "margin": self.margin,
        }


@dataclass(frozen=True)
class _Spec:
    """How one (metric, phase) becomes tests: constructors and a display transform."""

    make_harm: Callable[[], Any]
    make_pass: Callable[[], Any]
    make_display: Callable[[], Any]
    #: test-scale estimate → the number shown (e.g. log-ratio → relative slowdown)
    shown: Callable[[float], float]
    paired: bool  # True: update(values); False: update(values, groups)


def _ident(x: float) -> float:
    return x


def _from_half(x: float) -> float:
    return 2.0 * x - 1.0


def _ratio(x: float) -> float:
    return math.expm1(x) if x < 700 else math.inf


def spec_for(
    check: CheckConfig, phase: Phase, alpha_harm: float = 0.0125, alpha_pass: float = 0.025
) -> _Spec | None:
    """The tests for a check in a phase, or None when the phase cannot observe it.

    The alphas tune the betting confidence sequences (their bets are sharpest at the level
    they are read at); the p-values are valid at every level regardless.
    """
    ah, ap = alpha_harm, alpha_pass
    m = check.effective_margin
    sup = check.goal == "superior"
    metric = check.metric
    if phase == "shadow":
        if metric in ("errors", "accuracy"):
            # paired differences in {-1, 0, 1} mapped to [0, 1]: t = (1 ± m) / 2
            up = metric == "errors"  # errors: worse is up; accuracy: worse is down
            t = (1 + m) / 2 if up else (1 - m) / 2
            tp = 0.5 if sup else t
            return _Spec(
                lambda: BoundedMeanCS(
                    threshold=t, alternative="greater" if up else "less", alpha=ah
                ),
                lambda: BoundedMeanCS(
                    threshold=tp, alternative="less" if up else "greater", alpha=ap
                ),
                lambda: BoundedMeanCS(alpha=2 * ap),
                _from_half,
                True,
            )
        if metric == "agreement":
            lo = check.effective_min
            return _Spec(
                lambda: BoundedMeanCS(threshold=lo, alternative="less", alpha=ah),
                lambda: BoundedMeanCS(threshold=lo, alternative="greater", alpha=ap),
                lambda: BoundedMeanCS(alpha=2 * ap),
                _ident,
                True,
            )
        margin = math.log1p(m) if metric == "latency" else m
        return _Spec(
            lambda: PairedMeanTest(margin=margin, alternative="greater"),
            lambda: PairedMeanTest(margin=0.0 if sup else margin, alternative="less"),
            lambda: PairedMeanTest(),
            _ratio if metric == "latency" else _ident,
            True,
        )
    if metric == "agreement":
        return None
    if metric == "accuracy":
        return _Spec(
            lambda: TwoSampleMeanTest(margin=-m, alternative="less"),
            lambda: TwoSampleMeanTest(margin=0.0 if sup else -m, alternative="greater"),
            lambda: TwoSampleMeanTest(),
            _ident,
            False,
        )
    margin = math.log1p(m) if metric == "latency" else m
    return _Spec(
        lambda: TwoSampleMeanTest(margin=margin, alternative="greater"),
        lambda: TwoSampleMeanTest(margin=0.0 if sup else margin, alternative="less"),
        lambda: TwoSampleMeanTest(),
        _ratio if metric == "latency" else _ident,
        False,
    )


def needs_labels(check: CheckConfig) -> bool:
    return check.metric in ("accuracy", "loss")


def segment_alpha(share: float, j: int) -> float:
    """α-spending over an open-ended list of segments: Σ_j 6/(π² j²) = 1."""
    return share * 6.0 / (math.pi**2 * j * j)


class CheckState:
    """The live tests of one check in one phase: overall harm/pass/display, per-segment harm."""

    def __init__(
        self, check: CheckConfig, phase: Phase, alpha_harm: float, alpha_pass: float
    ) -> None:
        spec = spec_for(check, phase, alpha_harm, alpha_pass)
        if spec is None:
            raise ValueError(f"{check.metric} is not observable in {phase} mode")
        self.check = check
        self.phase: Phase = phase
        self.spec = spec
        self.alpha_pass = alpha_pass
        # with per-segment guardrails, half of the harm share goes to the segments
        self.alpha_harm = alpha_harm / 2 if check.per_segment else alpha_harm
        self.alpha_segments = alpha_harm / 2 if check.per_segment else 0.0
        self.harm: Any = spec.make_harm()
        self.pass_: Any = spec.make_pass()
        self.display: Any = spec.make_display()
        self.segments: dict[str, Any] = {}  # segment value → harm test, in order first seen

    def update(self, values: Floats, groups: Floats | None, segments: Sequence[str | None]) -> None:
        if len(values) == 0:
            return
        args: tuple[Any, ...] = (values,) if groups is None else (values, groups)
        self.harm.update(*args)
        self.pass_.update(*args)
        self.display.update(*args)
        if self.check.per_segment:
            seg = np.asarray([s if s is not None else "" for s in segments], dtype=object)
            for value in dict.fromkeys(seg.tolist()):
                if value == "":
                    continue
                mask = seg == value
                test = self.segments.get(value)
                if test is None:
                    test = self.segments[value] = self.spec.make_harm()
                sub = (values[mask],) if groups is None else (values[mask], groups[mask])
                test.update(*sub)

    @property
    def n(self) -> int:
        return int(self.display.n)

    def _segment_harm(self) -> tuple[str, Any] | None:
        for j, (value, test) in enumerate(self.segments.items(), start=1):
            if test.p_value <= segment_alpha(self.alpha_segments, j):
                return value, test
        return None

    def results(self, alpha_display: float) -> list[CheckResult]:
        """The overall result, then one per segment that shows harm."""
        harm = self.harm.p_value <= self.alpha_harm
        passed = self.pass_.p_value <= self.alpha_pass
        verdict: Verdict = "harm" if harm else "passed" if passed else "pending"
        out = [self._result(None, self.display, self.harm, self.pass_, verdict, alpha_display)]
        seg = self._segment_harm()
        if seg is not None:
            value, test = seg
            out.append(self._result(value, test, test, self.pass_, "harm", alpha_display))
        return out

    def _result(
        self, segment: str | None, shown: Any, harm: Any, pass_: Any, verdict: Verdict, a: float
    ) -> CheckResult:
        n = int(shown.n)
        est = lo = hi = None
        if n > 0:
            f = self.spec.shown
            est = _finite(f(float(shown.estimate)))
            low, high = shown.confidence_interval(a)
            lo, hi = _finite(f(float(low))), _finite(f(float(high)))
        return CheckResult(
            check=self.check.label,
            metric=self.check.metric,
            phase=self.phase,
            segment=segment,
            n=n,
            estimate=est,
            ci_lower=lo,
            ci_upper=hi,
            p_harm=float(harm.p_value),
            p_pass=float(pass_.p_value),
            verdict=verdict,
            margin=self.check.effective_margin
            if self.check.metric != "agreement"
            else self.check.effective_min,
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "harm": _dump(self.harm),
            "pass": _dump(self.pass_),
            "display": _dump(self.display),
            "segments": [[k, _dump(v)] for k, v in self.segments.items()],
        }

    def restore(self, d: dict[str, Any]) -> None:
        self.harm = _load(d["harm"])
        self.pass_ = _load(d["pass"])
        self.display = _load(d["display"])
        self.segments = {k: _load(v) for k, v in d.get("segments", [])}


def _finite(x: float) -> float | None:
    return x if math.isfinite(x) else None


# --- extracting each check's values from a batch -------------------------------------

Extracted = tuple[Floats, Floats | None, list[str | None]]


def _keep(mask: np.ndarray[Any, Any], segs: list[str | None]) -> list[str | None]:
    return [s for s, k in zip(segs, mask.tolist(), strict=True) if k]


def values_for_pairs(metric: str, b: PairBatch) -> Extracted | None:
    if len(b) == 0:
        return None
    segs = b.segment or [None] * len(b)
    if metric == "errors":
        v = (b.cand_fail.astype(np.float64) - b.prod_fail.astype(np.float64) + 1.0) / 2.0
        return v, None, list(segs)
    if metric == "latency":
        x = b.log_latency_ratio
    elif metric == "agreement":
        x = b.agreement
    else:
        return None
    ok = np.isfinite(x)
    return x[ok], None, _keep(ok, segs)


def values_for_labels(metric: str, b: LabelBatch) -> Extracted | None:
    if len(b) == 0:
        return None
    segs = b.segment or [None] * len(b)
    if metric == "accuracy":
        d = b.cand_correct - b.prod_correct
        ok = np.isfinite(d)
        return (np.clip(d[ok], -1.0, 1.0) + 1.0) / 2.0, None, _keep(ok, segs)
    if metric == "loss":
        d = b.cand_loss - b.prod_loss
        ok = np.isfinite(d)
        return d[ok], None, _keep(ok, segs)
    return None


def values_for_canary(metric: str, b: CanaryBatch) -> Extracted | None:
    if len(b) == 0:
        return None
    segs = b.segment or [None] * len(b)
    groups = b.candidate.astype(np.float64)
    if metric == "errors":
        return b.failed.astype(np.float64), groups, list(segs)
    if metric == "latency":
        ok = np.isfinite(b.log_latency)
        return b.log_latency[ok], groups[ok], _keep(ok, segs)
    return None


def values_for_canary_labels(metric: str, b: CanaryLabelBatch) -> Extracted | None:
    if len(b) == 0:
        return None
    segs = b.segment or [None] * len(b)
    groups = b.candidate.astype(np.float64)
    x = b.correct if metric == "accuracy" else b.loss if metric == "loss" else None
    if x is None:
        return None
    ok = np.isfinite(x)
    return x[ok], groups[ok], _keep(ok, segs)
