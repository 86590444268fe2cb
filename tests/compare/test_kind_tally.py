"""The per-rollout tally of pairs whose outputs differ in kind, and what it says."""

from __future__ import annotations

from typing import Any

from shadowgate.compare.kind_tally import MAX_KINDS, OTHER, KindTally, without_rows
from shadowgate.compare.kinds import MAPPED
from shadowgate.model.outcome import OutcomeRecord

LABELS = "production: labels [{n}] INT64; candidate: probabilities [{n},2] FP64"


def rec(kind: str = "shadow", agree: Any = (True,), ts: float = 1.0, **extra: Any) -> OutcomeRecord:
    r = OutcomeRecord("r", "r-1", "q", ts, kind, "production")
    r.agree = None if agree is None else list(agree)
    r.extra = extra
    return r


def test_row_counts_become_n() -> None:
    assert without_rows(LABELS.format(n=32)) == LABELS.format(n="N")
    assert without_rows("production: objects [1]; candidate: scores [7,3]") == (
        "production: objects [N]; candidate: scores [N,3]"
    )


def test_only_compared_shadow_pairs_count() -> None:
    t = KindTally().update(
        [
            rec(kind_mismatch=LABELS.format(n=3), kind_mapped=MAPPED, ts=5.0),
            rec(kind_mismatch=LABELS.format(n=4), ts=6.0),
            rec(),  # the same kind
            rec(kind="noise", kind_mismatch="x"),  # production against itself
            rec(kind="canary", kind_mismatch="x"),  # one side only
            rec(agree=None, kind_mismatch="x"),  # a side failed: nothing compared
        ]
    )
    assert (t.compared, t.pairs, t.mapped, t.first_seen) == (3, 2, 1, 5.0)
    assert t.kinds == {LABELS.format(n="N"): 2}
    assert t.differs == LABELS.format(n="N")
    assert "1 of them compared by class" in t.how_compared(True)
    assert t.note(True) is not None and "in 2 of 3 pairs" in t.note(True)  # type: ignore[operator]


def test_nothing_is_said_while_the_kinds_agree() -> None:
    t = KindTally().update([rec(), rec()])
    assert t.compared == 2 and t.status(True) is None and t.note(True) is None


def test_how_the_pairs_were_compared() -> None:
    mapped = KindTally().update([rec(kind_mismatch="a", kind_mapped=MAPPED)])
    assert mapped.how_compared(True) == f"compared by class: {MAPPED}"
    unmapped = KindTally().update([rec(kind_mismatch="a")])
    assert unmapped.how_compared(False) == "compared value by value: prediction.map_kinds is off"
    assert unmapped.how_compared(True).startswith("compared value by value: no unambiguous")
    status = unmapped.status(False)
    assert status is not None and status["mapping"] is None and status["map_kinds"] is False


def test_descriptions_are_bounded() -> None:
    t = KindTally().update(rec(kind_mismatch=f"production: k{i}") for i in range(MAX_KINDS + 5))
    assert len(t.kinds) == MAX_KINDS + 1 and t.kinds[OTHER] == 5
    assert t.pairs == MAX_KINDS + 5


def test_round_trip() -> None:
    t = KindTally().update([rec(kind_mismatch=LABELS.format(n=2), kind_mapped=MAPPED), rec()])
    t.audited = True
    back = KindTally.from_dict(t.to_dict())
    assert back == t
    assert KindTally.from_dict({}) == KindTally()
