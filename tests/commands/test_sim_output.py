"""The shared loop of the simulate tables: every scenario run with its own runs, in order."""

from __future__ import annotations

import argparse
import io
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from rich.console import Console

from shadowgate.commands.sim_output import run_each, start


@dataclass(frozen=True)
class Sc:
    name: str
    runs: int


def test_run_each_runs_every_scenario_with_its_runs_in_order() -> None:
    console = Console(file=io.StringIO())
    seen: list[tuple[str, int]] = []

    def one(sc: Sc, runs: int, step: Callable[[int], None]) -> dict[str, Any]:
        for _ in range(runs):
            step(1)
        seen.append((sc.name, runs))
        return {"name": sc.name, "runs": runs}

    scenarios = [Sc("a", 3), Sc("b", 1), Sc("c", 2)]
    results, seconds = run_each(console, scenarios, lambda sc: sc.runs, one, overall=True)
    assert seen == [("a", 3), ("b", 1), ("c", 2)]
    assert results == [{"name": "a", "runs": 3}, {"name": "b", "runs": 1}, {"name": "c", "runs": 2}]
    assert seconds >= 0.0


def test_start_takes_runs_then_the_quick_or_full_default() -> None:
    assert start(argparse.Namespace(runs=7, quick=True), 2, 9)[1] == 7
    assert start(argparse.Namespace(runs=None, quick=True), 2, 9)[1] == 2
    assert start(argparse.Namespace(runs=None, quick=False), 2, 9)[1] == 9
