"""``shadowgate plan``: expected and 90th-percentile time to a decision for a check."""

from __future__ import annotations

import argparse
import json
import re
from dataclasses import asdict
from pathlib import Path

_UNITS = {"s": 1.0, "m": 60.0, "min": 60.0, "h": 3600.0}


def parse_rate(text: str) -> float:
    """'50/s', '3000/m', '1e5/h' or a bare number (per second) -> requests per second."""
    m = re.fullmatch(r"\s*([0-9.eE+-]+)\s*(?:/\s*(s|m|min|h))?\s*", text)
    if not m:
        raise argparse.ArgumentTypeError(f"rate must look like 50/s, 3000/m or 1e5/h; got {text!r}")
    value = float(m.group(1)) / _UNITS[m.group(2) or "s"]
    if value <= 0:
        raise argparse.ArgumentTypeError(f"rate must be positive; got {text!r}")
    return value


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "plan",
        help="expected time to a decision for a traffic rate and an effect size",
        description="Simulate the sequential test a check runs and turn samples to decision "
        "into time at the given request rate. Examples:\n"
        "  shadowgate plan --rate 50/s --baseline-error 0.01 --effect 0.005\n"
        "  shadowgate plan --metric latency --rate 20/s --effect 0.05\n"
        "  shadowgate plan --metric accuracy --rate 5/s --baseline-accuracy 0.9 --effect 0.02",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--rate", type=parse_rate, required=True, help="requests, e.g. 50/s")
    p.add_argument("--metric", choices=["errors", "latency", "accuracy"], default="errors")
    p.add_argument("--mode", choices=["shadow", "canary"], default="shadow")
    p.add_argument("--weight", type=float, default=0.1, help="canary share (canary mode)")
    p.add_argument("--baseline-error", type=float, default=0.01, help="production error rate")
    p.add_argument("--baseline-accuracy", type=float, default=0.9)
    p.add_argument(
        "--effect",
        type=float,
        required=True,
        help="errors/accuracy: absolute change; latency: relative slowdown (0.05)",
    )
    p.add_argument("--runs", type=int, default=400)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--json", type=Path, default=None, help="also write the plan as JSON")
    p.set_defaults(func=run)


def _dur(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"


def run(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.table import Table

    from shadowgate.stats.planning import plan

    console = Console()
    baseline = args.baseline_accuracy if args.metric == "accuracy" else args.baseline_error
    try:
        with console.status(f"simulating {args.runs} runs of the {args.metric} check..."):
            result = plan(
                args.metric,
                args.rate,
                args.effect,
                baseline=baseline,
                mode=args.mode,
                weight=args.weight,
                runs=args.runs,
                seed=args.seed,
            )
    except ValueError as exc:
        console.print(f"[red]{exc}[/red]")
        return 2
    table = Table(title=f"time to a decision: {args.metric} ({args.mode}), {args.rate:g} req/s")
    for col in ("test", "samples", "power", "median", "mean", "p90", "fixed-horizon n (80%)"):
        table.add_column(col)
    table.add_row(
        result.test,
        f"{result.unit} at {result.samples_per_second:.3g}/s",
        f"{result.power:.2f}",
        _dur(result.median_seconds),
        _dur(result.mean_seconds),
        _dur(result.p90_seconds),
        _dur(result.fixed_n80_seconds),
    )
    console.print(table)
    if args.json is not None:
        args.json.write_text(json.dumps(asdict(result), indent=2) + "\n")
    return 0
