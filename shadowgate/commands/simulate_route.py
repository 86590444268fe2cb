"""The route-level table of ``shadowgate simulate``: the judge's procedure on dependent data.

Every scenario runs with the procedure the judge uses (long-run variance, betting
sequences, α spent once) and, in the same run with the same seeds, with the earlier
procedure (i.i.d. plug-in) as a negative control.
"""

from __future__ import annotations

import json
import multiprocessing
import shlex
import sys
import time
from collections.abc import Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from shadowgate.commands.sim_output import chosen, progress_bar, write_results
from shadowgate.judge.evidence import pairs_from
from shadowgate.model.outcome import OutcomeRecord
from shadowgate.rollout.checks import Method
from shadowgate.rollout.machine import Event
from shadowgate.rollout.route_scenarios import DEFAULT, build
from shadowgate.rollout.route_sim import RouteScenario, holds, run_range, summarise
from shadowgate.rollout.route_streams import recorded
from shadowgate.store.rows import StoredOutcome

HORIZON = 20_000
#: runs per unit of work handed to a process
CHUNK = 25
PROCEDURES: tuple[Method, ...] = ("long-run", "iid")


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
    jobs: int = 1,
    control_runs: int | None = None,
) -> int:
    """The table; ``control_runs`` (default ``runs``) sizes the control procedure's runs."""
    if scenarios is None:
        scenarios = chosen(console, build(), only, lambda s: s.name)
    if not scenarios:
        return 2
    jobs = max(1, jobs)
    sizes: dict[Method, int] = {"long-run": runs, "iid": control_runs or runs}
    start = time.perf_counter()
    got = _run_all(console, scenarios, sizes, horizon, seed, jobs)
    elapsed = time.perf_counter() - start
    rows: list[dict[str, Any]] = [
        {"scenario": sc.name, "now": got[(i, "long-run")], "control": got[(i, "iid")]}
        for i, sc in enumerate(scenarios)
    ]
    console.print(table(rows))
    failed = [r["scenario"] for r in rows if not holds(r["now"])]
    if failed:
        console.print(f"[red]above nominal + 2.5 SE: {failed}[/red]")
    command = "shadowgate simulate " + shlex.join(sys.argv[2:]) if len(sys.argv) > 2 else ""
    total = sum(sizes.values()) * len(scenarios)
    per_run = elapsed * jobs / total
    procs = f" with {jobs} processes" if jobs > 1 else ""
    each = (
        f"{runs} runs per scenario and method"
        if sizes["iid"] == runs
        else f"{runs} runs per scenario, {sizes['iid']} for the control"
    )
    head = (
        f"Produced by `{command}` in {elapsed:.0f} s{procs} ({each}; "
        f"{per_run:.3f} s per run and process).\n\n"
    )
    doc = {"runs": runs, "control_runs": sizes["iid"], "seed": seed, "horizon": horizon}
    write_results(
        console,
        {**doc, "jobs": jobs, "rows": rows},
        elapsed,
        out,
        markdown,
        head + markdown_table(rows),
    )
    console.print(
        f"{len(scenarios)} scenarios x 2 procedures ({each}) in {elapsed:.0f} s{procs} "
        f"({per_run:.3f} s per run and process)"
    )
    return 1 if failed else 0


Key = tuple[int, Method]
Chunk = tuple[Key, int, int]


