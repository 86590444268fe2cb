"""Audit records of what a config edit restarted (the analysis' restart notes)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from shadowgate.config.model import RouteConfig
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
