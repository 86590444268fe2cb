from __future__ import annotations

import json
from pathlib import Path

from shadowgate.cli import main


def test_simulate_tests_table_subset_holds_alpha_and_power(tmp_path: Path) -> None:
    out = tmp_path / "sim.json"
    code = main(
        [
            *("simulate", "--table", "tests", "--quick", "--runs", "400"),
            *("--only", "sign", "--out", str(out)),
        ]
    )
    assert code == 0
    data = json.loads(out.read_text())
    by_name = {s["name"]: s for s in data["scenarios"]}
    assert {"sign-errors-two-sided", "ALT sign-errors-1.0-vs-1.5pct"} <= set(by_name)
    for s in data["scenarios"]:
        if s["null"]:
            # the anytime-valid test stays within alpha; the re-run t-test does not
            assert s["reject_rate"] <= s["alpha"] + 3 * (0.05 * 0.95 / s["runs"]) ** 0.5
            assert s["naive_reject_rate"] > 2 * s["alpha"]
    alt = by_name["ALT sign-errors-1.0-vs-1.5pct"]
    assert alt["reject_rate"] >= 0.8
    # sequential, so slower than the fixed-horizon n at its median, but not by 3x
    assert 0.5 * alt["fixed_n80"] < alt["median_samples"] < 3 * alt["fixed_n80"]


def test_simulate_route_table_runs_both_procedures(tmp_path: Path) -> None:
    out = tmp_path / "route.json"
    md = tmp_path / "route.md"
    code = main(
        [
            *("simulate", "--runs", "6", "--only", "i.i.d. 20% slower"),
            *("--out", str(out), "--markdown", str(md)),
        ]
    )
    assert code == 0
    (row,) = json.loads(out.read_text())["rows"]
    assert row["now"]["method"] == "long-run" and row["control"]["method"] == "iid"
    assert row["now"]["rate"] == 1.0 and row["now"]["median_n"] <= 750
    assert "i.i.d. 20% slower" in md.read_text()


def test_simulate_unknown_subset_is_an_error() -> None:
    assert main(["simulate", "--only", "no-such-scenario"]) == 2
    assert main(["simulate", "--table", "tests", "--only", "no-such-scenario"]) == 2


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
