"""``shadowgate serve --config PATH``: the data plane, the admin API and the config watcher.

Runs on uvloop when it is installed. SIGTERM/SIGINT drain gracefully: stop accepting,
finish in-flight requests (up to ``server.shutdown_timeout``), then close.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
from collections.abc import Coroutine
from typing import Any

from shadowgate.config.loader import load_config
from shadowgate.config.reload import ConfigHolder
from shadowgate.errors import ConfigError
from shadowgate.server import Gateway

log = logging.getLogger("shadowgate")


def register(sub: Any) -> None:
    p = sub.add_parser("serve", help="run the proxy, the admin API and the judge")
    p.add_argument("--config", "-c", required=True, help="the YAML config file")
    p.add_argument(
        "--demo-upstreams",
        action="store_true",
        help="also start small built-in model servers on the config's loopback upstream URLs",
    )
    p.add_argument(
        "--no-judge",
        action="store_true",
        help="record outcomes and follow the rollout state, but never decide (data plane only)",
    )
    p.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"])
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    logging.basicConfig(
        level=getattr(logging, args.log_level.upper()),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        config = load_config(args.config)
    except ConfigError as exc:
        for problem in exc.problems:
            print(problem, file=sys.stderr)
        return 1
    holder = ConfigHolder(config, args.config)
    try:
        _run_loop(serve(holder, demo_upstreams=args.demo_upstreams, judge=not args.no_judge))
    except OSError as exc:
        print(f"shadowgate: cannot listen: {exc}", file=sys.stderr)
        return 1
    return 0


def _run_loop(main: Coroutine[Any, Any, None]) -> None:
    try:
        import uvloop
    except ImportError:
        asyncio.run(main)
    else:
        uvloop.run(main)


async def serve(holder: ConfigHolder, *, demo_upstreams: bool = False, judge: bool = True) -> None:
    """Start everything, wait for SIGTERM/SIGINT, drain and stop."""
    from shadowgate.control.wiring import attach_control

    gateway = Gateway(holder)
    attach_control(gateway, judge_enabled=judge)
    demo: list[Any] = []
    if demo_upstreams:
        from shadowgate.proxy.demo_upstreams import start_demo_upstreams

        demo = await start_demo_upstreams(holder.current)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    try:
        await gateway.start()
    except BaseException:
        await gateway.stop()  # e.g. a port in use: close what did open, then report
        for runner in demo:
            await runner.cleanup()
        raise
    names = ", ".join(r.name for r in holder.current.routes) or "none"
    log.info(
        "shadowgate serving on %s (admin on %s); routes: %s; config %s",
        gateway.data_url,
        gateway.admin_url,
        names,
        holder.path,
    )
    try:
        await stop.wait()
        log.info("stopping: draining in-flight requests")
    finally:
        await gateway.stop()
        for runner in demo:
            await runner.cleanup()
        log.info("stopped")
