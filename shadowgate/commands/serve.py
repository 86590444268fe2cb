"""``shadowgate serve --config PATH [--workers N]``: data plane, admin API, judge, config watcher.

Runs on uvloop when it is installed. SIGTERM/SIGINT drain gracefully: stop accepting,
finish in-flight requests (up to ``server.shutdown_timeout``), then close.

``--workers N`` (N > 1) runs N worker processes under a small supervisor (this process):

- every worker is a whole shadowgate (``Gateway`` + ``attach_control``: recorder, batch
  writer, state sync, judge) and binds the data port with ``SO_REUSEPORT``, so the kernel
  spreads client connections over them;
- exactly one judge acts: the store's leader election (``flock`` beside a SQLite file,
  an advisory lock in PostgreSQL) picks it, and another worker takes over if it dies;
- worker 0 alone serves the admin port; its ``/metrics`` reads every worker's values from
  ``PROMETHEUS_MULTIPROC_DIR`` (a fresh directory unless set), so counters add up;
- SIGTERM/SIGINT to the supervisor drain every worker; if a worker dies, the supervisor
  stops the others and exits 1, for systemd or Kubernetes to restart the whole.

``--judge-process`` (with any N, 1 included) runs the judge in one more process of its own:
the data workers record and follow the rollout state but never decide (``--no-judge``),
and the judge process binds no port. A look reads, decodes and folds every new outcome;
on the data plane's event loop that work delays the requests waiting behind it (about
10 ms at p99 at 1 000 realistic requests a second, ``docs/performance.md``); in its own
process the kernel schedules it beside the data plane instead.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Coroutine
from pathlib import Path
from typing import Any

from shadowgate.config.loader import load_config
from shadowgate.config.model import ShadowgateConfig
from shadowgate.config.reload import ConfigHolder
from shadowgate.config.types import split_listen
from shadowgate.errors import ConfigError
from shadowgate.gateway import Gateway
from shadowgate.metrics import MULTIPROC_ENV
from shadowgate.recording.input_files import input_file_problems

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
    p.add_argument(
        "--workers",
        type=int,
        default=1,
        help="processes sharing the data port (SO_REUSEPORT); one judge acts, one admin port",
    )
    p.add_argument(
        "--judge-process",
        action="store_true",
        help="run the judge in a process of its own, beside the data plane's, so that its "
        "looks never hold up a request (needs a store the processes share: a SQLite file "
        "or PostgreSQL)",
    )
    p.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"])
    # set by the supervisor of --workers N for each of its workers
    p.add_argument("--worker-index", type=int, default=None, help=argparse.SUPPRESS)
    p.add_argument("--judge-only", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--listen", default=None, help=argparse.SUPPRESS)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    logging.basicConfig(
        level=getattr(logging, args.log_level.upper()),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        config = load_config(args.config, checks=[input_file_problems])
    except ConfigError as exc:
        for problem in exc.problems:
            print(problem, file=sys.stderr)
        return 1
    if args.workers < 1:
        print("shadowgate: --workers must be at least 1", file=sys.stderr)
        return 2
    if (args.workers > 1 or args.judge_process) and args.worker_index is None:
        return supervise(args, config)
    holder = ConfigHolder(config, args.config)
    index = args.worker_index
    try:
        _run_loop(
            serve(
                holder,
                demo_upstreams=args.demo_upstreams and not index,
                judge=not args.no_judge,
                listen=args.listen,
                worker=index,
                judge_only=args.judge_only,
            )
        )
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


async def serve(
    holder: ConfigHolder,
    *,
    demo_upstreams: bool = False,
    judge: bool = True,
    listen: str | None = None,
    worker: int | None = None,
    judge_only: bool = False,
) -> None:
    """Start everything, wait for SIGTERM/SIGINT, drain and stop.

    ``worker`` is this process's index under ``--workers N`` (None: a single process);
    ``judge_only``: the judge process of ``--judge-process`` (no data port, no admin port).
    """
    from shadowgate.app import attach_control

    gateway = Gateway(
        holder,
        listen=listen,
        serve_admin=not worker and not judge_only,
        serve_data=not judge_only,
        reuse_port=worker is not None,
    )
    attach_control(gateway, judge_enabled=judge, worker=worker)
    demo: list[Any] = []
    if demo_upstreams:
        from shadowgate.demo.upstreams import start_demo_upstreams

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
    settle_heap()
    names = ", ".join(r.name for r in holder.current.routes) or "none"
    where = f"worker {worker}: " if worker is not None else ""
    admin = f" (admin on {gateway.admin_url})" if gateway.serve_admin else ""
    if judge_only:
        # decisions are not in a hurry at the millisecond scale; requests are: on a shared
        # core the scheduler lets the data plane run first
        os.nice(JUDGE_NICE)
        where = f"judge (pid {os.getpid()}): "
        log.info("%sjudging routes: %s; config %s", where, names, holder.path)
    else:
        log.info(
            "%sshadowgate serving on %s%s; routes: %s; config %s",
            where,
            gateway.data_url,
            admin,
            names,
            holder.path,
        )
    try:
        await stop.wait()
        log.info("%sstopping: draining in-flight requests", where)
    finally:
        await gateway.stop()
        for runner in demo:
            await runner.cleanup()
        log.info("%sstopped", where)


#: the judge process's niceness under ``--judge-process`` (the data plane's stays 0)
JUDGE_NICE = 10

#: young-generation threshold of the garbage collector (CPython's default is 700)
GC_THRESHOLD = (50_000, 20, 10)


def settle_heap() -> None:
    """Keep the garbage collector off the request path.

    - The modules, config and compiled statistics code are tens of thousands of
      long-lived objects; a full collection walks all of them (~20 ms here), which lands
      on some unlucky request's latency. Frozen, they are never walked again.
    - Reference counting frees nearly everything a request allocates; the collector is
      only for cycles. With CPython's default threshold (a young collection every 700
      net allocations) the objects of mirrors in flight alone trigger one every ~30 ms,
      and each walks them all: with a 100 ms candidate (about 100 mirrors in flight at
      1 000 req/s) 0.5-1.6 ms pauses, which showed at the client's p99. At 50 000 a
      young collection is rare (cycles are few), and the garbage it waits for is bounded.
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLD)


