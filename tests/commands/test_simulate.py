from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np

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


def test_simulate_route_table_is_the_same_with_two_processes(tmp_path: Path) -> None:
    rows = {}
    for jobs in ("1", "2"):
        out = tmp_path / f"route{jobs}.json"
        md = tmp_path / f"route{jobs}.md"
        args = ["simulate", "--runs", "30", "--only", "i.i.d. 20% slower", "--jobs", jobs]
        assert main([*args, "--out", str(out), "--markdown", str(md)]) == 0
        data = json.loads(out.read_text())
        assert data["jobs"] == int(jobs)
        rows[jobs] = data["rows"]
        assert "s per run and process" in md.read_text()
    assert rows["1"] == rows["2"]  # every run has its own stream, whichever process runs it
    assert main(["simulate", "--runs", "2", "--jobs", "0"]) == 2


def test_simulate_route_control_runs_sizes_the_control_alone(tmp_path: Path) -> None:
    out, md = tmp_path / "route.json", tmp_path / "route.md"
    args = ["simulate", "--runs", "12", "--control-runs", "4", "--only", "i.i.d. 20% slower"]
    assert main([*args, "--out", str(out), "--markdown", str(md)]) == 0
    data = json.loads(out.read_text())
    assert (data["runs"], data["control_runs"]) == (12, 4)
    (row,) = data["rows"]
    assert row["now"]["runs"] == 12 and row["control"]["runs"] == 4
    assert "12 runs per scenario, 4 for the control" in md.read_text()


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


def _export_like(path: Path, n: int) -> None:
    rng = np.random.default_rng(1)
    load = np.cumsum(rng.normal(0, 0.01, n))  # a slowly drifting production
    with path.open("w") as fh:
        for i in range(n):
            prod = 0.02 * math.exp(load[i] + rng.normal(0, 0.2))
            cand = 1.3 * 0.02 * math.exp(rng.normal(0, 0.2))  # a different candidate
            row = {"id": i + 1, "route": "r", "rollout_id": "x", "request_id": str(i)}
            row |= {"ts": float(i), "kind": "shadow", "variant": "production"}
            row |= {"prod_status": 200, "prod_latency": prod}
            row |= {"cand_status": 200, "cand_latency": cand, "agree": [True]}
            fh.write(json.dumps(row) + "\n")


def test_simulate_outcomes_runs_an_aa_on_recorded_pairs(tmp_path: Path) -> None:
    src = tmp_path / "outcomes.jsonl"
    _export_like(src, 3_000)
    out = tmp_path / "aa.json"
    code = main(
        ["simulate", "--outcomes", str(src), "--block", "500", "--runs", "4", "--out", str(out)]
    )
    (row,) = json.loads(out.read_text())["rows"]
    assert row["scenario"] == "A/A recorded (outcomes.jsonl)"
    assert row["now"]["horizon"] == 3_000 and row["now"]["runs"] == 4
    assert code in (0, 1)  # 1 would mean the A/A found a false rollback: reported, not hidden


def test_simulate_outcomes_rejects_a_bad_line_with_its_location(tmp_path: Path) -> None:
    src = tmp_path / "bad.jsonl"
    _export_like(src, 2_100)
    with src.open("a") as fh:
        fh.write("{not json\n")
    assert main(["simulate", "--outcomes", str(src), "--runs", "1"]) == 2
    assert main(["simulate", "--outcomes", str(tmp_path / "missing.jsonl")]) == 2
