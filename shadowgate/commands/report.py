"""``shadowgate report --route R --out DIR``: an HTML report of one rollout, plots embedded.

The store comes from ``--store URL`` or from the config's ``store.url``; the checks are
replayed as the config defines them (with ``--store`` alone: errors, latency, agreement
and accuracy with their default margins).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path
from typing import Any

from shadowgate.errors import ShadowgateError


def register(sub: Any) -> None:
    p = sub.add_parser(
        "report",
        help="write an HTML report of a rollout (p-values, confidence sequences, latency, labels)",
    )
    p.add_argument("--route", required=True, help="the route's name")
    p.add_argument("--out", type=Path, required=True, help="directory for index.html")
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--config", type=Path, help="the config file (its store and checks)")
    src.add_argument("--store", help="store URL, e.g. sqlite:///shadowgate.db")
    p.add_argument("--rollout", default=None, help="rollout id (default: the current one)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from shadowgate.report.build import write_report

    store_url = args.store
    if store_url is None:
        from shadowgate.config.loader import load_config

        try:
            store_url = load_config(args.config).store.url
        except ShadowgateError as exc:
            print(f"shadowgate report: {exc}", file=sys.stderr)
            return 1
    print(f"reading route {args.route!r} from {store_url} and replaying its checks ...")
    try:
        path = asyncio.run(
            write_report(
                store_url=store_url,
                route=args.route,
                out=args.out,
                config_path=args.config,
                rollout_id=args.rollout,
            )
        )
    except (LookupError, ShadowgateError) as exc:
        print(f"shadowgate report: {exc}", file=sys.stderr)
        return 1
    print(f"report written: {path}")
    return 0
