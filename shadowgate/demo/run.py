"""``shadowgate demo``: the whole system on one machine, from start-up to a decision.

Processes (real HTTP between all of them, on loopback)::

    traffic (this process) ──► shadowgate serve ──► production model server
         │                          └─ mirror ──► candidate model server
         └─ labels, 3 s later ──► admin /api/feedback      judge ──► decision

It writes everything to ``--out`` (config, SQLite store, logs, report), stops at the
decision or at ``--duration``, and prints where to look next.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
import socket
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import aiohttp

from shadowgate.demo.config import demo_config
from shadowgate.demo.traffic import Traffic, TrafficStats
from shadowgate.demo.view import Snapshot, View
from shadowgate.rollout.machine import TERMINAL, State

ROUTE = "cancer"
#: the demo stops once the rollout has ended or waits for an operator
FINAL_STATES = frozenset(s.value for s in TERMINAL | {State.AWAITING_APPROVAL})


@dataclass
class DemoOptions:
    scenario: str = "better"
    rate: float = 50.0
    label_delay: float = 3.0
    duration: float = 180.0
    view: bool = True
    out: Path = field(default_factory=lambda: Path("shadowgate-demo"))
    delay_ms: float = 8.0
    report: bool = True
    seed: int = 1
    #: listen on 8080/9090 when free (so `shadowgate status` and curl work with their
    #: defaults); False always picks free ports (tests, several demos at once)
    default_ports: bool = True


@dataclass
class DemoResult:
    scenario: str
    state: str
    decision: dict[str, Any] | None
    elapsed: float
    traffic: TrafficStats
    status: dict[str, Any]
    out: Path
    report: Path | None = None
    metrics_url: str = ""

    @property
    def decided(self) -> bool:
        return self.state in FINAL_STATES


def free_port(preferred: int = 0) -> int:
    """``preferred`` if it can be bound on loopback now, else any free port."""
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", preferred))
        except OSError:
            s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Processes:
    """The demo's child processes; all are stopped (SIGTERM, then SIGKILL) on exit."""

    def __init__(self, out: Path) -> None:
        self.out = out
        self.procs: list[tuple[str, asyncio.subprocess.Process]] = []
        self.logs: list[IO[bytes]] = []

    async def model(self, kind: str, delay_ms: float, seed: int) -> str:
        """Start a model server; returns its URL once it listens."""
        log = (self.out / f"model-{kind}.log").open("wb")
        self.logs.append(log)
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "shadowgate.demo.models", "--kind", kind,
            "--delay-ms", str(delay_ms), "--seed", str(seed), "--port", "0",
            stdout=asyncio.subprocess.PIPE, stderr=log,
        )  # fmt: skip
        self.procs.append((f"model-{kind}", proc))
        assert proc.stdout is not None
        try:
            line = await asyncio.wait_for(proc.stdout.readline(), 60)
        except TimeoutError:
            raise RuntimeError(f"the {kind} model server did not start in 60 s") from None
        text = line.decode().strip()
        if not text.startswith("listening on "):
            raise RuntimeError(
                f"the {kind} model server failed to start; see {self.out / f'model-{kind}.log'}"
            )
        return text.removeprefix("listening on ")

    async def serve(self, config: Path, admin_url: str) -> None:
        """Start ``shadowgate serve`` and wait until its admin API answers /readyz."""
        log = (self.out / "shadowgate.log").open("wb")
        self.logs.append(log)
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "shadowgate.cli", "serve", "--config", str(config),
            stdout=log, stderr=asyncio.subprocess.STDOUT,
        )  # fmt: skip
        self.procs.append(("shadowgate", proc))
        deadline = time.monotonic() + 30
        async with aiohttp.ClientSession() as session:
            while time.monotonic() < deadline:
                if proc.returncode is not None:
                    break
                with contextlib.suppress(aiohttp.ClientError, OSError):
                    async with session.get(f"{admin_url}/readyz") as resp:
                        if resp.status == 200:
                            return
                await asyncio.sleep(0.1)
        raise RuntimeError(
            f"shadowgate serve did not become ready; see {self.out / 'shadowgate.log'}"
        )

    async def stop(self, name: str | None = None, timeout: float = 15.0) -> None:
        for pname, proc in reversed(self.procs):
            if (name is None or pname == name) and proc.returncode is None:
                with contextlib.suppress(ProcessLookupError):
                    proc.send_signal(signal.SIGTERM)
                try:
                    await asyncio.wait_for(proc.wait(), timeout)
                except TimeoutError:
                    with contextlib.suppress(ProcessLookupError):
                        proc.kill()
                    await proc.wait()

    def close_logs(self) -> None:
        for log in self.logs:
            log.close()


async def fetch_status(session: aiohttp.ClientSession, admin_url: str) -> dict[str, Any]:
    """The route's entry of /api/status, {} if the admin API did not answer."""
    try:
        async with session.get(f"{admin_url}/api/status") as resp:
            doc = await resp.json()
    except (aiohttp.ClientError, OSError, ValueError):
        return {}
    entry = doc.get("routes", {}).get(ROUTE) if isinstance(doc, dict) else None
    return entry if isinstance(entry, dict) else {}


