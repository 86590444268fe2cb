"""``shadowgate plan``: how long until the judge promotes or rolls back, at a traffic rate.

Simulates the judge's own procedure (the route's checks, margins, α split, min_samples
and policy: ``rollout.planning``) on generated outcomes, for a candidate that is identical
(``--effect 0``) or worse by a given amount, and prints the median and 90th percentile of
samples and time to each decision, with the number of simulated runs.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path
from typing import Any

_UNITS = {"s": 1.0, "m": 60.0, "min": 60.0, "h": 3600.0}
_METRICS = ("errors", "latency", "agreement", "accuracy", "loss")


def parse_rate(text: str) -> float:
    """'50/s', '3000/m', '1e5/h' or a bare number (per second) -> requests per second."""
    m = re.fullmatch(r"\s*([0-9.eE+-]+)\s*(?:/\s*(s|m|min|h))?\s*", text)
    if not m:
        raise argparse.ArgumentTypeError(f"rate must look like 50/s, 3000/m or 1e5/h; got {text!r}")
    value = float(m.group(1)) / _UNITS[m.group(2) or "s"]
    if value <= 0:
        raise argparse.ArgumentTypeError(f"rate must be positive; got {text!r}")
    return value


def parse_amount(text: str) -> float:
    """``0.05``, ``5%`` or ``-1%`` → a fraction (as margins are written in the config)."""
    t = text.strip()
    try:
        return float(t[:-1]) / 100.0 if t.endswith("%") else float(t)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected a number or a percentage; got {text!r}"
        ) from None


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "plan",
        help="expected time to a decision for a traffic rate and an effect size",
        description="Simulate the judge (the route's checks, margins, alpha, min_samples and "
        "policy) on generated outcomes and report samples and time to promotion and to "
        "rollback. --effect is how much worse the candidate is on --metric (0: identical; "
        "errors/accuracy/agreement: absolute share; latency: relative slowdown; loss: mean "
        "loss), identical on the other metrics. Examples:\n"
        "  shadowgate plan --rate 50/s --metric errors --margin 0.5% --effect 0 --effect 2%\n"
        "  shadowgate plan --rate 20/s --metric latency --margin 10% --effect 0.3\n"
        "  shadowgate plan --config shadowgate.yaml --route cancer --rate 50/s --effect 0",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--rate", type=parse_rate, required=True, help="client requests, e.g. 50/s")
    p.add_argument("--config", type=Path, default=None, help="take the route's checks from here")
    p.add_argument("--route", default=None, help="the route in --config (default: the first)")
    p.add_argument("--metric", choices=_METRICS, default=None, help="where the candidate differs")
    p.add_argument("--margin", type=parse_amount, default=None, help="the check's margin")
    p.add_argument("--min", type=parse_amount, default=None, help="agreement: the minimum")
    p.add_argument(
        "--effect",
        type=parse_amount,
        action="append",
        default=None,
        help="how much worse (repeat for several; default: 0 and twice the margin)",
    )
    p.add_argument("--mode", choices=["shadow", "canary"], default="shadow")
    p.add_argument("--weight", type=float, default=10.0, help="canary weight in percent")
    p.add_argument("--alpha", type=float, default=None)
    p.add_argument("--min-samples", type=int, default=None)
    p.add_argument("--baseline-error", type=parse_amount, default=0.01)
    p.add_argument("--baseline-accuracy", type=parse_amount, default=0.9)
    p.add_argument("--latency-sd", type=float, default=0.3, help="sd of log latency ratios")
    p.add_argument("--label-share", type=parse_amount, default=1.0, help="requests labelled")
    p.add_argument("--runs", type=int, default=200, help="simulated rollouts per effect")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--json", type=Path, default=None, help="also write the plan as JSON")
    p.set_defaults(func=run)


def _route(args: argparse.Namespace) -> Any:
    """The route to simulate: from --config, or one check built from the flags."""
    from shadowgate.config.model import RouteConfig

    if args.config is not None:
        from shadowgate.config import load_config

        if args.margin is not None or args.min is not None:
            raise ValueError(
                "--margin/--min come from the route's checks with --config; edit them there"
            )
        cfg = load_config(args.config)
        name = args.route or (cfg.routes[0].name if cfg.routes else None)
        route = cfg.route(name) if name else None
        if route is None:
            known = ", ".join(r.name for r in cfg.routes) or "none"
            raise ValueError(f"no route {args.route!r} in {args.config} (routes: {known})")
        return route
    metric = args.metric or "errors"
    check: dict[str, Any] = {"metric": metric}
    if args.margin is not None:
        check["margin"] = args.margin
    if args.min is not None:
        check["min"] = args.min
    analysis: dict[str, Any] = {"checks": [check]}
    if args.alpha is not None:
        analysis["alpha"] = args.alpha
    if args.min_samples is not None:
        analysis["min_samples"] = args.min_samples
    return RouteConfig.model_validate(
        {
            "name": "plan",
            "match": {"path_prefix": "/"},
            "production": {"url": "http://production"},
            "candidate": {"url": "http://candidate"},
            "mode": args.mode,
            "canary": {"weight": args.weight},
            "analysis": analysis,
        }
    )


def _tolerance(route: Any, metric: str) -> float:
    check = next((c for c in route.analysis.checks if c.metric == metric), None)
    if check is None:
        names = ", ".join(c.metric for c in route.analysis.checks)
        raise ValueError(f"the route has no {metric} check (its checks: {names})")
    if metric == "agreement":
        return 1.0 - float(check.effective_min)
    return float(check.effective_margin)


def _dur(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"


def _cell(summary: Any, kind: str) -> tuple[str, str, str]:
    share = summary.share.get(kind, 0.0)
    if kind not in summary.samples:
        return f"{share:.0%}", "-", "-"
    s, t = summary.samples[kind], summary.seconds[kind]
    return (
        f"{share:.0%}",
        f"{s['median']:,.0f} / {s['p90']:,.0f}",
        f"{_dur(t['median'])} / {_dur(t['p90'])}",
    )


def _at(summary: Any, kind: str) -> str:
    share = summary.share.get(kind, 0.0)
    if kind not in summary.samples:
        return f"{share:.0%}"
    return f"{share:.0%} at {summary.samples[kind]['median']:,.0f}"


def run(args: argparse.Namespace) -> int:
    from pydantic import ValidationError
    from rich.console import Console
    from rich.table import Table

    from shadowgate.errors import ConfigError
    from shadowgate.rollout.planning import Scenario, plan

    console = Console()
    try:
        route = _route(args)
        metric = args.metric or route.analysis.checks[0].metric
        effects = args.effect if args.effect is not None else [0.0, 2 * _tolerance(route, metric)]
        _tolerance(route, metric)
    except (ValueError, ValidationError, ConfigError) as exc:
        print(f"shadowgate plan: {exc}", file=sys.stderr)
        return 2
    checks = ", ".join(
        f"{c.label} (min {c.effective_min:g})"
        if c.metric == "agreement"
        else f"{c.label} (margin {c.effective_margin:g})"
        for c in route.analysis.checks
    )
    summaries = []
    for effect in effects:
        sc = Scenario(
            metric,
            effect,
            baseline_error=args.baseline_error,
            baseline_accuracy=args.baseline_accuracy,
            latency_sd=args.latency_sd,
            label_share=args.label_share,
        )
        with console.status(f"simulating {args.runs} rollouts, {metric} effect {effect:g}..."):
            summaries.append(plan(route, sc, args.rate, runs=args.runs, seed=args.seed))
    table = Table(
        title=f"route {route.name!r} ({route.mode}), {args.rate:g} req/s: checks {checks}",
        caption=f"{args.runs} simulated rollouts per row; samples and time as median / p90",
    )
    cols = (f"{metric} effect", "promote", "samples", "time", "roll back", "samples", "time")
    for col in (*cols, "inconclusive", "paused"):
        table.add_column(col)
    for s in summaries:
        table.add_row(
            f"{s.scenario.effect:+g}",
            *_cell(s, "promote"),
            *_cell(s, "rollback"),
            _at(s, "inconclusive"),
            _at(s, "paused"),
        )
    console.print(table)
    for s in summaries:
        if s.share.get("inconclusive", 0.0) > 0.5:
            at = s.samples["inconclusive"]["median"]
            console.print(
                f"effect {s.scenario.effect:+g}: most runs end inconclusive (at {at:,.0f} "
                "samples: max_samples or the deadline); widen the margins, raise the traffic, "
                "or check that every stage can finish (e.g. a canary step of 100% leaves "
                "production no samples)"
            )
    if args.json is not None:
        doc = {"route": route.name, "checks": checks, "plans": [s.to_dict() for s in summaries]}
        args.json.write_text(json.dumps(doc, indent=2) + "\n")
    return 0
