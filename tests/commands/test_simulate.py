from __future__ import annotations

import json
from pathlib import Path

from shadowgate.cli import main


def test_simulate_quick_subset_writes_json(tmp_path: Path) -> None:
    out = tmp_path / "sim.json"
    code = main(["simulate", "--quick", "--runs", "200", "--only", "sign", "--out", str(out)])
    assert code == 0
    data = json.loads(out.read_text())
    names = {s["name"] for s in data["scenarios"]}
    assert {"sign-errors-two-sided", "ALT sign-errors-1.0-vs-1.5pct"} <= names
    for s in data["scenarios"]:
        lo, hi = s["reject_ci95"]
        assert lo <= s["reject_rate"] <= hi
        if not s["null"]:
            assert s["fixed_n80"] > 0 and s["median_samples"] <= s["p90_samples"]


def test_simulate_unknown_subset_is_an_error() -> None:
    assert main(["simulate", "--only", "no-such-scenario"]) == 2


def test_simulate_drift_quick_writes_both_methods(tmp_path: Path) -> None:
    out, md = tmp_path / "drift.json", tmp_path / "drift.md"
    code = main(
        [
            "simulate",
            "--drift",
            "--quick",
            "--runs",
            "40",
            "--only",
            "categor",
            "--out",
            str(out),
            "--markdown",
            str(md),
        ]
    )
    assert code == 0
    data = json.loads(out.read_text())
    assert data["drift"] is True
    by_name = {s["name"]: s for s in data["scenarios"]}
    null = by_name["null: categorical"]
    assert null["ok"] and null["monitor"]["rate"] <= null["window_test"]["rate"]
    alt = next(s for s in data["scenarios"] if not s["null"])
    assert alt["monitor"]["detected"] > 0.9 and alt["monitor"]["median_rows"] is not None
    assert "window test re-run every window" in md.read_text()


def test_simulate_drift_unknown_subset_is_an_error() -> None:
    assert main(["simulate", "--drift", "--only", "no-such-scenario"]) == 2
