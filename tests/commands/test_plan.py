from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest

from shadowgate.cli import main
from shadowgate.commands.plan import parse_rate


def test_parse_rate_units() -> None:
    assert parse_rate("50/s") == 50.0
    assert parse_rate("3000/m") == 50.0
    assert parse_rate("7200/h") == 2.0
    with pytest.raises(argparse.ArgumentTypeError, match="50/s"):
        parse_rate("fast")


def test_plan_errors_writes_json(tmp_path: Path) -> None:
    out = tmp_path / "plan.json"
    code = main(
        [
            "plan",
            "--rate",
            "50/s",
            "--baseline-error",
            "0.01",
            "--effect",
            "0.005",
            "--runs",
            "100",
            "--json",
            str(out),
        ]
    )
    assert code == 0
    plan = json.loads(out.read_text())
    assert plan["test"] == "SignTest"
    assert 0 < plan["median_seconds"] <= plan["p90_seconds"]
    # higher traffic, same effect: proportionally sooner
    out2 = tmp_path / "plan2.json"
    main(
        [
            "plan",
            "--rate",
            "100/s",
            "--baseline-error",
            "0.01",
            "--effect",
            "0.005",
            "--runs",
            "100",
            "--json",
            str(out2),
        ]
    )
    assert json.loads(out2.read_text())["median_seconds"] == pytest.approx(
        plan["median_seconds"] / 2
    )


@pytest.mark.parametrize("metric", ["latency", "accuracy"])
def test_plan_other_metrics(metric: str, tmp_path: Path) -> None:
    out = tmp_path / "p.json"
    assert (
        main(
            [
                "plan",
                "--metric",
                metric,
                "--rate",
                "10/s",
                "--effect",
                "0.05",
                "--runs",
                "60",
                "--json",
                str(out),
            ]
        )
        == 0
    )
    assert json.loads(out.read_text())["metric"] == metric
