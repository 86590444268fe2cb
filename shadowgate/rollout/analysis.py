"""All the evidence of one rollout: every check's tests in both phases, plus counters.

Updated incrementally with each batch the judge reads (never recomputed from scratch),
serialised whole with ``to_dict`` so a restarted judge resumes with identical statistics.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from shadowgate.config.model import AnalysisConfig
from shadowgate.rollout.checks import (
    CheckResult,
    CheckState,
    Phase,
    spec_for,
    values_for_canary,
    values_for_canary_labels,
    values_for_labels,
    values_for_pairs,
)
from shadowgate.rollout.evidence import CanaryBatch, CanaryLabelBatch, LabelBatch, PairBatch
from shadowgate.stats import CountShareTest


class RouteAnalysis:
    """Tests for every check of a route, α split as described in ``rollout.checks``."""

    def __init__(self, analysis: AnalysisConfig, canary_weight: float = 0.0) -> None:
        self.config = analysis
        alpha = analysis.alpha
        n_checks = max(1, len(analysis.checks))
        # harm family: α/2 over the checks, plus the SRM guard in canary
        self.alpha_harm_each = alpha / 2 / (n_checks + 1)
        self.alpha_srm = self.alpha_harm_each
        self.alpha_pass = alpha / 2
        self.checks: dict[Phase, dict[str, CheckState]] = {"shadow": {}, "canary": {}}
        for phase in ("shadow", "canary"):
            for check in analysis.checks:
                if spec_for(check, phase) is not None:
                    self.checks[phase][check.label] = CheckState(
                        check, phase, self.alpha_harm_each, self.alpha_pass
                    )
        w = min(max(canary_weight, 0.0), 100.0) / 100.0
        self.srm = CountShareTest(shares=(1.0 - w, w)) if 0 < w < 1 else None
        self.srm_weight = canary_weight
        self.pairs = 0
        self.labels = 0
        self.canary = [0, 0]  # outcomes per variant (production, candidate), whole rollout
        self.step_counts = [0, 0]  # per variant since the current canary step began
        self.canary_labels = 0

    # --- feeding ----------------------------------------------------------------------

    def add_pairs(self, b: PairBatch) -> None:
        self.pairs += len(b)
        for state in self.checks["shadow"].values():
            got = values_for_pairs(state.check.metric, b)
            if got is not None:
                state.update(*got)

    def add_labels(self, b: LabelBatch) -> None:
        self.labels += len(b)
        for state in self.checks["shadow"].values():
            got = values_for_labels(state.check.metric, b)
            if got is not None:
                state.update(*got)

    def add_canary(self, b: CanaryBatch) -> None:
        if len(b) == 0:
            return
        cand = int(np.count_nonzero(b.candidate))
        self.canary[0] += len(b) - cand
        self.canary[1] += cand
        self.step_counts[0] += len(b) - cand
        self.step_counts[1] += cand
        if self.srm is not None:
            assigned = b.assigned if len(b.assigned) == len(b) else np.ones(len(b), bool)
            self.srm.update(b.candidate[assigned].astype(np.int64))
        for state in self.checks["canary"].values():
            got = values_for_canary(state.check.metric, b)
            if got is not None:
                state.update(*got)

    def add_canary_labels(self, b: CanaryLabelBatch) -> None:
        self.canary_labels += len(b)
        for state in self.checks["canary"].values():
            got = values_for_canary_labels(state.check.metric, b)
            if got is not None:
                state.update(*got)

    def set_canary_weight(self, weight: float) -> None:
        """A new canary step: the SRM check follows the new split; step counters restart."""
        self.step_counts = [0, 0]
        w = min(max(weight, 0.0), 100.0) / 100.0
        self.srm_weight = weight
        if not 0 < w < 1:
            self.srm = None
        elif self.srm is None:
            self.srm = CountShareTest(shares=(1.0 - w, w))
        else:
            self.srm.set_shares((1.0 - w, w))

    # --- reading ----------------------------------------------------------------------

    def results(self, phase: Phase) -> list[CheckResult]:
        out: list[CheckResult] = []
        for state in self.checks[phase].values():
            out.extend(state.results(self.config.alpha))
        return out

    def srm_rejected(self) -> bool:
        return self.srm is not None and self.srm.p_value <= self.alpha_srm

    def srm_p_value(self) -> float:
        return 1.0 if self.srm is None else float(self.srm.p_value)

    def to_dict(self) -> dict[str, Any]:
        return {
            "checks": {
                phase: {k: v.to_dict() for k, v in states.items()}
                for phase, states in self.checks.items()
            },
            "srm": self.srm.to_dict() if self.srm is not None else None,
            "srm_weight": self.srm_weight,
            "pairs": self.pairs,
            "labels": self.labels,
            "canary": list(self.canary),
            "step_counts": list(self.step_counts),
            "canary_labels": self.canary_labels,
        }

    @classmethod
    def from_dict(cls, analysis: AnalysisConfig, d: dict[str, Any]) -> RouteAnalysis:
        self = cls(analysis, canary_weight=float(d.get("srm_weight", 0.0)))
        for phase, states in d.get("checks", {}).items():
            for label, sd in states.items():
                if label in self.checks[phase]:
                    self.checks[phase][label].restore(sd)
        self.srm = CountShareTest.from_dict(d["srm"]) if d.get("srm") else None
        self.pairs = int(d.get("pairs", 0))
        self.labels = int(d.get("labels", 0))
        self.canary = [int(x) for x in d.get("canary", [0, 0])]
        self.step_counts = [int(x) for x in d.get("step_counts", [0, 0])]
        self.canary_labels = int(d.get("canary_labels", 0))
        return self
