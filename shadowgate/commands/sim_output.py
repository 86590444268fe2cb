"""What every ``shadowgate simulate`` table shares: the progress bar and the result files.

A simulation prints its table, writes a JSON payload (with the machine it ran on and how
long it took) and a Markdown table when asked, and says how long it took: written once
here for the route table, the test catalogue and the drift monitors.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Protocol, TypeVar

from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

T = TypeVar("T")


class Named(Protocol):
    @property
    def name(self) -> str: ...


S = TypeVar("S", bound=Named)


def progress_bar(console: Console, width: int = 44) -> Progress:
    """One line per scenario with its runs done and the time left."""
    return Progress(
        TextColumn(f"{{task.description:<{width}}}"),
        BarColumn(),
        TextColumn("{task.completed:>7.0f}/{task.total:.0f} runs"),
        TimeRemainingColumn(),
        console=console,
    )


def machine() -> str:
    return f"{platform.machine()} {os.cpu_count()} cpu, {platform.python_version()}"


def write_results(
    console: Console,
    payload: dict[str, Any],
    seconds: float,
    out: Path | None,
    markdown: Path | None,
    table: str,
) -> None:
    """``payload`` (plus the time taken and the machine) as JSON, ``table`` as Markdown."""
    if out is not None:
        doc = {**payload, "seconds": round(seconds, 1), "machine": machine()}
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(doc, indent=2) + "\n")
        console.print(f"wrote {out}")
    if markdown is not None:
        markdown.parent.mkdir(parents=True, exist_ok=True)
        markdown.write_text(table + "\n")


def wide_console() -> Console:
    """The terminal, or 160 columns when the output is a file (tables stay readable)."""
    console = Console()
    return console if console.is_terminal else Console(width=160)


def run_count(console: Console, asked: int | None, default: int) -> int | None:
    """The runs per scenario: ``asked`` if given, else ``default``; None (said) if < 1."""
    runs = asked or default
    if runs < 1:
        console.print("[red]--runs must be at least 1[/red]")
        return None
    return runs


def chosen(console: Console, names: list[T], only: str | None, name: Callable[[T], str]) -> list[T]:
    """The scenarios whose name contains ``only`` (all without it); says so when none do."""
    out = [s for s in names if not only or only in name(s)]
    if not out:
        console.print(f"[red]no scenario name contains {only!r}[/red]")
    return out


def start(args: argparse.Namespace, quick_runs: int, full_runs: int) -> tuple[Console, int | None]:
    """The console and the runs per scenario (--runs, else the --quick or full default)."""
    console = wide_console()
    return console, run_count(console, args.runs, quick_runs if args.quick else full_runs)


def run_each(
    console: Console,
    scenarios: Sequence[S],
    runs_of: Callable[[S], int],
    run_one: Callable[[S, int, Callable[[int], None]], dict[str, Any]],
    *,
    width: int = 44,
    overall: bool = False,
) -> tuple[list[dict[str, Any]], float]:
    """Each scenario's result in order, a bar each (and one for all with ``overall``).

    ``run_one(scenario, runs, step)`` calls ``step(k)`` as runs finish. Returns the
    results and the seconds they took.
    """
    results: list[dict[str, Any]] = []
    began = time.perf_counter()
    with progress_bar(console, width) as progress:
        every = sum(runs_of(sc) for sc in scenarios)
        total = progress.add_task("all scenarios", total=every) if overall else None
        for sc in scenarios:
            runs = runs_of(sc)
            task = progress.add_task(sc.name, total=runs)

            def step(k: int, task: Any = task) -> None:
                progress.advance(task, k)
                if total is not None:
                    progress.advance(total, k)

            results.append(run_one(sc, runs, step))
            progress.remove_task(task)
    return results, time.perf_counter() - began
