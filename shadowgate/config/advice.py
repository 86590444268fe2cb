"""Warnings for valid settings whose statistics are weaker than a reader would expect.

A ``loss`` check without ``bound`` is tested by the normal-mixture test on the mean loss
difference, with a variance learnt from the pairs seen so far. Log loss (and squared
error) can have rare, very large mistakes: a confident wrong answer costs up to 34.5 nats.
Until one has happened, the early pairs show a small variance, so the test can pass a
candidate exactly at the margin far more often than its share of α
(``docs/statistics.md``). With ``bound`` the losses are clipped to ``[0, bound]`` and
tested by betting, which is exact for bounded data.
"""

from __future__ import annotations

from shadowgate.config.model import ShadowgateConfig

Loc = tuple[str | int, ...]

UNBOUNDED_LOSS = (
    "a loss check without bound: rare confident mistakes (a log loss of up to 34.5 nats "
    "per wrong answer) give the loss a variance its early pairs cannot show, so a "
    "candidate at the margin can be passed far more often than the test promises (see "
    "docs/statistics.md); set bound to the largest loss worth counting, e.g. 15 for log "
    "loss or 1 for a 0/1 loss: losses are then clipped to [0, bound] and tested by "
    "betting, exact for bounded losses"
)


def advice_warnings(config: ShadowgateConfig) -> list[tuple[Loc, str]]:
    """Every check of a valid config that should be written otherwise, located."""
    out: list[tuple[Loc, str]] = []
    for i, route in enumerate(config.routes):
        for j, check in enumerate(route.analysis.checks):
            if check.metric == "loss" and check.bound is None:
                out.append((("routes", i, "analysis", "checks", j, "bound"), UNBOUNDED_LOSS))
    return out
