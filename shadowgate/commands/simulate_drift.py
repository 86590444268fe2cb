"""``shadowgate simulate --drift``: false alarms and detection delays of the drift monitors."""

from __future__ import annotations

import argparse
from typing import Any

DRIFT_RUNS = 2000  # null scenarios; alternatives run half as many
QUICK_DRIFT_RUNS = 200
ALT_ROWS = 5_000  # stream rows after the drift starts, for alternatives


def run(args: argparse.Namespace) -> int:

    from shadowgate.commands.sim_output import chosen, run_each, start, write_results
    from shadowgate.inputs.simulation import run_drift_scenario, scenarios

    console, runs = start(args, QUICK_DRIFT_RUNS, DRIFT_RUNS)
    if runs is None:
        return 2
    null_rows = 10_000 if args.quick else 100_000
    late = 5_000 if args.quick else 50_000
    picked = chosen(console, scenarios(late_start=late), args.only, lambda s: s.name)
    if not picked:
        return 2
    alt_rows = 2_000 if args.quick else ALT_ROWS
    results, elapsed = run_each(
        console,
        picked,
        lambda sc: runs if sc.null else max(1, runs // 2),
        lambda sc, n, step: run_drift_scenario(
            sc, n, args.seed, rows=null_rows if sc.null else sc.start + alt_rows, progress=step
        ),
    )
    console.print(markdown_table(results))
    failed = [r["name"] for r in results if r["null"] and not r["ok"]]
    if failed:
        console.print(f"[red]false alarms above alpha + 2.5 SE: {failed}[/red]")
    write_results(
        console,
        {"drift": True, "runs": runs, "seed": args.seed, "quick": args.quick, "scenarios": results},
        elapsed,
        args.out,
        args.markdown,
        markdown_table(results),
    )
    console.print(f"{len(picked)} drift scenarios x {runs} runs in {elapsed:.0f} s")
    return 1 if failed else 0


def _rows(x: float | None) -> str:
    return "never (median)" if x is None else f"{x:,.0f}"


def markdown_table(results: list[dict[str, Any]]) -> str:
    """Nulls (false alarms, with MC standard error) then alternatives (delays)."""
    lines = [
        "| null scenario | runs | rows | alpha | drift monitor: P(ever alarm) ± SE "
        "| window test re-run every window: P(ever alarm) ± SE | within alpha + 2.5 SE |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in (r for r in results if r["null"]):
        m, w = r["monitor"], r["window_test"]
        lines.append(
            f"| {r['name']} | {r['runs']:,} | {r['rows']:,} | {r['alpha']} "
            f"| {m['rate']:.4f} ± {m['se']:.4f} | {w['rate']:.3f} ± {w['se']:.3f} "
            f"| {'yes' if r['ok'] else 'NO'} |"
        )
    lines += [
        "",
        "| alternative | runs | drift from row | monitor: detected | median rows | p90 rows "
        "| window test: detected | median rows | p90 rows | monitor alarms before the drift |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in (r for r in results if not r["null"]):
        m, w = r["monitor"], r["window_test"]
        lines.append(
            f"| {r['name']} | {r['runs']:,} | {r['start']:,} | {m['detected']:.3f} "
            f"| {_rows(m['median_rows'])} | {_rows(m['p90_rows'])} | {w['detected']:.3f} "
            f"| {_rows(w['median_rows'])} | {_rows(w['p90_rows'])} "
            f"| {m['alarm_before_start']:.4f} |"
        )
    return "\n".join(lines)
