"""Sharing a route's alpha among its checks, and saying which check decided.

Two ways, both valid for anytime-valid tests at every look:

- ``"bonferroni"``: check ``i`` gets ``alpha * w_i`` (weights sum to 1) and the family
  rejects when any check's always-valid p-value falls to its share. P(any false rejection)
  <= sum of shares = alpha, by the union bound.
- ``"e-average"``: the weighted average of the checks' current e-values is itself an
  e-process under the global null (a mixture of supermartingales), so the family rejects
  when its running maximum reaches ``1 / alpha``. Tests the intersection null only: it
  says that *some* check is off, and names the one contributing most evidence.

Use one family for the harm tests of a route (any rejection -> roll back) and one for the
pass tests (every check must pass: there each pass test may use the full share, as the
intersection-union principle allows, or the engine may keep the Bonferroni split).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal, Protocol

from shadowgate.stats._core import check_alpha

Method = Literal["bonferroni", "e-average"]


class SequentialTest(Protocol):
    @property
    def p_value(self) -> float: ...

    @property
    def e_value(self) -> float: ...


@dataclass(frozen=True)
class FamilyResult:
    """Outcome of a family look: whether it rejects, which check decided, and why."""

    reject: bool
    decided_by: str | None
    p_values: dict[str, float]
    alpha_shares: dict[str, float]
    family_e_value: float | None = None
    reason: str = ""


@dataclass
class TestFamily:
    """Checks of a route that share ``alpha`` (weights default to equal shares).

    >>> from shadowgate.stats import SignTest
    >>> fam = TestFamily({"errors": SignTest(alternative="greater")}, alpha=0.05)
    >>> fam.result().reject
    False
    """

    tests: Mapping[str, SequentialTest]
    alpha: float = 0.05
    method: Method = "bonferroni"
    weights: Mapping[str, float] | None = None
    _max_e: float = field(default=1.0, init=False)

    __test__ = False  # not a pytest test class

    def __post_init__(self) -> None:
        check_alpha(self.alpha)
        if not self.tests:
            raise ValueError("a test family needs at least one check")
        if self.method not in ("bonferroni", "e-average"):
            raise ValueError(f"method must be 'bonferroni' or 'e-average'; got {self.method!r}")
        w = dict(self.weights) if self.weights is not None else dict.fromkeys(self.tests, 1.0)
        if set(w) != set(self.tests) or any(v <= 0 for v in w.values()):
            raise ValueError("weights must give a positive weight to every check, and only to them")
        total = sum(w.values())
        self._w = {k: v / total for k, v in w.items()}

    @property
    def alpha_shares(self) -> dict[str, float]:
        return {k: self.alpha * v for k, v in self._w.items()}

    def result(self) -> FamilyResult:
        """Look at the family now (call after updating the member tests)."""
        p = {k: t.p_value for k, t in self.tests.items()}
        shares = self.alpha_shares
        if self.method == "bonferroni":
            hits = {k: p[k] / shares[k] for k in p if p[k] <= shares[k]}
            if not hits:
                return FamilyResult(False, None, p, shares, reason="no check reached its share")
            name = min(hits, key=lambda k: hits[k])
            why = f"{name}: p = {p[name]:.3g} <= its share {shares[name]:.3g}"
            return FamilyResult(True, name, p, shares, reason=why)
        contrib = {k: self._w[k] * t.e_value for k, t in self.tests.items()}
        e_now = math.fsum(contrib.values())
        self._max_e = max(self._max_e, e_now)
        if self._max_e >= 1.0 / self.alpha:
            name = max(contrib, key=lambda k: contrib[k])
            why = f"average e-value {self._max_e:.3g} >= 1/alpha; largest share from {name}"
            return FamilyResult(True, name, p, shares, self._max_e, why)
        return FamilyResult(False, None, p, shares, self._max_e, "average e-value below 1/alpha")
