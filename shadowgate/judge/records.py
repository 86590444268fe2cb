"""What a transition leaves behind: the route's last decision and its audit record.

The judge's own decisions and an operator's restart write the same two records from the
same facts; they are built only here.
"""

from __future__ import annotations

from typing import Any

from shadowgate.rollout.checks import CheckResult
from shadowgate.rollout.machine import Event, RolloutState, State
from shadowgate.store.rows import AuditRecord


def transition_records(
    *,
    now: float,
    route: str,
    rollout_id: str,
    event: Event,
    before: State,
    after: RolloutState,
    reason: str,
    actor: str,
    digest: str,
    result: CheckResult | None = None,
    n: int = 0,
) -> tuple[dict[str, Any], AuditRecord]:
    """The last decision (as the admin API shows it) and the audit record of a transition.

    With a check ``result`` the audit carries its evidence; without, ``n`` samples.
    """
    r = result
    last = {
        "time": now,
        "event": event.value,
        "from": before.value,
        "to": after.state.value,
        "step": after.step,
        "reason": reason,
        "check": r.check if r else None,
        "actor": actor,
    }
    audit = AuditRecord(
        time=now,
        route=route,
        rollout_id=rollout_id,
        decision=f"{event.value}:{after.state.value}",
        check=r.check if r else None,
        p_value=r.p_value if r else None,
        estimate=r.estimate if r else None,
        ci_lower=r.ci_lower if r else None,
        ci_upper=r.ci_upper if r else None,
        n=r.n if r else n,
        config_digest=digest,
        reason=reason,
        actor=actor,
    )
    return last, audit
