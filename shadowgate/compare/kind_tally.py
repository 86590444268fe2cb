"""Over one rollout: how many pairs' outputs differ in kind, how, and whether they were mapped.

Each outcome records its own difference (``extra["kind_mismatch"]``, and
``extra["kind_mapped"]`` when the two sides were still compared by class: see
``compare.kinds``). :class:`KindTally` adds them up for the route, so ``/api/status``, the
audit and a decision's reason can say that the outputs differ in kind, not only that they
disagree. The row counts of a description (``labels [32]``) become ``N``: rows are paired
apart, so batches of different sizes are of one kind. A small pure accumulator, kept
with the judge's state (``to_dict``/``from_dict``) like ``compare.noise.NoiseFloor``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from shadowgate.compare.kinds import MAPPED
from shadowgate.model.outcome import OutcomeRecord

_ROWS = re.compile(r"\[\d+")
#: distinct descriptions kept; any more are counted under ``OTHER``
MAX_KINDS = 8
OTHER = "other kinds"
_NO_MAPPING = (
    "no unambiguous mapping applies (there is one only between integer class labels and "
    "vectors of scores, every label a class index)"
)


def without_rows(text: str) -> str:
    """``"labels [32] INT64"`` → ``"labels [N] INT64"``: a description for any batch size."""
    return _ROWS.sub("[N", text)


@dataclass(slots=True)
class KindTally:
    """Shadow pairs whose outputs differ in kind, among the pairs compared, per description."""

    #: shadow pairs where both sides answered predictions (compared row by row)
    compared: int = 0
    #: of them, pairs whose outputs differ in kind
    pairs: int = 0
    #: of those, pairs compared by class all the same (``prediction.map_kinds``)
    mapped: int = 0
    #: description (rows as N) → pairs
    kinds: dict[str, int] = field(default_factory=dict)
    #: request time of the first such pair
    first_seen: float | None = None
    #: whether the rollout's audit has said so (once per rollout)
    audited: bool = False

    def add(self, record: OutcomeRecord) -> None:
        """Count one outcome; only shadow pairs that were compared count."""
        if record.kind != "shadow" or record.agree is None:
            return
        self.compared += 1
        text = record.extra.get("kind_mismatch")
        if not isinstance(text, str):
            return
        self.pairs += 1
        if record.extra.get("kind_mapped"):
            self.mapped += 1
        key = without_rows(text)
        if key not in self.kinds and len(self.kinds) >= MAX_KINDS:
            key = OTHER
        self.kinds[key] = self.kinds.get(key, 0) + 1
        if self.first_seen is None:
            self.first_seen = record.ts

    def update(self, records: Iterable[OutcomeRecord]) -> KindTally:
        for r in records:
            self.add(r)
        return self

    @property
    def differs(self) -> str | None:
        """The most frequent description (None before any pair differs in kind)."""
        if not self.kinds:
            return None
        return max(self.kinds.items(), key=lambda kv: kv[1])[0]

    def how_compared(self, map_kinds: bool) -> str:
        """Whether the pairs were compared by class or value by value, and why."""
        if self.mapped == self.pairs:
            return f"compared by class: {MAPPED}"
        if self.mapped == 0:
            why = _NO_MAPPING if map_kinds else "prediction.map_kinds is off"
            return f"compared value by value: {why}"
        return (
            f"{self.mapped} of them compared by class ({MAPPED}), "
            f"the others value by value: {_NO_MAPPING}"
        )

    def note(self, map_kinds: bool) -> str | None:
        """One sentence for a decision's reason or the audit (None when no pair differs)."""
        if not self.pairs:
            return None
        return (
            f"outputs differ in kind ({self.differs}) in {self.pairs} of {self.compared} "
            f"pairs; {self.how_compared(map_kinds)}"
        )

    def status(self, map_kinds: bool) -> dict[str, Any] | None:
        """The ``kind_mismatch`` entry of ``/api/status`` (None while the kinds agree)."""
        if not self.pairs:
            return None
        return {
            "differs": self.differs,
            "kinds": dict(self.kinds),
            "pairs": self.pairs,
            "compared": self.compared,
            "mapped": self.mapped,
            "mapping": MAPPED if self.mapped else None,
            "map_kinds": map_kinds,
            "how": self.how_compared(map_kinds),
            "first_seen": self.first_seen,
        }

    def to_dict(self) -> dict[str, Any]:
        return {
            "compared": self.compared,
            "pairs": self.pairs,
            "mapped": self.mapped,
            "kinds": dict(self.kinds),
            "first_seen": self.first_seen,
            "audited": self.audited,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> KindTally:
        first = d.get("first_seen")
        return cls(
            int(d.get("compared", 0)),
            int(d.get("pairs", 0)),
            int(d.get("mapped", 0)),
            {str(k): int(v) for k, v in (d.get("kinds") or {}).items()},
            None if first is None else float(first),
            bool(d.get("audited", False)),
        )
