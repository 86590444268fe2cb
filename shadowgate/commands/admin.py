"""``shadowgate status|promote|rollback|approve|pause|resume|restart``: talk to a running
admin API.

Where the admin API is, first found wins: ``--admin URL``; ``--config PATH`` (its
``server.admin_listen``, a wildcard host such as ``0.0.0.0`` dialled as ``127.0.0.1``);
``$SHADOWGATE_ADMIN``; ``$SHADOWGATE_CONFIG``; ``http://127.0.0.1:9090``. The token sent as
``Authorization: Bearer`` for mutations: ``--token``, ``$SHADOWGATE_ADMIN_TOKEN``, then the
config's ``server.admin_token``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import urllib.error
import urllib.request
from typing import Any

from shadowgate.errors import ConfigError

ACTIONS = ("promote", "rollback", "approve", "pause", "resume", "restart")
DEFAULT_ADMIN = "http://127.0.0.1:9090"
_WILDCARDS = {"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1"}


def register(sub: Any) -> None:
    def common(p: argparse.ArgumentParser) -> None:
        p.add_argument(
            "--admin",
            help="admin API URL (default: from --config, $SHADOWGATE_ADMIN, "
            f"$SHADOWGATE_CONFIG, else {DEFAULT_ADMIN})",
        )
        p.add_argument(
            "--config",
            help="the server's config file: its server.admin_listen and admin_token "
            "(default $SHADOWGATE_CONFIG)",
        )
        p.add_argument(
            "--token",
            help="admin token (default $SHADOWGATE_ADMIN_TOKEN, else the config's admin_token)",
        )
        p.add_argument("--timeout", type=float, default=10.0, help="seconds (default 10)")

    p = sub.add_parser("status", help="show each route's rollout state and checks")
    common(p)
    p.add_argument("route", nargs="?", help="only this route")
    p.add_argument("--json", action="store_true", help="print the raw JSON")
    p.set_defaults(func=run_status)
    for action in ACTIONS:
        what = (
            "start a new rollout of the same candidate, in the file's mode (audited)"
            if action == "restart"
            else f"{action} a route's rollout (audited)"
        )
        p = sub.add_parser(action, help=what)
        common(p)
        p.add_argument("route", help="route name")
        p.add_argument("--actor", default=os.environ.get("USER", "operator"), help="who acts")
        p.set_defaults(func=run_action, action=action)


def admin_from_config(path: str) -> tuple[str, str | None]:
    """The admin URL and token a config file gives its server (``ConfigError`` if invalid)."""
    from shadowgate.config.loader import load_config_warnings  # only when a config is named
    from shadowgate.config.types import split_listen

    cfg, _ = load_config_warnings(path)
    host, port = split_listen(cfg.server.admin_listen)
    host = _WILDCARDS.get(host, host)
    if ":" in host:
        host = f"[{host}]"
    return f"http://{host}:{port}", cfg.server.admin_token


def resolve(args: argparse.Namespace) -> bool:
    """Fill ``args.admin`` and ``args.token`` by precedence; False (said why) on a bad config."""
    env = os.environ
    config = args.config
    if config is None and not args.admin and not env.get("SHADOWGATE_ADMIN"):
        config = env.get("SHADOWGATE_CONFIG")
    url = token = None
    if config:
        try:
            url, token = admin_from_config(config)
        except ConfigError as exc:
            for problem in exc.problems:
                print(problem, file=sys.stderr)
            print(f"cannot read the admin API's address from {config}", file=sys.stderr)
            return False
    args.admin = args.admin or url or env.get("SHADOWGATE_ADMIN") or DEFAULT_ADMIN
    args.token = args.token or env.get("SHADOWGATE_ADMIN_TOKEN") or token
    return True


def _call(
    args: argparse.Namespace, method: str, path: str, headers: dict[str, str] | None = None
) -> tuple[int, Any]:
    url = args.admin.rstrip("/") + path
    req = urllib.request.Request(url, method=method, headers=headers or {})
    if args.token:
        req.add_header("Authorization", f"Bearer {args.token}")
    try:
        with urllib.request.urlopen(req, timeout=args.timeout) as resp:
            return resp.status, json.loads(resp.read() or b"null")
    except urllib.error.HTTPError as exc:
        body = exc.read()
        try:
            return exc.code, json.loads(body)
        except ValueError:
            return exc.code, {"error": body.decode(errors="replace")}
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        print(f"cannot reach the admin API at {url}: {reason}", file=sys.stderr)
        print(
            "is `shadowgate serve` running? set --admin or --config (or $SHADOWGATE_ADMIN, "
            "$SHADOWGATE_CONFIG)",
            file=sys.stderr,
        )
        return 0, None


def run_action(args: argparse.Namespace) -> int:
    if not resolve(args):
        return 2
    code, body = _call(
        args,
        "POST",
        f"/api/routes/{args.route}/{args.action}",
        {"X-Shadowgate-Actor": args.actor},
    )
    if code == 0:
        return 2
    if code >= 400:
        msg = body.get("message") or body.get("error") if isinstance(body, dict) else body
        print(f"{args.action} {args.route}: HTTP {code}: {msg}", file=sys.stderr)
        return 1
    rid = body.get("rollout_id")
    print(f"{args.route}: {body.get('state')}" + (f" (rollout {rid})" if rid else ""))
    return 0


def _fmt(x: Any, spec: str = ".4g") -> str:
    return "-" if x is None else format(x, spec)


def run_status(args: argparse.Namespace) -> int:
    if not resolve(args):
        return 2
    code, body = _call(args, "GET", "/api/status")
    if code == 0:
        return 2
    if code >= 400 or not isinstance(body, dict):
        print(f"status: HTTP {code}: {body}", file=sys.stderr)
        return 1
    routes = body.get("routes", {})
    if isinstance(routes, dict):
        routes = list(routes.values())
    if args.route:
        routes = [r for r in routes if r.get("name") == args.route]
        if not routes:
            print(f"no route named {args.route!r}", file=sys.stderr)
            return 1
    if args.json:
        print(json.dumps({**body, "routes": {r["name"]: r for r in routes}}, indent=2))
        return 0
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    console = Console()
    reload = body.get("config", {}).get("last_reload") or body.get("last_reload") or {}
    if reload and not reload.get("ok", True):
        console.print("[red]last config reload rejected; the previous config keeps serving:[/]")
        for err in reload.get("errors", []):
            console.print(f"  {escape(err)}")
    for warning in reload.get("warnings") or []:
        console.print(
            f"[yellow]config warning:[/] {escape(warning)}", highlight=False, soft_wrap=True
        )
    for r in routes:
        ro = r.get("rollout") or {}
        eff = ro.get("effective") or {}
        console.print(
            f"[bold]{r.get('name')}[/]  state [bold]{ro.get('state', '?')}[/]  "
            f"mode {eff.get('mode', r.get('mode'))}  weight {_fmt(eff.get('weight'), 'g')}%  "
            f"rollout {ro.get('rollout_id', '-')}"
        )
        if ro.get("config_disagrees"):
            console.print(f"  [yellow]note:[/] {ro['config_disagrees']}")
        kinds = ro.get("kind_mismatch")
        if kinds:
            console.print(
                f"  [yellow]outputs differ in kind:[/] {escape(str(kinds.get('differs')))} in "
                f"{kinds.get('pairs')} of {kinds.get('compared')} pairs; {kinds.get('how')}",
                highlight=False,
                soft_wrap=True,
            )
        if ro.get("pending"):
            console.print(f"  [yellow]pending:[/] {escape(str(ro['pending']))}")
        bake = ro.get("bake")
        if bake:
            left = (bake.get("ends_at") or 0.0) - time.time()
            drift = f"; {escape(str(bake['drift']))}" if bake.get("drift") else ""
            when = f"ends in {left:.0f} s" if left > 0 else "its time is up"
            if bake.get("active") is False:
                when = "ended; its checks below are the evidence of the last decision"
            console.print(
                f"  bake: {bake.get('answered')} of {bake.get('min_samples')} pairs answered by "
                f"the former production ({bake.get('pairs')} mirrored); {when}{drift}"
            )
        table = Table("check", "phase", "n", "estimate", "interval", "p-value", "verdict")
        for c in ro.get("checks", []) + ((bake or {}).get("checks") or []):
            lo, hi = (c.get("ci") or [None, None])[:2]
            name = c["check"] + (f" [{c['segment']}]" if c.get("segment") else "")
            table.add_row(
                name,
                c.get("phase", ""),
                str(c.get("n", "")),
                _fmt(c.get("estimate")),
                f"[{_fmt(lo)}, {_fmt(hi)}]",
                _fmt(c.get("p_value"), ".3g"),
                c.get("verdict", ""),
            )
        console.print(table)
        last = ro.get("last_decision")
        if last:
            console.print(
                f"  last decision: {last.get('event')} → {last.get('to')}: {last.get('reason')}"
            )
    return 0