async def run_demo(opts: DemoOptions) -> DemoResult:
    """Run one demo (see the module docstring) and return what happened."""
    out = opts.out
    out.mkdir(parents=True, exist_ok=True)
    db = out / "shadowgate.db"
    for stale in (db, out / "shadowgate.db-wal", out / "shadowgate.db-shm"):
        stale.unlink(missing_ok=True)  # each demo is a fresh rollout
    procs = Processes(out)
    port = free_port(8080 if opts.default_ports else 0)
    admin_port = free_port(9090 if opts.default_ports else 0)
    admin_url = f"http://127.0.0.1:{admin_port}"
    proxy_url = f"http://127.0.0.1:{port}"
    say = _say
    try:
        say(f"starting model servers (production vs {opts.scenario}) ...")
        prod_url, cand_url = await asyncio.gather(
            procs.model("production", opts.delay_ms, opts.seed),
            procs.model(opts.scenario, opts.delay_ms, opts.seed + 1),
        )
        config = out / "shadowgate.yaml"
        config.write_text(
            demo_config(
                scenario=opts.scenario, production=prod_url, candidate=cand_url,
                port=port, admin_port=admin_port, db=db, route=ROUTE,
            )
        )  # fmt: skip
        say(f"starting shadowgate serve --config {config} ...")
        await procs.serve(config, admin_url)
        say(f"proxy {proxy_url}, admin {admin_url} (/metrics, /api/status)")
        say(f"sending {opts.rate:g} req/s, labels {opts.label_delay:g} s later")
        result = await _drive(opts, proxy_url, admin_url)
        await procs.stop("shadowgate")  # flushes recorded outcomes to the store
    finally:
        await procs.stop()
        procs.close_logs()
    result.metrics_url = f"{admin_url}/metrics"
    if opts.report:
        from shadowgate.report.build import write_report

        say("writing the report ...")
        result.report = await write_report(
            store_url=f"sqlite:///{db.resolve().as_posix()}",
            route=ROUTE,
            out=out / "report",
            config_path=config,
        )
    (out / "result.json").write_text(json.dumps(summary_doc(result), indent=2) + "\n")
    return result


async def _drive(opts: DemoOptions, proxy_url: str, admin_url: str) -> DemoResult:
    traffic = Traffic(
        proxy_url, admin_url, rate=opts.rate, label_delay=opts.label_delay, seed=opts.seed
    )
    stop = asyncio.Event()
    sender = asyncio.create_task(traffic.run(stop))
    started = time.monotonic()
    status: dict[str, Any] = {}
    with View(live=None if opts.view else False) as view:
        async with aiohttp.ClientSession() as session:
            while True:
                await asyncio.sleep(0.25)
                elapsed = time.monotonic() - started
                status = await fetch_status(session, admin_url) or status
                snap = Snapshot(ROUTE, elapsed, status, traffic.stats, opts.scenario)
                state = snap.state
                done = state in FINAL_STATES or elapsed >= opts.duration or sender.done()
                view.update(snap, force=done)
                if done:
                    break
    stop.set()
    await sender
    rollout = status.get("rollout") or {}
    return DemoResult(
        scenario=opts.scenario,
        state=str(rollout.get("state") or "starting"),
        decision=rollout.get("last_decision"),
        elapsed=time.monotonic() - started,
        traffic=traffic.stats,
        status=status,
        out=opts.out,
    )


def summary_doc(r: DemoResult) -> dict[str, Any]:
    rollout = r.status.get("rollout") or {}
    return {
        "scenario": r.scenario,
        "state": r.state,
        "decided": r.decided,
        "elapsed_seconds": round(r.elapsed, 1),
        "decision": r.decision,
        "samples": rollout.get("samples"),
        "checks": rollout.get("checks"),
        "bake": rollout.get("bake"),
        "requests": r.traffic.sent,
        "failed": r.traffic.failed,
        "labels": r.traffic.labels_sent,
        "report": str(r.report) if r.report else None,
    }


def summary_text(r: DemoResult) -> str:
    """The few lines printed at the end of a demo."""
    rollout = r.status.get("rollout") or {}
    samples = rollout.get("samples") or {}
    lines = []
    if r.decided:
        lines.append(f"decision after {r.elapsed:.0f} s: {r.state.upper()}")
        if r.decision:
            lines.append(f"  why: {r.decision.get('reason')}")
    else:
        lines.append(
            f"no decision after {r.elapsed:.0f} s (state {r.state}): run longer "
            f"(--duration), and see {r.out / 'shadowgate.log'} for judge errors"
        )
    bake = rollout.get("bake")
    baked = ""
    if isinstance(bake, dict):
        baked = (
            f" before the promotion; the bake: {bake.get('pairs', 0)} pairs, "
            f"{bake.get('labels', 0)} labelled"
        )
    lines.append(
        f"  traffic: {r.traffic.sent} requests ({r.traffic.failed} failed), "
        f"{samples.get('pairs', 0)} pairs, {samples.get('labels', 0)} labelled{baked}"
    )
    lines.append(f"  files:   {r.out}/ (shadowgate.yaml, shadowgate.db, *.log, result.json)")
    if r.report is not None:
        lines.append(f"  report:  {r.report}")
    lines.append(
        f"  metrics: {r.metrics_url} (served while the demo runs; "
        "deploy/compose.yaml adds Prometheus and Grafana)"
    )
    return "\n".join(lines)


def _say(msg: str) -> None:
    print(msg, flush=True)
