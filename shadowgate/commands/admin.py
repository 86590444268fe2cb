"""``shadowgate status|promote|rollback|approve|pause|resume``: talk to a running admin API.

``--admin`` (or ``$SHADOWGATE_ADMIN``) is the admin listener's URL; ``--token`` (or
``$SHADOWGATE_ADMIN_TOKEN``) is sent as ``Authorization: Bearer`` for mutations.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import urllib.error
import urllib.request
from typing import Any

ACTIONS = ("promote", "rollback", "approve", "pause", "resume")


def register(sub: Any) -> None:
    def common(p: argparse.ArgumentParser) -> None:
        p.add_argument(
            "--admin",
            default=os.environ.get("SHADOWGATE_ADMIN", "http://127.0.0.1:9090"),
            help="admin API URL (default $SHADOWGATE_ADMIN or http://127.0.0.1:9090)",
        )
        p.add_argument(
            "--token",
            default=os.environ.get("SHADOWGATE_ADMIN_TOKEN"),
            help="admin token (default $SHADOWGATE_ADMIN_TOKEN)",
        )
        p.add_argument("--timeout", type=float, default=10.0, help="seconds (default 10)")

    p = sub.add_parser("status", help="show each route's rollout state and checks")
    common(p)
    p.add_argument("route", nargs="?", help="only this route")
    p.add_argument("--json", action="store_true", help="print the raw JSON")
    p.set_defaults(func=run_status)
    for action in ACTIONS:
        p = sub.add_parser(action, help=f"{action} a route's rollout (audited)")
        common(p)
        p.add_argument("route", help="route name")
        p.add_argument("--actor", default=os.environ.get("USER", "operator"), help="who acts")
        p.set_defaults(func=run_action, action=action)


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
        print("is `shadowgate serve` running? set --admin or $SHADOWGATE_ADMIN", file=sys.stderr)
        return 0, None


def run_action(args: argparse.Namespace) -> int:
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
    print(f"{args.route}: {body.get('state')}")
    return 0


def _fmt(x: Any, spec: str = ".4g") -> str:
    return "-" if x is None else format(x, spec)


def run_status(args: argparse.Namespace) -> int:
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
    from rich.table import Table

    console = Console()
    reload = body.get("config", {}).get("last_reload") or body.get("last_reload") or {}
    if reload and not reload.get("ok", True):
        console.print("[red]last config reload rejected; the previous config keeps serving:[/]")
        for err in reload.get("errors", []):
            console.print(f"  {err}")
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
        table = Table("check", "phase", "n", "estimate", "interval", "p-value", "verdict")
        for c in ro.get("checks", []):
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
