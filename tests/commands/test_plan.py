"""``shadowgate plan``: time to promotion and to rollback from the judge's own procedure."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from gwhelpers import config, route
from shadowgate.cli import main
from shadowgate.commands.plan import parse_amount, parse_rate


def test_parse_rate_and_amounts() -> None:
    assert parse_rate("50/s") == 50.0
    assert parse_rate("3000/m") == 50.0
    assert parse_rate("7200/h") == 2.0
    with pytest.raises(argparse.ArgumentTypeError, match="50/s"):
        parse_rate("fast")
    assert parse_amount("5%") == pytest.approx(0.05)
    assert parse_amount("0") == 0.0
    assert parse_amount("-1%") == pytest.approx(-0.01)


def run_plan(tmp_path: Path, *args: str) -> dict[str, Any]:
    out = tmp_path / "plan.json"
    assert main(["plan", "--runs", "6", "--json", str(out), *args]) == 0
    doc: dict[str, Any] = json.loads(out.read_text())
    return doc


def test_identical_candidate_is_promoted_and_a_worse_one_rolled_back(tmp_path: Path) -> None:
    doc = run_plan(
        tmp_path,
        "--rate",
        "50/s",
        "--metric",
        "errors",
        "--margin",
        "5%",
        "--effect",
        "0",
        "--effect",
        "20%",
    )
    same, worse = doc["plans"]
    assert same["effect"] == 0.0 and same["share"]["promote"] == 1.0
    promote = same["samples"]["promote"]
    assert 200 <= promote["median"] <= promote["p90"]  # min_samples (200) holds, as in the judge
    assert same["seconds"]["promote"]["median"] == pytest.approx(promote["median"] / 50, rel=0.01)
    assert worse["share"]["rollback"] == 1.0 and "promote" not in worse["samples"]
    assert worse["deciding_checks"] == {"errors": 6}
    rollback = worse["samples"]["rollback"]
    # the harm tests' burn-in holds too: no rollback before 200 observations' worth of evidence
    assert 200 <= rollback["median"] <= rollback["p90"] < 2_000


def test_a_higher_rate_takes_proportionally_less_time(tmp_path: Path) -> None:
    args = ("--metric", "latency", "--margin", "10%", "--effect", "0.5")
    slow = run_plan(tmp_path, "--rate", "20/s", *args)["plans"][0]
    fast = run_plan(tmp_path, "--rate", "40/s", *args)["plans"][0]
    assert slow["share"]["rollback"] == fast["share"]["rollback"] == 1.0
    assert fast["seconds"]["rollback"]["median"] < slow["seconds"]["rollback"]["median"]


def test_the_routes_checks_come_from_the_config(tmp_path: Path) -> None:
    checks = [
        {"metric": "errors", "margin": 0.05},
        {"metric": "agreement", "min": 0.9},
        {"metric": "accuracy", "margin": 0.05},
    ]
    cfg = config(route("m", "/m", "http://p:1", "http://c:1", analysis={"checks": checks}))
    path = tmp_path / "sg.yaml"
    path.write_text(yaml.safe_dump(cfg))
    doc = run_plan(
        tmp_path,
        "--config",
        str(path),
        "--route",
        "m",
        "--rate",
        "10/s",
        "--metric",
        "agreement",
    )
    assert doc["checks"] == "errors (margin 0.05), agreement (min 0.9), accuracy (margin 0.05)"
    same, worse = doc["plans"]  # default effects: 0 and twice the tolerance (1 - min)
    assert worse["effect"] == pytest.approx(0.2)
    assert same["share"]["promote"] == 1.0  # every check, the label check too, passed
    assert worse["deciding_checks"] == {"agreement": 6}


def test_bad_requests_are_refused_with_the_reason(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["plan", "--rate", "5/s", "--metric", "latency", "--margin", "-1"]) == 2
    assert "margin cannot be negative" in capsys.readouterr().err
    cfg = config(route("m", "/m", "http://p:1", "http://c:1"))
    path = tmp_path / "sg.yaml"
    path.write_text(yaml.safe_dump(cfg))
    assert main(["plan", "--rate", "5/s", "--config", str(path), "--route", "x"]) == 2
    assert "no route 'x'" in capsys.readouterr().err
    assert main(["plan", "--rate", "5/s", "--config", str(path), "--metric", "accuracy"]) == 2
    assert "has no accuracy check" in capsys.readouterr().err
