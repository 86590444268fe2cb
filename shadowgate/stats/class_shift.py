"""PredictionShiftTest: do the two models' predicted-class shares differ by more than a margin?

(Also importable as ``shadowgate.inputs.PredictionShiftTest``; the rollout check
``prediction_shift`` is built on it, see ``rollout.checks``.)

On the same requests, class ``c``'s share shift is ``share_cand(c) - share_prod(c)``, the
mean of ``d = 1[cand == c] - 1[prod == c]`` over pairs. ``(d + 1) / 2`` lies in [0, 1], so
each class gets a :class:`~shadowgate.stats.BoundedMeanCS` (an exact, assumption-free
confidence sequence) and two one-sided tests against ``+max_shift`` and ``-max_shift``.

- ``p_value`` (harm): H0 "every class's shift is within ``max_shift``"; rejecting proves
  some class moved by more (a recommender collapsing onto popular items). alpha is split
  over the two sides and ``max_classes`` classes (Bonferroni).
- :meth:`passes`: every class's confidence sequence lies inside ``(-max_shift, max_shift)``.
- ``question="pass"`` builds the opposite one-sided tests instead (H0 "some class's shift
  is at least ``max_shift``"), whose ``p_value`` is the largest over classes and sides: an
  intersection-union test, so it needs no split of alpha. The rollout checks use one test
  of each question (``rollout.checks``).

Classes are discovered as they appear, up to ``max_classes`` (later ones pool into
``"(other)"``); a class seen first at pair ``n`` is back-filled with ``d = 0`` for the
``n`` earlier pairs, which is what they were.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from shadowgate.stats.bounded import BoundedMeanCS

OTHER = "(other)"
Question = Literal["harm", "pass"]


class PredictionShiftTest:
    """Anytime-valid test of predicted-class share shifts between production and candidate."""

    kind = "prediction_shift"

    def __init__(
        self,
        *,
        max_shift: float = 0.05,
        alpha: float = 0.05,
        max_classes: int = 20,
        question: Question = "harm",
    ) -> None:
        if not 0.0 < max_shift < 1.0:
            raise ValueError(f"max_shift must be in (0, 1); got {max_shift!r}")
        if max_classes < 2:
            raise ValueError(f"max_classes must be at least 2; got {max_classes}")
        if question not in ("harm", "pass"):
            raise ValueError(f"question must be harm or pass; got {question!r}")
        self.max_shift, self.alpha, self.max_classes = float(max_shift), float(alpha), max_classes
        self.question: Question = question
        self.n = 0
        self._tests: dict[str, tuple[BoundedMeanCS, BoundedMeanCS]] = {}

    def _new(self) -> tuple[BoundedMeanCS, BoundedMeanCS]:
        harm = self.question == "harm"
        a = self.alpha / (2 * self.max_classes) if harm else self.alpha
        up, down = ("greater", "less") if harm else ("less", "greater")
        hi = BoundedMeanCS(threshold=(1 + self.max_shift) / 2, alternative=up, alpha=a)
        lo = BoundedMeanCS(threshold=(1 - self.max_shift) / 2, alternative=down, alpha=a)
        if self.n:
            past = np.full(self.n, 0.5)
            hi.update(past)
            lo.update(past)
        return hi, lo

    def _label(self, c: str) -> str:
        if c in self._tests or len(self._tests) < self.max_classes - 1:
            return c
        return OTHER

    def update(self, production: npt.ArrayLike, candidate: npt.ArrayLike) -> None:
        """Add pairs of predicted classes (same request, same row), in arrival order."""
        p = [str(v) for v in np.ravel(np.asarray(production, dtype=object))]
        c = [str(v) for v in np.ravel(np.asarray(candidate, dtype=object))]
        if len(p) != len(c):
            raise ValueError(f"{len(p)} production and {len(c)} candidate predictions")
        if not p:
            return
        for label in dict.fromkeys(v for pair in zip(p, c, strict=True) for v in pair):
            label = self._label(label)
            if label not in self._tests:
                self._tests[label] = self._new()
        p = [self._label(v) for v in p]
        c = [self._label(v) for v in c]
        pa, ca = np.array(p, dtype=object), np.array(c, dtype=object)
        for label, (hi, lo) in self._tests.items():
            d = (ca == label).astype(np.float64) - (pa == label).astype(np.float64)
            x = (d + 1.0) / 2.0
            hi.update(x)
            lo.update(x)
        self.n += len(p)

    @property
    def p_value(self) -> float:
        """Always-valid p-value that some class shifted by more than ``max_shift`` (harm), or
        that every class's shift is inside ``(-max_shift, max_shift)`` (pass)."""
        if not self._tests:
            return 1.0
        if self.question == "pass":
            return max(max(hi.p_value, lo.p_value) for hi, lo in self._tests.values())
        best = min(min(hi.p_value, lo.p_value) for hi, lo in self._tests.values())
        return min(1.0, best * 2 * self.max_classes)

    def shifts(self, alpha: float | None = None) -> dict[str, dict[str, float]]:
        """Per class: estimated shift and its confidence sequence (Bonferroni-adjusted)."""
        a = (alpha or self.alpha) / self.max_classes
        out: dict[str, dict[str, float]] = {}
        for label, (hi, _) in self._tests.items():
            lo_m, hi_m = hi.confidence_interval(a)
            out[label] = {
                "shift": 2 * hi.estimate - 1 if hi.n else math.nan,
                "ci_lower": 2 * lo_m - 1,
                "ci_upper": 2 * hi_m - 1,
            }
        return out

    @property
    def estimate(self) -> float:
        """The largest absolute class-share shift seen (NaN before data)."""
        s = [abs(v["shift"]) for v in self.shifts().values()]
        return max(s) if s else math.nan

    def confidence_interval(self, alpha: float = 0.05) -> tuple[float, float]:
        """Confidence sequence for the largest absolute class-share shift (all classes)."""
        s = self.shifts(alpha).values()
        if not s:
            return (0.0, 1.0)
        near = (0.0 if v["ci_lower"] <= 0.0 <= v["ci_upper"] else _nearest(v) for v in s)
        far = max(max(abs(v["ci_lower"]), abs(v["ci_upper"])) for v in s)
        return (max(near), far)

    def passes(self, alpha: float | None = None) -> bool:
        """Every class's shift is proven inside ``(-max_shift, max_shift)``."""
        s = self.shifts(alpha)
        return bool(s) and all(
            -self.max_shift < v["ci_lower"] and v["ci_upper"] < self.max_shift for v in s.values()
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "max_shift": self.max_shift,
            "alpha": self.alpha,
            "max_classes": self.max_classes,
            "question": self.question,
            "n": self.n,
            "tests": {k: [hi.to_dict(), lo.to_dict()] for k, (hi, lo) in self._tests.items()},
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> PredictionShiftTest:
        if d.get("kind") != cls.kind:
            raise ValueError(f"state is for {d.get('kind')!r}, not {cls.kind!r}")
        t = cls(
            max_shift=d["max_shift"],
            alpha=d["alpha"],
            max_classes=d["max_classes"],
            question=d.get("question", "harm"),
        )
        t.n = int(d["n"])
        t._tests = {
            k: (BoundedMeanCS.from_dict(v[0]), BoundedMeanCS.from_dict(v[1]))
            for k, v in d["tests"].items()
        }
        return t


def _nearest(v: Mapping[str, float]) -> float:
    return min(abs(v["ci_lower"]), abs(v["ci_upper"]))
