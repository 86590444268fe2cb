"""What every ``shadowgate simulate`` table shares: the progress bar and the result files.

A simulation prints its table, writes a JSON payload (with the machine it ran on and how
long it took) and a Markdown table when asked, and says how long it took: written once
here for the route table, the test catalogue and the drift monitors.
"""

from __future__ import annotations

import json
import os
import platform
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn


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
