"""``shadowgate check-config PATH``: validate a config file, print located errors."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from shadowgate.config.loader import load_config
from shadowgate.errors import ConfigError


def register(sub: Any) -> None:
    p = sub.add_parser("check-config", help="validate a config file")
    p.add_argument("path", help="the YAML config file")
    p.add_argument("-q", "--quiet", action="store_true", help="print nothing when valid")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    try:
        cfg = load_config(args.path)
    except ConfigError as exc:
        for problem in exc.problems:
            print(problem, file=sys.stderr)
        n = len(exc.problems)
        print(f"{args.path}: {n} error{'s' if n != 1 else ''}", file=sys.stderr)
        return 1
    if not args.quiet:
        names = ", ".join(r.name for r in cfg.routes) or "none"
        print(f"{args.path}: OK ({len(cfg.routes)} routes: {names}; digest {cfg.digest()})")
    return 0
