"""What one check says now: the record /api/status, metrics and the audit log show."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

Phase = Literal["shadow", "canary"]
Verdict = Literal["pending", "passed", "harm", "n/a"]


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
    #: losses clipped at the check's bound so far (None: the check has no bound)
    clipped: int | None = None
    #: the check's declared burst length in requests (None: requests taken as independent)
    burst: int | None = None

    @property
    def p_value(self) -> float:
        """The p-value of the question that decided, else the smaller of the two."""
        if self.verdict == "harm":
            return self.p_harm
        if self.verdict == "passed":
            return self.p_pass
        return min(self.p_harm, self.p_pass)

    def to_dict(self) -> dict[str, Any]:
        return (
            {
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
            | ({} if self.clipped is None else {"clipped": self.clipped})
            | ({} if self.burst is None else {"burst": self.burst})
        )