def _run_all(
    console: Console,
    scenarios: list[RouteScenario],
    sizes: dict[Method, int],
    horizon: int,
    seed: int,
    jobs: int,
) -> dict[Key, dict[str, Any]]:
    """Every scenario with both procedures, in chunks of runs (over ``jobs`` processes).

    Each run has its own random stream (``route_sim.run_rng``), so the results do not
    depend on ``jobs``. A line is printed as each scenario and procedure completes.
    """
    chunks: list[Chunk] = [
        ((i, method), lo, min(lo + CHUNK, sizes[method]))
        for i in range(len(scenarios))
        for method in PROCEDURES
        for lo in range(0, sizes[method], CHUNK)
    ]
    parts: dict[Key, dict[int, list[tuple[str, int]]]] = {}
    done: dict[Key, dict[str, Any]] = {}
    began = time.perf_counter()
    with progress_bar(console) as progress:
        total = progress.add_task("all scenarios", total=sum(sizes.values()) * len(scenarios))
        bars: dict[Key, Any] = {}
        for (key, lo, hi), outcome in _chunks_done(scenarios, chunks, horizon, seed, jobs):
            i, method = key
            if key not in bars:
                bars[key] = progress.add_task(
                    f"{scenarios[i].name} [{method}]", total=sizes[method]
                )
            progress.advance(bars[key], hi - lo)
            progress.advance(total, hi - lo)
            parts.setdefault(key, {})[lo] = outcome
            if sum(len(v) for v in parts[key].values()) < sizes[method]:
                continue
            ordered = [o for lo_ in sorted(parts[key]) for o in parts[key][lo_]]
            done[key] = r = summarise(scenarios[i], ordered, horizon, method)
            progress.remove_task(bars.pop(key))
            console.print(
                f"{len(done):>3}/{2 * len(scenarios)} {scenarios[i].name} [{method}]: "
                f"{r['target']} {_rate(r)} ({time.perf_counter() - began:.0f} s)",
                markup=False,
                highlight=False,
            )
    return done


def _chunks_done(
    scenarios: list[RouteScenario], chunks: list[Chunk], horizon: int, seed: int, jobs: int
) -> Iterator[tuple[Chunk, list[tuple[str, int]]]]:
    """Each chunk with its runs' outcomes, as they finish (in order with one job)."""
    if jobs == 1:
        for c in chunks:
            (i, method), lo, hi = c
            yield c, run_range(scenarios[i], lo, hi, horizon, seed, method)
        return
    # spawn: the workers start clean (no copy of the progress bar's thread)
    ex = ProcessPoolExecutor(max_workers=jobs, mp_context=multiprocessing.get_context("spawn"))
    try:
        todo = iter(chunks)
        running: dict[Future[list[tuple[str, int]]], Chunk] = {}

        def submit() -> None:
            for c in todo:
                (i, method), lo, hi = c
                running[ex.submit(run_range, scenarios[i], lo, hi, horizon, seed, method)] = c
                if len(running) >= 2 * jobs:
                    return

        submit()
        while running:
            finished, _ = wait(running, return_when=FIRST_COMPLETED)
            for f in finished:
                yield running.pop(f), f.result()
            submit()
    finally:
        ex.shutdown(wait=True, cancel_futures=True)


def _rate(r: dict[str, Any]) -> str:
    return f"{r['rate']:.3f} ± {r['se']:.3f}"


def _n(x: float | None) -> str:
    return "-" if x is None else f"{x:,.0f}"


def _other(r: dict[str, Any]) -> str:
    o = r.get("other")
    if o is None:
        return "-"
    ok = "yes" if o["rate"] <= o["bound"] + 2.5 * o["se"] else "NO"
    return f"{o['target']} {o['rate']:.4f} ± {o['se']:.4f} ≤ {o['bound']:.4f}: {ok}"


def _cells(row: dict[str, Any]) -> list[str]:
    now, ctl = row["now"], row["control"]
    kind = "wrong " if now["null"] else ""
    return [
        row["scenario"],
        kind + now["target"],
        _rate(now),
        "-" if now["nominal"] is None else f"{now['nominal']:.3f}",
        "yes" if holds(now) else "NO",
        _other(now),
        _rate(ctl),
        "yes" if holds(ctl) else "NO",
        f"{_n(now['median_n'])} / {_n(now['p90_n'])}",
        f"{_n(ctl['median_n'])} / {_n(ctl['p90_n'])}",
    ]


COLUMNS = (
    "scenario",
    "decision counted",
    "rate ± SE",
    "nominal",
    "holds",
    "other wrong decision ± SE ≤ its share",
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