# -- --workers N -------------------------------------------------------------------------------


def supervise(args: argparse.Namespace, config: ShadowgateConfig) -> int:
    """Run ``args.workers`` worker processes (and, with ``--judge-process``, the judge's
    own) until SIGTERM/SIGINT or one of them dies."""
    if ":memory:" in config.store.url:
        flag = "--judge-process" if args.workers == 1 else "--workers"
        print(
            f"shadowgate: {flag} needs a store the processes share: use a SQLite file "
            "(store: sqlite:///path.db) or PostgreSQL, not :memory:",
            file=sys.stderr,
        )
        return 2
    listen = _concrete_listen(args.listen or config.server.listen)
    owned = MULTIPROC_ENV not in os.environ
    metrics_dir = Path(os.environ.get(MULTIPROC_ENV) or tempfile.mkdtemp(prefix="shadowgate-m-"))
    metrics_dir.mkdir(parents=True, exist_ok=True)
    for stale in metrics_dir.glob("*.db"):
        stale.unlink()  # a previous run's values would be added to ours
    env = {**os.environ, MULTIPROC_ENV: str(metrics_dir)}
    stopping = False

    def on_signal(signum: int, _frame: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    workers: list[subprocess.Popen[bytes]] = []
    code = 0
    try:
        for i in range(args.workers):
            cmd = [sys.executable, "-m", "shadowgate.cli", "serve", "--config", args.config]
            cmd += ["--worker-index", str(i), "--listen", listen, "--log-level", args.log_level]
            if args.no_judge or args.judge_process:
                cmd.append("--no-judge")
            if args.demo_upstreams:
                cmd.append("--demo-upstreams")
            workers.append(subprocess.Popen(cmd, env=env))
        if args.judge_process and not args.no_judge:
            # the judge's looks (reading, decoding and folding every outcome) get a process
            # and an event loop of their own: the data plane's loop only proxies and records
            cmd = [sys.executable, "-m", "shadowgate.cli", "serve", "--config", args.config]
            cmd += ["--worker-index", str(args.workers), "--judge-only"]
            cmd += ["--listen", listen, "--log-level", args.log_level]
            workers.append(subprocess.Popen(cmd, env=env))
        log.info("supervising %d workers on %s: pids %s", len(workers), listen, _pids(workers))
        while not stopping:
            dead = [w for w in workers if w.poll() is not None]
            if dead:
                log.error("worker pid %d exited with %s: stopping", dead[0].pid, dead[0].returncode)
                code = 1
                break
            time.sleep(0.2)
    finally:
        _stop_workers(workers, config.server.shutdown_timeout + 5.0)
        from prometheus_client import multiprocess

        for w in workers:
            with contextlib.suppress(Exception):
                multiprocess.mark_process_dead(w.pid, str(metrics_dir))  # type: ignore[no-untyped-call]
        if owned:
            shutil.rmtree(metrics_dir, ignore_errors=True)
    return code


def _stop_workers(workers: list[subprocess.Popen[bytes]], grace: float) -> None:
    for w in workers:
        if w.poll() is None:
            w.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + grace
    for w in workers:
        try:
            w.wait(max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            w.kill()
            w.wait()


def _concrete_listen(listen: str) -> str:
    """``host:0`` becomes a free port, so that every worker binds the same one."""
    host, port = split_listen(listen)
    if port != 0:
        return listen
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        port = s.getsockname()[1]
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _pids(workers: list[subprocess.Popen[bytes]]) -> str:
    return ", ".join(str(w.pid) for w in workers)
