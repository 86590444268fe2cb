"""A CI-sized drift simulation: the monitor holds alpha where the re-run window test does not."""

from __future__ import annotations

from shadowgate.inputs.simulation import run_drift_scenario, scenarios


def test_null_holds_and_the_rerun_window_test_does_not() -> None:
    sc = next(s for s in scenarios() if s.name.startswith("null: heavy"))
    r = run_drift_scenario(sc, 200, 3, rows=20_000, reference=2000, alpha=0.05)
    monitor, window = r["monitor"], r["window_test"]
    assert isinstance(monitor, dict) and isinstance(window, dict)
    assert monitor["rate"] <= 0.05 + 2.5 * 0.0154
    # negative control: 20 windows each at 5 % alarm far more often than 5 %
    assert window["rate"] > 0.3


def test_half_sd_shift_is_caught_within_a_thousand_rows() -> None:
    sc = next(s for s in scenarios() if s.name == "mean +0.5 sd")
    r = run_drift_scenario(sc, 100, 4, rows=3000, reference=5000, alpha=0.01)
    monitor = r["monitor"]
    assert isinstance(monitor, dict)
    assert monitor["detected"] > 0.95
    assert monitor["median_rows"] is not None and monitor["median_rows"] < 1000
