"""Warnings for valid settings whose statistics are weaker than a reader would expect.

A ``loss`` check without ``bound`` is tested by the normal-mixture test on the mean loss
difference, with a variance learnt from the pairs seen so far. Log loss (and squared
error) can have rare, very large mistakes: a confident wrong answer costs up to 34.5 nats.
Until one has happened, the early pairs show a small variance, so the test can pass a
candidate exactly at the margin far more often than its share of α
(``docs/statistics.md``). With ``bound`` the losses are clipped to ``[0, bound]`` and
tested by betting, which is exact for bounded data.

The input checks read Open Inference Protocol tensors: ``validation: {schema: auto}`` reads
the model's OIP metadata, and the drift monitors read the inputs against an OIP schema. On
a route of another protocol neither has anything to read, so both would watch nothing,
silently: that is said, at the key.
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


OIP = "open-inference-v2"


def _auto_schema(protocol: str) -> str:
    return (
        "schema: auto reads the model's Open Inference Protocol metadata "
        f"(GET /v2/models/NAME), which a {protocol} route's servers do not serve, so no "
        "request would be checked; give a JSON Schema file (schema: FILE) to check this "
        "route's requests"
    )


def _drift(protocol: str) -> str:
    return (
        "the drift monitors read Open Inference Protocol input tensors against the model's "
        f"schema; on a {protocol} route they would watch nothing (set protocol: {OIP} if "
        "the servers speak it)"
    )


def advice_warnings(config: ShadowgateConfig) -> list[tuple[Loc, str]]:
    """Every check of a valid config that should be written otherwise, located."""
    out: list[tuple[Loc, str]] = []
    for i, route in enumerate(config.routes):
        for j, check in enumerate(route.analysis.checks):
            if check.metric == "loss" and check.bound is None:
                out.append((("routes", i, "analysis", "checks", j, "bound"), UNBOUNDED_LOSS))
        if route.protocol != OIP:
            if route.validation is not None and route.validation.schema_ == "auto":
                out.append((("routes", i, "validation", "schema"), _auto_schema(route.protocol)))
            if route.drift is not None:
                out.append((("routes", i, "drift"), _drift(route.protocol)))
    return out
