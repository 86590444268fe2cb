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
down for accuracy/agreement). ``_TABLE`` below is this table; each row names the values a
test sees and the tests of its harm and pass questions:

| metric    | shadow (paired)                                  | canary (unpaired)              |
|-----------|--------------------------------------------------|--------------------------------|
| errors    | (fail_c − fail_p + 1)/2: harm long-run mSPRT,    | TwoSampleMeanTest on fail 0/1  |
|           | pass betting CS (aGRAPA: fast when errors rare;  | (with ``burst`` k, the pass:   |
|           | with ``burst`` k, k interleaved ones)            | InterleavedTwoSampleTest)      |
| latency   | PairedMeanTest, long-run variance, on            | TwoSampleMeanTest on log lat   |
|           | log(lat_c / lat_p), margin log(1 + m)            |                                |
| agreement | PairedMeanTest, long-run variance, vs ``min``    | (not observable: no pairs)     |
| accuracy  | as errors, on (correct_c − correct_p + 1)/2      | TwoSampleMeanTest on correct   |
| loss      | PairedMeanTest, long-run variance, on loss_c − p | TwoSampleMeanTest on loss      |
| prediction_shift | PredictionShiftTest on the per-row predicted | (not observable: no pairs) |
|           | classes, margin ``max_shift`` (any class's share) |                               |
| loss with | as errors, on (clip(loss_c) − clip(loss_p) + b)/ | TwoSampleMeanTest on clipped   |
| bound b   | 2b: pass by betting, exact for bounded losses    | loss                           |

"Long-run variance" is the dependence-robust plug-in of :mod:`shadowgate.stats.long_run`;
canary tests use each variant's own (``TwoSampleMeanTest(variance="long-run")``)
(autocorrelated latencies, bursty errors, runs of hard requests). ``method="iid"`` builds
the earlier procedure (i.i.d. plug-in, empirical-Bernstein bets) for comparison only:
``shadowgate simulate`` shows it failing on dependent data.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any, Literal, Protocol

import numpy as np

from shadowgate.config.model import CheckConfig
from shadowgate.rollout.evidence import Floats
from shadowgate.rollout.results import CheckResult as CheckResult  # re-exported
from shadowgate.rollout.results import Phase as Phase
from shadowgate.rollout.results import Verdict as Verdict
from shadowgate.stats import BoundedMeanCS, PairedMeanTest, TwoSampleMeanTest
from shadowgate.stats.bounded import update_together as update_bounded
from shadowgate.stats.class_shift import PredictionShiftTest
from shadowgate.stats.interleaved import InterleavedMeanTest
from shadowgate.stats.interleaved_two_sample import InterleavedTwoSampleTest
from shadowgate.stats.paired import update_together as update_paired
from shadowgate.stats.two_sample import update_together as update_two_sample

Method = Literal["long-run", "iid"]
METHODS: tuple[Method, ...] = ("long-run", "iid")


class _Test(Protocol):
    """What a check needs from a ``shadowgate.stats`` test."""

    @property
    def n(self) -> int: ...
    @property
    def p_value(self) -> float: ...
    @property
    def estimate(self) -> float: ...
    def update(self, *args: Any, **kwargs: Any) -> None: ...
    def confidence_interval(self, alpha: float = ...) -> tuple[float, float]: ...
    def to_dict(self) -> dict[str, Any]: ...


_CLASSES: dict[str, Callable[[dict[str, Any]], _Test]] = {
    "BoundedMeanCS": BoundedMeanCS.from_dict,
    "PairedMeanTest": PairedMeanTest.from_dict,
    "TwoSampleMeanTest": TwoSampleMeanTest.from_dict,
    "PredictionShiftTest": PredictionShiftTest.from_dict,
    "InterleavedMeanTest": InterleavedMeanTest.from_dict,
    "InterleavedTwoSampleTest": InterleavedTwoSampleTest.from_dict,
}


def _dump(test: _Test) -> dict[str, Any]:
    return {"cls": type(test).__name__, "state": test.to_dict()}


def _load(d: dict[str, Any]) -> _Test:
    return _CLASSES[d["cls"]](d["state"])


Make = Callable[[], _Test]


@dataclass(frozen=True)
class _Spec:
    """How one (metric, phase) becomes tests: constructors and a display transform."""

    make_harm: Make
    make_pass: Make
    make_display: Make
    #: test-scale estimate → the number shown (e.g. log-ratio → relative slowdown)
    shown: Callable[[float], float]
    paired: bool  # True: update(values); False: update(values, groups)


def _ident(x: float) -> float:
    return x


def _from_half(x: float) -> float:
    return 2.0 * x - 1.0


def _ratio(x: float) -> float:
    return math.expm1(x) if x < 700 else math.inf


@dataclass(frozen=True)
class _Row:
    """One row of the table: the values' kind, the null boundary, which way is worse."""

    kind: Literal["diff01", "level", "mean", "two-sample", "classes"]
    #: the harm (and non-inferiority pass) boundary from (margin, min)
    boundary: Callable[[float, float], float]
    #: the pass boundary for goal ``superior`` (None: the goal does not apply)
    superior: float | None
    #: the side that is worse: the harm test's alternative
    worse: Literal["greater", "less"]
    shown: Callable[[float], float]
    #: the values are 0/1 outcomes (errors, accuracy), so a constant stream is plausible
    zero_one: bool = False


def _flip(alt: str) -> str:
    return "less" if alt == "greater" else "greater"


def _margin(m: float, lo: float) -> float:
    return m


def _log_margin(m: float, lo: float) -> float:
    return math.log1p(m)


# paired differences in {-1, 0, 1} are mapped to [0, 1]: boundary (1 ± m) / 2
_TABLE: dict[tuple[str, Phase], _Row | None] = {
    ("errors", "shadow"): _Row(
        "diff01", lambda m, lo: (1 + m) / 2, 0.5, "greater", _from_half, zero_one=True
    ),
    ("accuracy", "shadow"): _Row(
        "diff01", lambda m, lo: (1 - m) / 2, 0.5, "less", _from_half, zero_one=True
    ),
    ("agreement", "shadow"): _Row("level", lambda m, lo: lo, None, "less", _ident),
    ("latency", "shadow"): _Row("mean", _log_margin, 0.0, "greater", _ratio),
    ("loss", "shadow"): _Row("mean", _margin, 0.0, "greater", _ident),
    ("prediction_shift", "shadow"): _Row("classes", _margin, None, "greater", _ident),
    ("errors", "canary"): _Row("two-sample", _margin, 0.0, "greater", _ident, zero_one=True),
    ("accuracy", "canary"): _Row(
        "two-sample", lambda m, lo: -m, 0.0, "less", _ident, zero_one=True
    ),
    ("agreement", "canary"): None,
    ("latency", "canary"): _Row("two-sample", _log_margin, 0.0, "greater", _ratio),
    ("loss", "canary"): _Row("two-sample", _margin, 0.0, "greater", _ident),
    ("prediction_shift", "canary"): None,
}


#: the variance floor of the paired 0/1 differences (errors, accuracy): a candidate that
#: fails every request while production answers gives a constant stream, which without a
#: floor carries no evidence at all. 1e-4 is a twentieth of the variance of a 0.1 % error
#: rate on one side, so it binds only on (near-)constant streams; raising the plug-in only
#: makes the test more conservative, so validity is untouched.
DIFF01_FLOOR = 1e-4


def _bounded_loss(bound: float) -> _Row:
    """Loss differences clipped to [-bound, bound] and mapped to [0, 1], tested as errors."""
    return _Row(
        "diff01", lambda m, lo: (1 + m / bound) / 2, 0.5, "greater", lambda x: (2 * x - 1) * bound
    )


def _makers(row: _Row, b: float, alt: str, a: float, method: Method) -> tuple[Make, Make]:
    """(question test, display test) constructors for one boundary and side."""
    if row.kind == "two-sample":
        # 0/1 outcomes (errors, accuracy) may be constant in both groups: floor them
        floor = DIFF01_FLOOR if row.zero_one else 0.0
        # each variant's long-run variance (errors in bursts); the control keeps i.i.d.
        var = "long-run" if method == "long-run" else "iid"
        return (
            lambda: TwoSampleMeanTest(margin=b, alternative=alt, min_variance=floor, variance=var)
        ), (lambda: TwoSampleMeanTest(variance=var))
    if method == "iid":  # the earlier procedure, kept as the simulation's negative control
        if row.kind == "mean":
            return (lambda: PairedMeanTest(margin=b, alternative=alt)), PairedMeanTest
        return (lambda: BoundedMeanCS(threshold=b, alternative=alt, alpha=a)), BoundedMeanCS
    floor = b * (1 - b) / 4 if row.kind == "level" else DIFF01_FLOOR if row.zero_one else 0.0
    return (
        lambda: PairedMeanTest(margin=b, alternative=alt, variance="long-run", min_variance=floor)
    ), (lambda: PairedMeanTest(variance="long-run"))


def spec_for(
    check: CheckConfig,
    phase: Phase,
    alpha_harm: float = 0.0125,
    alpha_pass: float = 0.025,
    method: Method = "long-run",
) -> _Spec | None:
    """The tests for a check in a phase, or None when the phase cannot observe it.

    The alphas tune the betting confidence sequences (their bets are sharpest at the level
    they are read at); the p-values are valid at every level regardless.
    """
    row = _TABLE[(check.metric, phase)]
    if check.metric == "loss" and check.bound is not None and phase == "shadow":
        row = _bounded_loss(check.bound)
    if row is None:
        return None
    if row.kind == "classes":  # values are (production, candidate) classes per row
        m = check.effective_margin
        return _Spec(
            partial(PredictionShiftTest, max_shift=m, alpha=alpha_harm),
            partial(PredictionShiftTest, max_shift=m, alpha=alpha_pass, question="pass"),
            partial(PredictionShiftTest, max_shift=m, alpha=alpha_pass),
            _ident,
            True,
        )
    harm_b = row.boundary(check.effective_margin, check.effective_min)
    sup = check.goal == "superior" and row.superior is not None
    pass_b = row.superior if sup and row.superior is not None else harm_b
    harm_alt = row.worse
    make_harm, make_display = _makers(row, harm_b, harm_alt, alpha_harm, method)
    make_pass, _ = _makers(row, pass_b, _flip(harm_alt), alpha_pass, method)
    if row.kind == "diff01":
        pa, ap = _flip(harm_alt), alpha_pass
        if method == "long-run" and check.burst > 1:  # bursts: interleaved independent bets
            make_pass = partial(
                InterleavedMeanTest, threshold=pass_b, alternative=pa, alpha=ap, spacing=check.burst
            )
        elif method == "long-run":  # rare errors: the bet grows as the data allow
            make_pass = partial(
                BoundedMeanCS, threshold=pass_b, alternative=pa, alpha=ap, bets="grapa"
            )
        make_display = partial(BoundedMeanCS, alpha=2 * ap)
    elif row.kind == "two-sample" and method == "long-run" and check.burst > 1:
        # bursts in a canary: interleaved lanes, neighbouring pairs of the two variants,
        # independent bets (errors, accuracy; a loss on [0, bound])
        make_pass = partial(
            InterleavedTwoSampleTest,
            margin=pass_b,
            alternative=_flip(harm_alt),
            alpha=alpha_pass,
            spacing=check.burst,
            scale=check.bound if check.metric == "loss" and check.bound else 1.0,
        )
    return _Spec(make_harm, make_pass, make_display, row.shown, row.kind != "two-sample")


#: the tests that can share one batch's moments when they have seen the same stream
_TOGETHER: tuple[tuple[type, Callable[..., None]], ...] = (
    (PairedMeanTest, update_paired),
    (BoundedMeanCS, update_bounded),
    (TwoSampleMeanTest, update_two_sample),  # takes the groups too
)


def segment_alpha(share: float, j: int) -> float:
    """α-spending over an open-ended list of segments: Σ_j 6/(π² j²) = 1."""
    return share * 6.0 / (math.pi**2 * j * j)


class CheckState:
    """The live tests of one check in one phase: overall harm/pass/display, per-segment harm."""

    def __init__(
        self,
        check: CheckConfig,
        phase: Phase,
        alpha_harm: float,
        alpha_pass: float,
        method: Method = "long-run",
    ) -> None:
        spec = spec_for(check, phase, alpha_harm, alpha_pass, method)
        if spec is None:
            raise ValueError(f"{check.metric} is not observable in {phase} mode")
        self.check = check
        self.phase: Phase = phase
        self.spec = spec
        self.alpha_pass = alpha_pass
        # with per-segment guardrails, half of the harm share goes to the segments
        self.alpha_harm = alpha_harm / 2 if check.per_segment else alpha_harm
        self.alpha_segments = alpha_harm / 2 if check.per_segment else 0.0
        self.harm: _Test = spec.make_harm()
        self.pass_: _Test = spec.make_pass()
        self.display: _Test = spec.make_display()
        self.segments: dict[str, _Test] = {}  # segment value → harm test, in order first seen
        self.clipped = 0  # losses outside [0, bound], clipped into it (disclosed in results)

    def update(self, values: Floats, groups: Floats | None, segments: Sequence[str | None]) -> None:
        if len(values) == 0:
            return
        args: tuple[Any, ...] = (values,) if groups is None else (values, groups)
        rest: list[_Test] = [self.harm, self.pass_, self.display]
        for kind, together in _TOGETHER:  # one check's tests of a kind share their moments
            alike = [t for t in rest if isinstance(t, kind)]
            if len(alike) > 1:
                together(alike, *args)
                rest = [t for t in rest if not isinstance(t, kind)]
        for t in rest:
            t.update(*args)
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

    def _segment_harm(self) -> tuple[str, _Test] | None:
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
        self,
        segment: str | None,
        shown: _Test,
        harm: _Test,
        pass_: _Test,
        verdict: Verdict,
        a: float,
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
            clipped=None if self.check.bound is None else self.clipped,
            burst=self.check.burst if self.check.burst > 1 else None,
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "harm": _dump(self.harm),
            "pass": _dump(self.pass_),
            "display": _dump(self.display),
            "segments": [[k, _dump(v)] for k, v in self.segments.items()],
            "clipped": self.clipped,
        }

    def restore(self, d: dict[str, Any]) -> None:
        self.harm = _load(d["harm"])
        self.pass_ = _load(d["pass"])
        self.display = _load(d["display"])
        self.segments = {k: _load(v) for k, v in d.get("segments", [])}
        self.clipped = int(d.get("clipped", 0))


def _finite(x: float) -> float | None:
    return x if math.isfinite(x) else None
