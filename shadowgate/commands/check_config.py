"""``shadowgate check-config PATH``: validate a config file, print located errors.

Errors exit 1, among them a ``validation.schema`` or ``drift.reference`` file that is
missing, unreadable, not parseable or of the wrong shape (read as ``serve`` would: relative
paths from the working directory). Warnings (a bare number whose unit is easy to misread,
e.g. ``weight: 0.2`` is 0.2 %) are printed to stderr in the same located form and exit 0.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from shadowgate.config.loader import load_config_warnings
from shadowgate.errors import ConfigError
from shadowgate.recording.input_files import input_file_problems


def register(sub: Any) -> None:
    p = sub.add_parser("check-config", help="validate a config file")
    p.add_argument("path", help="the YAML config file")
    p.add_argument("-q", "--quiet", action="store_true", help="print nothing when valid")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    try:
        cfg, warnings = load_config_warnings(args.path, checks=[input_file_problems])
    except ConfigError as exc:
        for problem in exc.problems:
            print(problem, file=sys.stderr)
        n = len(exc.problems)
        print(f"{args.path}: {n} error{'s' if n != 1 else ''}", file=sys.stderr)
        return 1
    for warning in warnings:
        print(f"{warning} (warning)", file=sys.stderr)
    if not args.quiet:
        names = ", ".join(r.name for r in cfg.routes) or "none"
        n = len(warnings)
        note = f"; {n} warning{'s' if n != 1 else ''}" if n else ""
        print(f"{args.path}: OK ({len(cfg.routes)} routes: {names}; digest {cfg.digest()}{note})")
    return 0
