"""Audit records of what the judge noticed besides decisions: checks a config edit
restarted (the analysis' restart notes), and outputs that differ in kind."""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

from shadowgate.config.model import RouteConfig
from shadowgate.rollout.policy import Decision
from shadowgate.store.rows import AuditRecord

if TYPE_CHECKING:
    from shadowgate.judge.context import RouteContext


def note_audit(
    route: RouteConfig, ctx: RouteContext, note: str, now: float, digest: str
) -> AuditRecord:
    """The audit record of a check restarted by a config edit (``restarted:shadow``)."""
    check = note.split("'")[1] if note.count("'") >= 2 else None
    return AuditRecord(
        time=now,
        route=route.name,
        rollout_id=ctx.rollout_id,
        decision=f"restarted:{ctx.rollout.state.value}",
        check=check,
        n=ctx.analysis.pairs + sum(ctx.analysis.canary),
        config_digest=digest,
        reason=note,
        actor="config",
    )


def kind_audit(route: RouteConfig, ctx: RouteContext, now: float, digest: str) -> list[AuditRecord]:
    """``kind_mismatch:<state>``, once per rollout: the first look that sees the outputs of
    production and the candidate differ in kind (``compare.kind_tally``)."""
    note = ctx.kinds.note(route.prediction.map_kinds)
    if note is None or ctx.kinds.audited:
        return []
    ctx.kinds.audited = True  # kept with the state this record is committed with
    return [
        AuditRecord(
            time=now,
            route=route.name,
            rollout_id=ctx.rollout_id,
            decision=f"kind_mismatch:{ctx.rollout.state.value}",
            n=ctx.kinds.pairs,
            config_digest=digest,
            reason=note,
            actor="judge",
        )
    ]


def kind_reason(decision: Decision, route: RouteConfig, ctx: RouteContext) -> Decision:
    """``decision`` with its reason saying that the outputs differ in kind, when they do."""
    note = ctx.kinds.note(route.prediction.map_kinds)
    if note is None:
        return decision
    return dataclasses.replace(decision, reason=f"{decision.reason}. Note: {note}")
