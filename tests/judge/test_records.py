"""The last decision and the audit record of a transition, with and without a check."""

from __future__ import annotations

from shadowgate.judge.records import transition_records
from shadowgate.rollout.checks import CheckResult
from shadowgate.rollout.machine import Event, RolloutState, State


def test_a_decided_check_puts_its_evidence_in_the_audit() -> None:
    result = CheckResult(
        check="errors",
        metric="errors",
        phase="shadow",
        segment=None,
        n=1200,
        estimate=0.02,
        ci_lower=0.01,
        ci_upper=0.03,
        p_harm=0.001,
        p_pass=0.9,
        verdict="harm",
        margin=0.005,
    )
    last, audit = transition_records(
        now=10.0,
        route="r",
        rollout_id="r1",
        event=Event.ROLLBACK,
        before=State.SHADOW,
        after=RolloutState(State.ROLLED_BACK),
        reason="errors: harm",
        actor="judge",
        digest="d",
        result=result,
        n=5,
    )
    assert last == {
        "time": 10.0,
        "event": Event.ROLLBACK.value,
        "from": "shadow",
        "to": State.ROLLED_BACK.value,
        "step": 0,
        "reason": "errors: harm",
        "check": "errors",
        "actor": "judge",
    }
    assert audit.decision == f"{Event.ROLLBACK.value}:{State.ROLLED_BACK.value}"
    assert (audit.check, audit.p_value, audit.n) == ("errors", 0.001, 1200)
    assert (audit.estimate, audit.ci_lower, audit.ci_upper) == (0.02, 0.01, 0.03)
    assert (audit.config_digest, audit.rollout_id, audit.actor) == ("d", "r1", "judge")


def test_without_a_check_the_audit_counts_the_samples_given() -> None:
    last, audit = transition_records(
        now=1.0,
        route="r",
        rollout_id="r2",
        event=Event.RESTART,
        before=State.PROMOTED,
        after=RolloutState(State.CANARY, 0),
        reason="restart by ops",
        actor="ops",
        digest="d",
    )
    assert last["check"] is None and last["from"] == State.PROMOTED.value
    assert audit.check is None and audit.p_value is None and audit.n == 0
    assert audit.reason == "restart by ops" and audit.actor == "ops"
