"""Unit traps: bare numbers that read other than meant are warned about, located."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from shadowgate.cli import main
from shadowgate.config import ConfigHolder, load_config
from shadowgate.config.loader import parse_config_warnings
from shadowgate.errors import ConfigError

HEAD = """\
routes:
  - name: m
    match: {path_prefix: /v2/models/m}
    production: {url: "http://127.0.0.1:8001"}
    candidate: {url: "http://127.0.0.1:8002"}
"""


def warnings(body: str) -> list[str]:
    _, found = parse_config_warnings(HEAD + body, "c.yaml")
    return [str(w) for w in found]


def test_a_bare_weight_below_one_reads_as_percent() -> None:
    assert warnings("    canary: {weight: 0.2}\n") == [
        "c.yaml:6: routes[0].canary.weight: weight: 0.2 reads as 0.2 %; write 20% if you "
        "meant 0.2 of the traffic (percent fields read a bare number as percent)"
    ]


def test_steps_and_mirror_percent_are_percent_fields_too() -> None:
    found = warnings("    canary: {steps: [0.5, 25]}\n    mirror:\n      percent: '0.5'\n")
    assert [w.split(": ", 2)[:2] for w in found] == [
        ["c.yaml:6", "routes[0].canary.steps[0]"],
        ["c.yaml:8", "routes[0].mirror.percent"],
    ]
    assert "write 50%" in found[0] and "write 50%" in found[1]


def test_bare_margins_of_one_or_more_read_as_shares() -> None:
    found = warnings(
        "    analysis:\n"
        "      checks:\n"
        "        - {metric: errors, margin: 1}\n"
        "        - {metric: latency, margin: 10}\n"
        "        - {metric: accuracy, margin: 2}\n"
    )
    assert found == [
        "c.yaml:8: routes[0].analysis.checks[0].margin: margin: 1 reads as 100 points; "
        "write 1% or 0.01 (fraction fields read a bare number as a share: 0.01 is 1 %)",
        "c.yaml:9: routes[0].analysis.checks[1].margin: margin: 10 reads as 1000 % slower; "
        "write 10% or 0.1 (fraction fields read a bare number as a share: 0.01 is 1 %)",
        "c.yaml:10: routes[0].analysis.checks[2].margin: margin: 2 reads as 200 points; "
        "write 2% or 0.02 (fraction fields read a bare number as a share: 0.01 is 1 %)",
    ]


def test_written_units_and_plain_values_never_warn() -> None:
    assert (
        warnings(
            "    canary: {weight: '20%', steps: [5, 25, 100]}\n"
            "    mirror: {percent: 10}\n"
            "    analysis:\n"
            "      checks:\n"
            "        - {metric: errors, margin: '1%'}\n"
            "        - {metric: latency, margin: 0.1}\n"
            "        - {metric: latency, name: p, margin: '10%'}\n"
            "        - {metric: agreement, min: 0.9}\n"
            "        - {metric: agreement, name: a2, min: '90%'}\n"
            "        - {metric: loss, margin: 2, bound: 5}\n"  # margins in the loss's units
        )
        == []
    )
    assert warnings("    canary: {weight: 0}\n") == []
    assert warnings("    canary: {weight: '0.5%'}\n") == []


def test_a_min_above_one_is_refused_with_how_it_was_read() -> None:
    with pytest.raises(ConfigError) as info:
        parse_config_warnings(
            HEAD + "    analysis:\n      checks:\n        - {metric: agreement, min: 90}\n",
            "c.yaml",
        )
    [problem] = [str(p) for p in info.value.problems]
    assert problem.startswith("c.yaml:8: routes[0].analysis.checks[0].min: ")
    assert problem.endswith("(min: 90 reads as 9000 %; write 90% or 0.9)")


def test_check_config_prints_warnings_and_exits_0(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "c.yaml"
    path.write_text(HEAD + "    canary: {weight: 0.2}\n", encoding="utf-8")
    assert main(["check-config", str(path)]) == 0
    out, err = capsys.readouterr()
    assert f"{path}:6: routes[0].canary.weight: weight: 0.2 reads as 0.2 %" in err
    assert err.rstrip().endswith("(warning)")
    assert "OK (1 routes: m;" in out and "1 warning)" in out
    path.write_text(HEAD, encoding="utf-8")
    assert main(["check-config", str(path)]) == 0
    out, err = capsys.readouterr()
    assert err == "" and "warning" not in out


def test_a_reload_logs_and_keeps_the_warnings_located(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "c.yaml"
    path.write_text(HEAD, encoding="utf-8")
    holder = ConfigHolder(load_config(path), path)
    path.write_text(HEAD + "    canary: {weight: 0.2}\n", encoding="utf-8")
    with caplog.at_level(logging.WARNING, logger="shadowgate.config"):
        assert holder.reload().ok
    assert holder.current.routes[0].canary.weight == 0.2  # a warning refuses nothing
    expected = (
        f"{path}:6: routes[0].canary.weight: weight: 0.2 reads as 0.2 %; write 20% if you "
        "meant 0.2 of the traffic (percent fields read a bare number as percent)"
    )
    logged = [r.getMessage() for r in caplog.records if "config warning" in r.getMessage()]
    assert logged == [f"config warning: {expected}"]
    # /api/status shows last_reload.to_dict() in its config section
    assert holder.last_reload.to_dict()["warnings"] == [expected]
    path.write_text(HEAD, encoding="utf-8")
    assert holder.reload().ok and holder.last_reload.to_dict()["warnings"] == []
