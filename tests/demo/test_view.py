"""The live view renders /api/status documents as a table (terminal) or plain lines."""

from __future__ import annotations

import io
from typing import Any

from rich.console import Console

from shadowgate.demo.traffic import TrafficStats
from shadowgate.demo.view import Snapshot, View, plain_line, render

STATUS: dict[str, Any] = {
    "counts": {"requests": {"production": 120, "candidate": 0}, "mirrored": 120},
    "rollout": {
        "state": "rolled_back",
        "samples": {"pairs": 118, "labels": 90},
        "checks": [
            {"check": "errors", "phase": "shadow", "segment": None, "n": 118,
             "estimate": 0.07, "ci": [0.03, 0.11], "p_value": 0.003, "verdict": "harm"},
            {"check": "accuracy", "phase": "shadow", "segment": None, "n": 90,
             "estimate": None, "ci": [None, None], "p_value": 1.0, "verdict": "pending"},
        ],
        "last_decision": {"from": "shadow", "to": "rolled_back", "reason": "errors: worse"},
    },
}  # fmt: skip


def snap(status: dict[str, Any]) -> Snapshot:
    return Snapshot("cancer", 12.0, status, TrafficStats(sent=120, ok=120), "broken")


def test_render_shows_every_check_and_the_decision() -> None:
    console = Console(file=io.StringIO(), width=140, record=True)
    console.print(render(snap(STATUS)))
    text = console.export_text()
    for needle in ("rolled_back", "errors", "accuracy", "+0.070", "[+0.030, +0.110]", "0.003"):
        assert needle in text, needle
    assert "shadow → rolled_back: errors: worse" in text
    assert "mirrored 120" in text


def test_plain_lines_when_not_a_terminal() -> None:
    out = io.StringIO()
    with View(out=out, every=5.0) as view:
        assert not view.live_mode  # a StringIO is no terminal
        view.update(snap(STATUS))
        view.update(snap(STATUS))  # within `every`: not repeated
        view.update(snap(STATUS), force=True)
    lines = out.getvalue().splitlines()
    assert len(lines) == 2
    assert lines[0] == plain_line(snap(STATUS))
    assert "errors: +0.070 [+0.030, +0.110] p=0.003 harm" in lines[0]


def test_an_empty_status_renders_as_starting() -> None:
    assert snap({}).state == "starting"
    assert "starting" in plain_line(snap({}))


def test_agreement_is_shown_as_a_share_and_differences_with_a_sign() -> None:
    from shadowgate.demo.view import fmt, fmt_ci, is_difference

    agreement = {"check": "agreement", "estimate": 0.954, "ci": [0.93, 0.97]}
    latency = {"check": "latency", "estimate": 0.012, "ci": [-0.01, 0.03]}
    assert not is_difference(agreement) and is_difference(latency)
    assert fmt(agreement["estimate"], signed=is_difference(agreement)) == "0.954"
    assert fmt_ci(agreement["ci"], signed=False) == "[0.930, 0.970]"
    assert fmt(latency["estimate"], signed=is_difference(latency)) == "+0.012"


BAKED: dict[str, Any] = {
    "rollout": {
        "state": "rolled_back",
        # frozen at the promotion: what the shadow phase had passed on
        "samples": {"pairs": 354, "labels": 360},
        "checks": [
            {"check": "errors", "phase": "shadow", "segment": None, "n": 354,
             "estimate": 0.0, "ci": [-0.04, 0.04], "p_value": 0.0024, "verdict": "passed"},
        ],
        "bake": {
            "active": False, "pairs": 240, "answered": 240, "labels": 130, "min_samples": 200,
            "samples": {"pairs": 240, "answered": 240, "labels": 130},
            "checks": [
                {"check": "errors", "phase": "bake", "segment": None, "n": 240,
                 "estimate": 0.229, "ci": [0.128, 0.322], "p_value": 5.8e-08, "verdict": "harm"},
            ],
        },
        "last_decision": {"from": "baking", "to": "rolled_back", "reason": "regression"},
    },
}  # fmt: skip


def test_a_bake_shows_its_own_evidence_not_the_frozen_shadow_numbers() -> None:
    line = plain_line(snap(BAKED))
    assert "bake pairs 240" in line and "bake labels 130" in line
    assert "errors (bake): +0.229 [+0.128, +0.322] p=5.8e-08 harm" in line
    assert "354" not in line and "passed" not in line
    console = Console(file=io.StringIO(), width=160, record=True)
    console.print(render(snap(BAKED)))
    text = console.export_text()
    assert "errors (bake)" in text and "+0.229" in text and "bake pairs 240" in text
    assert "bake ended; 240 pairs answered by the former production (it needs 200)" in text
    assert "354" not in text
