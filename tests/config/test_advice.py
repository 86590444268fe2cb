"""Advice on valid settings, located: a loss check without a bound, and input checks on a
route whose protocol they cannot read."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from shadowgate.cli import main
from shadowgate.config import ConfigHolder, load_config
from shadowgate.config.loader import parse_config_warnings

HEAD = """\
routes:
  - name: m
    match: {path_prefix: /v2/models/m}
    production: {url: "http://127.0.0.1:8001"}
    candidate: {url: "http://127.0.0.1:8002"}
    analysis:
      checks:
        - {metric: errors}
"""
UNBOUNDED = "        - metric: loss\n          margin: 0.02\n"
BOUNDED = "        - {metric: loss, name: clipped, margin: 0.02, bound: 15}\n"


def warnings(body: str) -> list[str]:
    _, found = parse_config_warnings(HEAD + body, "c.yaml")
    return [str(w) for w in found]


def test_a_loss_check_without_bound_is_warned_about_at_its_line() -> None:
    [found] = warnings(UNBOUNDED)
    assert found.startswith("c.yaml:9: routes[0].analysis.checks[1].bound: a loss check ")
    # why, and what to set
    assert "rare confident mistakes" in found and "variance its early pairs cannot show" in found
    assert "set bound to the largest loss worth counting, e.g. 15 for log loss" in found


def test_a_bounded_loss_and_other_metrics_are_not_warned_about() -> None:
    assert warnings(BOUNDED) == []
    assert warnings("        - {metric: accuracy, margin: 0.01}\n") == []
    both = warnings(BOUNDED + "        - {metric: loss, name: raw}\n")
    assert [w.split(": ", 2)[1] for w in both] == ["routes[0].analysis.checks[2].bound"]


def test_check_config_and_a_reload_show_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "c.yaml"
    path.write_text(HEAD + UNBOUNDED, encoding="utf-8")
    assert main(["check-config", str(path)]) == 0  # a warning refuses nothing
    _, err = capsys.readouterr()
    assert f"{path}:9: routes[0].analysis.checks[1].bound: a loss check without bound" in err
    path.write_text(HEAD + BOUNDED, encoding="utf-8")
    holder = ConfigHolder(load_config(path), path)
    path.write_text(HEAD + UNBOUNDED, encoding="utf-8")
    with caplog.at_level(logging.WARNING, logger="shadowgate.config"):
        assert holder.reload().ok
    [shown] = holder.last_reload.to_dict()["warnings"]  # /api/status shows these
    assert shown.startswith(f"{path}:9: routes[0].analysis.checks[1].bound: ")
    assert any(shown in r.getMessage() for r in caplog.records)


INPUT_CHECKS = "    validation: {schema: auto}\n    drift: {reference: 100}\n"


def with_protocol(protocol: str) -> str:
    head = HEAD.replace("    analysis:", f"    protocol: {protocol}\n    analysis:")
    return head + INPUT_CHECKS


def test_input_checks_that_cannot_read_the_routes_protocol_are_warned_about() -> None:
    _, found = parse_config_warnings(with_protocol("kserve-v1"), "c.yaml")
    texts = [str(w) for w in found]
    assert [t.split(": ", 2)[1] for t in texts] == [
        "routes[0].validation.schema",
        "routes[0].drift",
    ]
    assert "a kserve-v1 route's servers do not serve, so no request would be checked" in texts[0]
    assert "give a JSON Schema file (schema: FILE)" in texts[0]
    assert "on a kserve-v1 route they would watch nothing" in texts[1]
    # the same keys on an Open Inference Protocol route: no advice
    _, none = parse_config_warnings(with_protocol("open-inference-v2"), "c.yaml")
    assert [str(w) for w in none] == []
