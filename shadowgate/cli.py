"""The ``shadowgate`` command. Each subcommand lives in ``shadowgate.commands.<name>``.

A command module exposes ``register(subparsers)``, which adds its parser and sets
``func`` to a callable taking the parsed namespace and returning an exit code.
Modules are imported lazily so ``shadowgate check-config`` stays fast.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

# command name -> module under shadowgate.commands
COMMANDS: dict[str, str] = {
    "serve": "serve",
    "check-config": "check_config",
    "demo": "demo",
    "status": "admin",
    "promote": "admin",
    "rollback": "admin",
    "approve": "admin",
    "pause": "admin",
    "resume": "admin",
    "restart": "admin",
    "simulate": "simulate",
    "plan": "plan",
    "report": "report",
    "export": "export",
}


def build_parser(argv: Sequence[str] | None = None) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="shadowgate",
        description="Shadow and canary rollouts for ML model servers, decided by "
        "anytime-valid sequential tests.",
    )
    parser.add_argument("--version", action="version", version=_version())
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    wanted = None
    if argv:
        wanted = next((a for a in argv if not a.startswith("-")), None)
    registered: set[str] = set()
    for name, module_name in COMMANDS.items():
        if module_name in registered:
            continue
        if wanted is not None and wanted in COMMANDS and COMMANDS[wanted] != module_name:
            # only import what is needed; other commands get a light placeholder
            sub.add_parser(name)
            continue
        try:
            module = importlib.import_module(f"shadowgate.commands.{module_name}")
        except ModuleNotFoundError as exc:
            if exc.name and exc.name.startswith("shadowgate.commands"):
                continue
            raise
        module.register(sub)
        registered.add(module_name)
    return parser


def _version() -> str:
    from shadowgate import __version__

    return f"shadowgate {__version__}"


def main(argv: Sequence[str] | None = None) -> int:
    args_list = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser(args_list)
    args = parser.parse_args(args_list)
    func = getattr(args, "func", None)
    if func is None:
        parser.print_help()
        return 2
    code: int = func(args)
    return code


if __name__ == "__main__":
    sys.exit(main())
