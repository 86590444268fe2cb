"""The outage gate as a playbook: outcomes in, pause and resume out."""

from __future__ import annotations

import numpy as np
import pytest

from shadowgate.config.outage import ProductionOutageConfig
from shadowgate.rollout.outage import OutageGate, production_failed


def feed(gate: OutageGate, start: float, n: int, failing: float, step: float = 0.1) -> None:
    ts = start + step * np.arange(n, dtype=np.float64)
    failed = (np.arange(n) % 100) < failing * 100
    gate.observe(ts, failed)


@pytest.mark.parametrize(
    ("error", "status", "infra"),
    [
        ("connect", None, True),
        ("timeout", None, True),
        ("reset", None, True),
        ("5xx", 503, True),
        (None, 500, True),
        ("invalid", 200, False),  # an answer that is not a prediction: the model's doing
        ("client_closed", None, False),  # the client's doing
        ("too_large", None, False),
        (None, 200, False),
        (None, 404, False),
    ],
)
def test_only_infrastructure_failures_of_production_count(
    error: str | None, status: int | None, infra: bool
) -> None:
    assert production_failed(error, status) is infra


def test_pauses_above_the_threshold_and_resumes_below_the_resume_rate() -> None:
    gate = OutageGate(ProductionOutageConfig(max_error_rate=0.2, window=10, min_pairs=20))
    feed(gate, 0.0, 100, failing=0.1)
    assert gate.evaluate(10.0) is None and not gate.active
    feed(gate, 10.0, 100, failing=0.5)  # the window now holds only the failing stretch
    change = gate.evaluate(20.0)
    assert change is not None and change.event == "paused" and gate.active
    assert "50%" in change.reason and "20%" in change.reason
    assert gate.evaluate(20.0) is None  # no repeated switch
    feed(gate, 20.0, 100, failing=0.15)  # better, but above the resume rate (10%)
    assert gate.evaluate(30.0) is None and gate.active
    feed(gate, 30.0, 100, failing=0.05)
    change = gate.evaluate(40.0)
    assert change is not None and change.event == "resumed" and not gate.active
    assert gate.pauses == 1


def test_too_few_pairs_change_nothing() -> None:
    gate = OutageGate(ProductionOutageConfig(min_pairs=50))
    feed(gate, 0.0, 49, failing=1.0)
    assert gate.evaluate(5.0) is None and not gate.active
    feed(gate, 4.9, 1, failing=1.0)
    assert gate.evaluate(5.0) is not None and gate.active


def test_old_pairs_leave_the_window() -> None:
    gate = OutageGate(ProductionOutageConfig(window=2, min_pairs=5))
    feed(gate, 0.0, 20, failing=1.0)
    assert gate.window_counts() == (20, 20)
    feed(gate, 100.0, 10, failing=0.0)
    assert gate.window_counts() == (10, 0)


def test_disabled_never_pauses_and_lifts_a_pause() -> None:
    gate = OutageGate(ProductionOutageConfig())
    feed(gate, 0.0, 100, failing=1.0)
    assert gate.evaluate(10.0) is not None and gate.active
    off = OutageGate.from_dict(ProductionOutageConfig(enabled=False), gate.to_dict())
    change = off.evaluate(11.0)
    assert change is not None and change.event == "resumed" and not off.active


def test_state_round_trips() -> None:
    gate = OutageGate(ProductionOutageConfig(window=5))
    feed(gate, 0.0, 100, failing=0.5)
    gate.exclude("production_failed", 50)
    gate.evaluate(10.0)
    back = OutageGate.from_dict(gate.config, gate.to_dict())
    assert back.to_dict() == gate.to_dict()
    assert back.status() == gate.status()


def test_resume_rate_above_the_pause_rate_is_refused() -> None:
    with pytest.raises(ValueError, match="resume_error_rate"):
        ProductionOutageConfig(max_error_rate=0.1, resume_error_rate=0.2)


def test_pairs_are_left_out_only_during_an_outage() -> None:
    gate = OutageGate(ProductionOutageConfig(max_error_rate=0.2, window=10, min_pairs=20))
    ts = np.arange(50, dtype=np.float64) * 0.1
    assert gate.observe(ts, np.arange(50) % 10 == 0, shadow_failed=5) is False  # 10%
    assert gate.excluded == {}
    # the batch that takes the window over the threshold is already an outage
    assert gate.observe(ts + 5, np.ones(50, bool), shadow_failed=50) is True
    assert gate.excluded == {"production_failed": 50}
    assert gate.unreported() == {"production_failed": 50}
    assert gate.unreported() == {}
    back = OutageGate.from_dict(gate.config, gate.to_dict())
    assert back.unreported() == {}  # a restored gate does not report again
    off = OutageGate(ProductionOutageConfig(enabled=False))
    assert off.observe(ts, np.ones(50, bool), shadow_failed=50) is False
