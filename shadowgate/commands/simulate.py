"""``shadowgate simulate``: Monte-Carlo check of the decision procedure and of every test.

``--table route`` (the default) runs the judge's own route-level procedure on dependent,
production-like data next to the earlier i.i.d. procedure as a negative control
(:mod:`shadowgate.commands.simulate_route`); ``--table tests`` checks each sequential test
on its own (A/A and A/B), as before.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

QUICK_RUNS = 500
DEFAULT_RUNS = 2000
ROUTE_QUICK_RUNS = 50
ROUTE_RUNS = 2000


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "simulate",
        help="Monte-Carlo check: false decisions under A/A, power and samples to decision",
        description="Simulate every test on realistic data (ms-rounded lognormal/Pareto "
        "latencies, rare errors, canary shares changing mid-run, batch arrivals), monitoring "
        "after every observation, and compare with a fixed-horizon t-test re-run at every look.",
    )
    p.add_argument(
        "--runs",
        type=int,
        default=None,
        help=f"replicates per scenario (default {DEFAULT_RUNS}; {QUICK_RUNS} with --quick)",
    )
    p.add_argument("--seed", type=int, default=20240601, help="random seed (default %(default)s)")
    p.add_argument(
        "--control-runs",
        type=int,
        default=None,
        help="route table: replicates of the control procedure (default: as --runs); it "
        "fails the dependent nulls by tens of standard errors, so fewer runs show it",
    )
    p.add_argument("--out", type=Path, default=None, help="write the results as JSON here")
    p.add_argument("--quick", action="store_true", help="CI size: fewer runs, shorter horizons")
    p.add_argument("--markdown", type=Path, default=None, help="also write a Markdown table")
    p.add_argument("--only", default=None, help="run only scenarios whose name contains this")
    p.add_argument(
        "--drift",
        action="store_true",
        help="simulate the input drift monitors instead (false alarms, detection delay)",
    )
    p.add_argument(
        "--table",
        choices=("route", "tests"),
        default="route",
        help="route: the judge's procedure on dependent data, with the i.i.d. procedure as "
        "a negative control (default); tests: each sequential test on its own",
    )
    p.add_argument(
        "--outcomes",
        type=Path,
        default=None,
        help="A/A on your own recorded pairs (a `shadowgate export` JSONL file): sides are "
        "swapped in blocks at random, keeping your data's dependence within a block",
    )
    p.add_argument(
        "--jobs",
        type=int,
        default=1,
        help="processes for the route table and --outcomes (default %(default)s); the "
        "results are the same for any number",
    )
    p.add_argument(
        "--block",
        type=int,
        default=1000,
        help="pairs per swapped block for --outcomes (default %(default)s)",
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if args.drift:
        from shadowgate.commands import simulate_drift

        return simulate_drift.run(args)

    from shadowgate.commands.sim_output import chosen, run_each, start, write_results
    from shadowgate.stats.scenarios import build
    from shadowgate.stats.simulation import run_scenario

    console, runs = start(args, QUICK_RUNS, DEFAULT_RUNS)
    if runs is None:
        return 2
    if args.jobs < 1:
        console.print(f"[red]--jobs must be at least 1; got {args.jobs}[/red]")
        return 2
    if args.outcomes is not None:
        from shadowgate.commands.simulate_route import load_outcomes, run_table

        try:
            recorded, pairs = load_outcomes(args.outcomes, max(1, args.block))
        except (OSError, ValueError) as exc:
            console.print(f"[red]{exc}[/red]")
            return 2
        return run_table(
            console,
            runs=runs if args.runs else ROUTE_QUICK_RUNS,
            seed=args.seed,
            only=None,
            out=args.out,
            markdown=args.markdown,
            horizon=min(pairs, 20_000),
            scenarios=[recorded],
            jobs=args.jobs,
        )
    if args.table == "route":
        from shadowgate.commands.simulate_route import run_table

        return run_table(
            console,
            runs=args.runs or (ROUTE_QUICK_RUNS if args.quick else ROUTE_RUNS),
            seed=args.seed,
            only=args.only,
            out=args.out,
            markdown=args.markdown,
            jobs=args.jobs,
            control_runs=args.control_runs,
        )
    scenarios = chosen(console, build(quick=args.quick), args.only, lambda s: s.name)
    if not scenarios:
        return 2
    results, elapsed = run_each(
        console,
        scenarios,
        lambda sc: runs,
        lambda sc, n, step: run_scenario(sc, n, args.seed, step),
        width=40,
        overall=True,
    )
    console.print(results_table(results))
    failed = [r["name"] for r in results if r["null"] and not null_ok(r)]
    if failed:
        console.print(f"[red]false-decision rate above alpha beyond MC error: {failed}[/red]")
    write_results(
        console,
        {"runs": runs, "seed": args.seed, "quick": args.quick, "scenarios": results},
        elapsed,
        args.out,
        args.markdown,
        markdown_table(results),
    )
    console.print(f"{len(scenarios)} scenarios x {runs} runs in {elapsed:.0f} s")
    return 1 if failed else 0


def null_ok(r: dict[str, Any]) -> bool:
    """A null scenario passes when alpha lies at or above the lower Clopper-Pearson bound."""
    return bool(r["reject_ci95"][0] <= r["alpha"])


def _fmt(x: float | None, digits: int = 0) -> str:
    return "-" if x is None else f"{x:,.{digits}f}"


def results_table(results: list[dict[str, Any]]) -> Any:
    from rich.table import Table

    table = Table(title="anytime-valid tests: Monte-Carlo check (alpha = 0.05 each)")
    for col in (
        "scenario",
        "test",
        "false/power",
        "95% CI (Clopper-Pearson)",
        "naive t every look",
        "median n",
        "p90 n",
        "fixed n (80%)",
        "unit",
    ):
        table.add_column(col, justify="left" if col in ("scenario", "test", "unit") else "right")
    for r in results:
        lo, hi = r["reject_ci95"]
        rate = f"{r['reject_rate']:.4f}"
        if r["null"]:
            rate = f"[{'green' if null_ok(r) else 'red'}]{rate}[/]"
        table.add_row(
            r["name"],
            r["test"],
            rate,
            f"[{lo:.4f}, {hi:.4f}]",
            f"{r['naive_reject_rate']:.3f}" if r["null"] else "-",
            _fmt(r["median_samples"]) if not r["null"] else "-",
            _fmt(r["p90_samples"]) if not r["null"] else "-",
            _fmt(r["fixed_n80"]),
            r["unit"],
        )
    return table


def markdown_table(results: list[dict[str, Any]]) -> str:
    """The results as a Markdown table (for docs/statistics.md and benchmarks/results)."""
    head = (
        "| scenario | test | runs | rejected (A/A: false; A/B: power) | 95% CP interval "
        "| naive t every look | median n | p90 n | fixed n (80%) | unit |"
    )
    lines = [head, "|" + "---|" * 10]
    for r in results:
        lo, hi = r["reject_ci95"]
        lines.append(
            f"| {r['name']} | {r['test']} | {r['runs']:,} | {r['reject_rate']:.4f} "
            f"| [{lo:.4f}, {hi:.4f}] "
            f"| {r['naive_reject_rate']:.3f} | "
            f"{_fmt(r['median_samples']) if not r['null'] else '-'} | "
            f"{_fmt(r['p90_samples']) if not r['null'] else '-'} | "
            f"{_fmt(r['fixed_n80'])} | {r['unit']} |"
        )
    cover = [r for r in results if "cs_miss_rate" in r]
    for r in cover:
        lo, hi = r["cs_miss_ci95"]
        lines.append("")
        lines.append(
            f"Confidence-sequence miss rate ({r['name']}, every observation): "
            f"{r['cs_miss_rate']:.4f} [{lo:.4f}, {hi:.4f}] (must be <= 0.05)"
        )
    return "\n".join(lines)
