"""``shadowgate demo``: real model servers, traffic with late labels, a live view, a decision.

Needs scikit-learn (``pip install 'shadowgate[demo]'``). Exits 0 when the rollout was
decided, 1 when the duration ran out first, 2 when something failed to start.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path
from typing import Any

from shadowgate.demo.models import SCENARIOS


def register(sub: Any) -> None:
    p = sub.add_parser(
        "demo",
        help="run the whole system locally with real scikit-learn models until a decision",
        description="Start two model servers (production and a candidate), shadowgate in "
        "shadow mode and a traffic generator with delayed labels; show the evidence live "
        "and stop at the decision.",
    )
    p.add_argument(
        "--scenario",
        choices=SCENARIOS,
        default="better",
        help="the candidate: better (more accurate), worse (less accurate), slower "
        "(+50%% latency), broken (8%% errors), same (identical), regress (better, then "
        "fails under live traffic while baking after its promotion: reverted) [better]",
    )
    p.add_argument("--rate", type=float, default=50.0, help="requests per second [50]")
    p.add_argument(
        "--label-delay", type=float, default=3.0, help="seconds until a label arrives [3]"
    )
    p.add_argument(
        "--duration", type=float, default=180.0, help="stop after this many seconds [180]"
    )
    p.add_argument("--no-view", action="store_true", help="plain log lines, no live table")
    p.add_argument(
        "--out",
        type=Path,
        default=Path("shadowgate-demo"),
        help="where files go [./shadowgate-demo]",
    )
    p.add_argument("--no-report", action="store_true", help="skip the HTML report")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    try:
        import sklearn  # noqa: F401
    except ImportError:
        print("shadowgate demo needs scikit-learn: pip install 'shadowgate[demo]'", file=sys.stderr)
        return 2
    from shadowgate.demo.run import DemoOptions, run_demo, summary_text

    opts = DemoOptions(
        scenario=args.scenario,
        rate=args.rate,
        label_delay=args.label_delay,
        duration=args.duration,
        view=not args.no_view,
        out=args.out,
        report=not args.no_report,
    )
    try:
        result = asyncio.run(run_demo(opts))
    except RuntimeError as exc:
        print(f"shadowgate demo: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    print()
    print(summary_text(result))
    return 0 if result.decided else 1
