"""The route-level table of ``shadowgate simulate``: the judge's procedure on dependent data.

Every scenario runs with the procedure the judge uses (long-run variance, betting
sequences, α spent once) and, in the same run with the same seeds, with the earlier
procedure (i.i.d. plug-in) as a negative control.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from shadowgate.commands.sim_output import chosen, progress_bar, write_results
from shadowgate.judge.evidence import pairs_from
from shadowgate.model.outcome import OutcomeRecord
from shadowgate.rollout.machine import Event
from shadowgate.rollout.route_scenarios import DEFAULT, build
from shadowgate.rollout.route_sim import RouteScenario, holds, run_many
from shadowgate.stats.scenarios_route import recorded
from shadowgate.store.rows import StoredOutcome

HORIZON = 20_000


def run_table(
    console: Console,
    *,
    runs: int,
    seed: int,
    only: str | None,
    out: Path | None,
    markdown: Path | None,
    horizon: int = HORIZON,
    scenarios: list[RouteScenario] | None = None,
) -> int:
    if scenarios is None:
        scenarios = chosen(console, build(), only, lambda s: s.name)
    if not scenarios:
        return 2
    rows: list[dict[str, Any]] = []
    start = time.perf_counter()
    with progress_bar(console) as progress:
        total = progress.add_task("all scenarios", total=2 * runs * len(scenarios))
        for sc in scenarios:
            pair: dict[str, Any] = {}
            for method in ("long-run", "iid"):
                task = progress.add_task(f"{sc.name} [{method}]", total=runs)

                def step(k: int, task: Any = task) -> None:
                    progress.advance(task, k)
                    progress.advance(total, k)

                pair[method] = run_many(sc, runs, horizon, seed, method, step)
                progress.remove_task(task)
            rows.append({"scenario": sc.name, "now": pair["long-run"], "control": pair["iid"]})
    elapsed = time.perf_counter() - start
    console.print(table(rows))
    failed = [r["scenario"] for r in rows if not holds(r["now"])]
    if failed:
        console.print(f"[red]above nominal + 2.5 SE: {failed}[/red]")
    command = "shadowgate simulate " + " ".join(sys.argv[2:]) if len(sys.argv) > 2 else ""
    head = f"Produced by `{command}` in {elapsed:.0f} s ({runs} runs per scenario and method).\n\n"
    write_results(
        console,
        {"runs": runs, "seed": seed, "horizon": horizon, "rows": rows},
        elapsed,
        out,
        markdown,
        head + markdown_table(rows),
    )
    console.print(f"{len(scenarios)} scenarios x {runs} runs x 2 procedures in {elapsed:.0f} s")
    return 1 if failed else 0


def _rate(r: dict[str, Any]) -> str:
    return f"{r['rate']:.3f} ± {r['se']:.3f}"


def _n(x: float | None) -> str:
    return "-" if x is None else f"{x:,.0f}"


def _cells(row: dict[str, Any]) -> list[str]:
    now, ctl = row["now"], row["control"]
    kind = "wrong " if now["null"] else ""
    return [
        row["scenario"],
        kind + now["target"],
        _rate(now),
        "-" if now["nominal"] is None else f"{now['nominal']:.3f}",
        ("yes" if holds(now) else "NO") if now["null"] else "-",
        _rate(ctl),
        ("yes" if holds(ctl) else "NO") if now["null"] else "-",
        f"{_n(now['median_n'])} / {_n(now['p90_n'])}",
        f"{_n(ctl['median_n'])} / {_n(ctl['p90_n'])}",
    ]


COLUMNS = (
    "scenario",
    "decision counted",
    "rate ± SE",
    "nominal",
    "holds",
    "i.i.d. plug-in (control)",
    "control holds",
    "median / p90 n",
    "control median / p90 n",
)


def table(rows: list[dict[str, Any]]) -> Table:
    t = Table(title="route-level procedure, default checks, α = 0.05 (rate ± Monte-Carlo SE)")
    for c in COLUMNS:
        t.add_column(c, justify="left" if c in ("scenario", "decision counted") else "right")
    for row in rows:
        t.add_row(*_cells(row))
    return t


def markdown_table(rows: list[dict[str, Any]]) -> str:
    lines = ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    lines += ["| " + " | ".join(_cells(r)) + " |" for r in rows]
    lines.append("")
    for r in rows:
        lines.append(f"- **{r['scenario']}**: {r['now']['description']}")
    return "\n".join(lines)


def load_outcomes(path: Path, block: int) -> tuple[RouteScenario, int]:
    """An A/A scenario from a ``shadowgate export`` JSONL file of shadow outcomes.

    Raises ValueError naming the line of a row that is not an outcome, or when the file
    holds no shadow pairs.
    """
    fields = {f for f in OutcomeRecord.__dataclass_fields__ if f not in ("request_body", "extra")}
    stored: list[StoredOutcome] = []
    with path.open() as fh:
        for line_no, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
                rec = OutcomeRecord(**{k: v for k, v in row.items() if k in fields})
            except (ValueError, TypeError) as exc:
                raise ValueError(f"{path}:{line_no}: not an exported outcome ({exc})") from None
            stored.append(StoredOutcome(int(row.get("id", line_no)), rec))
    b = pairs_from(stored)
    if len(b) < 2 * block:
        raise ValueError(
            f"{path}: {len(b)} shadow pairs; the A/A needs at least two blocks of {block} "
            "(export a longer stretch, or pass a smaller --block)"
        )
    make = recorded(b.prod_fail, b.cand_fail, b.log_latency_ratio, b.agreement, block=block)
    sc = RouteScenario(
        f"A/A recorded ({path.name})",
        f"{len(b)} recorded pairs, sides swapped in blocks of {block}, random start",
        True,
        Event.HARM,
        DEFAULT,
        make,
    )
    return sc, len(b)
