"""Every demo scenario ends with the right decision, end to end over real processes.

Each test runs ``shadowgate demo`` as a user would (model servers and ``shadowgate serve``
as child processes, real HTTP on loopback, labels posted to the admin API), at a higher
rate and with shorter label delays than the default so the file stays CI-sized.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from shadowgate.cli import main
from shadowgate.demo.models import KINDS, holdout_accuracy
from shadowgate.demo.run import DemoOptions, DemoResult, run_demo
from shadowgate.demo.view import Snapshot, plain_line

pytestmark = [pytest.mark.slow, pytest.mark.timeout(150)]

RATE = 120.0
LABEL_DELAY = 1.0


async def demo(scenario: str, out: Path, *, report: bool = False) -> DemoResult:
    opts = DemoOptions(
        scenario=scenario,
        rate=RATE,
        label_delay=LABEL_DELAY,
        duration=90.0,
        view=False,
        out=out,
        report=report,
        default_ports=False,
    )
    return await run_demo(opts)


def test_the_better_model_really_is_more_accurate_on_held_out_rows() -> None:
    acc = {k: holdout_accuracy(k) for k in KINDS}
    assert acc["better"] > acc["production"] + 0.02
    assert acc["worse"] < acc["production"] - 0.02
    for k in ("slower", "broken", "same"):
        assert acc[k] == acc["production"]


async def test_better_is_promoted_and_reported(tmp_path: Path) -> None:
    r = await demo("better", tmp_path, report=True)
    assert r.state == "promoted", r.decision
    assert r.report is not None
    html = r.report.read_text()
    assert len(re.findall(r'src="data:image/png;base64,', html)) >= 7
    saved = json.loads((tmp_path / "result.json").read_text())
    assert saved["state"] == "promoted"


async def test_worse_is_rolled_back_for_accuracy(tmp_path: Path) -> None:
    r = await demo("worse", tmp_path)
    assert r.state == "rolled_back", r.decision
    assert r.decision is not None and r.decision["check"] == "accuracy"


async def test_slower_is_rolled_back_for_latency(tmp_path: Path) -> None:
    r = await demo("slower", tmp_path)
    assert r.state == "rolled_back", r.decision
    assert r.decision is not None and r.decision["check"] == "latency"


async def test_broken_is_rolled_back_for_errors(tmp_path: Path) -> None:
    r = await demo("broken", tmp_path)
    assert r.state == "rolled_back", r.decision
    assert r.decision is not None and r.decision["check"] == "errors"


async def test_regress_is_promoted_into_the_bake_then_reverted(tmp_path: Path) -> None:
    r = await demo("regress", tmp_path, report=True)
    assert r.state == "rolled_back", r.decision
    assert r.decision is not None and r.decision["from"] == "baking"
    assert r.decision["reason"].startswith("regression while baking: errors")
    assert r.report is not None
    html = r.report.read_text()
    assert "passed:baking" in html and "harm:rolled_back" in html
    # the report and the view show the bake's own evidence, not the shadow phase's
    assert re.search(r"<td class='l'>errors</td><td class='l'>bake</td>.*?>harm</td>", html)
    assert '<img alt="check errors:bake"' in html
    bake = r.status["rollout"]["bake"]
    errors = next(c for c in bake["checks"] if c["check"] == "errors")
    assert (bake["active"], errors["phase"], errors["verdict"]) == (False, "bake", "harm")
    line = plain_line(Snapshot("cancer", r.elapsed, r.status, r.traffic, "regress"))
    assert re.search(r"errors \(bake\): \+[\d.]+ \[\+[\d.]+, \+[\d.]+\] p=\S+ harm", line)


async def test_same_is_promoted_as_non_inferior(tmp_path: Path) -> None:
    r = await demo("same", tmp_path)
    assert r.state == "promoted", r.decision


def test_demo_command_without_a_view(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(
        ["demo", "--scenario", "broken", "--rate", str(RATE), "--label-delay", "1",
         "--no-view", "--no-report", "--out", str(tmp_path)]
    )  # fmt: skip
    out = capsys.readouterr().out
    assert code == 0, out
    assert "decision after" in out and "ROLLED_BACK" in out
    assert re.search(r"^\[\s*\d+s\] \| ", out, re.M)  # plain progress lines, no TTY
    assert "/metrics" in out
