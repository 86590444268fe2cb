"""RSS of shadowgate over 100 000 requests with a slow (100 ms) and with a dead candidate.

    .venv/bin/python benchmarks/memory.py            # 100 000 requests per scenario
    .venv/bin/python benchmarks/memory.py --quick    # 5 000

``shadowgate serve`` (recording to SQLite, judge on) mirrors every request to the
candidate. Each candidate runs twice, each time in a fresh process:

- **steady**: ``benchmarks/loadgen.py`` sends ``--requests`` requests at ``--rate``
  (2 000 req/s by default, twice the latency budgets' rate, which the recorder keeps up
  with). This is the budget's case (DESIGN §6: growth < 50 MB): memory must stay flat
  while the proxy serves, mirrors and records, whatever the candidate does;
- **saturation**: ``wrk`` (32 keep-alive connections, as fast as it goes) sends the same
  count. The recorder then falls behind by design (it never takes the core from clients)
  and its backlog grows, bounded by ``store.queue_size``; the row shows how much, with
  the outcomes still pending when the load stopped.

RSS of the shadowgate process is sampled every 0.5 s; the baseline is taken after a
warm-up of 2 000 requests (pools, caches and the allocator's arenas filled). wrk runs in
5 s slices until the count is reached, so a saturation run sends a few thousand more than
asked; the table shows the real count. Results go to
``benchmarks/results/memory.{json,md}``.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import benchlib as bl
from benchlib import HOST, PATH, PY, Layout, Stack

UP_PROD, UP_SLOW, UP_DEAD, SG, SG_ADMIN = 18001, 18003, 18004, 18020, 18120
BUDGET_MB = 50.0


def wrk_count(layout: Layout, workdir: Path, n: int, connections: int = 32) -> tuple[int, float]:
    """Send at least ``n`` requests with wrk, in runs of a few seconds; returns (sent, seconds)."""
    script = workdir / "post.lua"
    body = bl.REQUEST_BODY.replace("'", "\\'")
    script.write_text(
        f"wrk.method = 'POST'\nwrk.body = '{body}'\n"
        "wrk.headers['Content-Type'] = 'application/json'\n"
    )
    sent, t0 = 0, time.monotonic()
    while sent < n:
        chunk = 1 if n - sent < 5000 else 5
        cmd = ["wrk", "-t1", f"-c{connections}", f"-d{chunk}s", "-s", str(script)]
        cmd.append(f"http://{HOST}:{SG}{PATH}")
        out = subprocess.run(
            layout.wrap(cmd, proxy=False), capture_output=True, text=True, check=True, timeout=60
        ).stdout
        m = re.search(r"(\d+) requests in", out)
        if m is None or int(m.group(1)) == 0:
            raise RuntimeError(f"wrk sent nothing: {out}")
        sent += int(m.group(1))
    return sent, time.monotonic() - t0


def steady(layout: Layout, n: int, rate: float) -> tuple[int, float]:
    """Send ``n`` requests at ``rate`` with the fixed-rate load generator."""
    clients = max(10, round(rate / 100))  # 100 req/s each, like the latency runs
    cmd = [PY, str(bl.HERE / "loadgen.py"), "--url", f"http://{HOST}:{SG}{PATH}"]
    cmd += ["--rate", str(rate), "--clients", str(clients), "--duration", str(n / rate)]
    cmd += ["--warmup", "0", "--body", bl.REQUEST_BODY]
    t0 = time.monotonic()
    out = subprocess.run(
        layout.wrap(cmd, proxy=False), capture_output=True, text=True, timeout=n / rate + 120
    )
    if out.returncode != 0:
        raise RuntimeError(f"loadgen failed: {out.stderr}")
    doc = json.loads(out.stdout)
    return int(doc["sent"]), time.monotonic() - t0


def pending(proc: bl.Proc) -> int | None:
    """Exchanges and outcomes the recorder and writer still hold (``/api/status``)."""
    try:
        with urllib.request.urlopen(f"http://{HOST}:{SG_ADMIN}/api/status", timeout=5) as r:
            rec = json.loads(r.read()).get("recording") or {}
    except (OSError, ValueError):
        return None
    return int(rec.get("exchanges_pending", 0)) + int(rec.get("outcomes_pending", 0))


def scenario(
    stack: Stack, kind: str, candidate: int, requests: int, mode: str, rate: float
) -> dict[str, Any]:
    cfg = bl.shadowgate_config(stack.workdir, f"mem-{kind}", SG, SG_ADMIN, UP_PROD, candidate)
    proc = stack.start(f"sg-{kind}-{mode}", bl.shadowgate_cmd(cfg, record=True), proxy=True)
    try:
        bl.wait_http(f"http://{HOST}:{SG_ADMIN}/readyz", proc)
        bl.progress(f"{kind} candidate: warm-up 2000 requests")
        wrk_count(stack.layout, stack.workdir, 2000)
        time.sleep(1.0)
        base = bl.rss_bytes(proc.pid)
        samples: list[tuple[float, int]] = []
        done = threading.Event()

        def sample() -> None:
            t0 = time.monotonic()
            while not done.wait(0.5):
                samples.append((time.monotonic() - t0, bl.rss_bytes(proc.pid)))

        th = threading.Thread(target=sample, daemon=True)
        th.start()
        bl.progress(f"{kind} candidate, {mode}: {requests} requests")
        if mode == "steady":
            sent, seconds = steady(stack.layout, requests, rate)
        else:
            sent, seconds = wrk_count(stack.layout, stack.workdir, requests)
        backlog = pending(proc)
        time.sleep(2.0)  # mirrors and records still in flight finish
        done.set()
        th.join()
        end = bl.rss_bytes(proc.pid)
        peak = max([end, *(s[1] for s in samples)])
        mb = 2**20
        out = {
            "mode": mode,
            "pending_at_end": backlog,
            "requests": sent,
            "seconds": seconds,
            "rate": sent / seconds,
            "baseline_mb": base / mb,
            "end_mb": end / mb,
            "peak_mb": peak / mb,
            "growth_mb": (end - base) / mb,
            "peak_growth_mb": (peak - base) / mb,
            "samples_mb": [(round(t, 1), round(r / mb, 1)) for t, r in samples],
        }
        bl.progress(
            f"{kind} candidate, {mode}: RSS {out['baseline_mb']:.1f} → {out['end_mb']:.1f} MB "
            f"(peak {out['peak_mb']:.1f}) at {out['rate']:.0f} req/s"
        )
        return out
    finally:
        stack.stop(proc)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--requests", type=int, default=100_000)
    p.add_argument("--rate", type=float, default=2000.0, help="req/s of the steady runs")
    p.add_argument("--quick", action="store_true", help="5 000 requests per scenario")
    p.add_argument("--no-pin", action="store_true")
    p.add_argument("--out", type=Path, default=bl.HERE / "results")
    p.add_argument("--name", default="memory")
    args = p.parse_args(argv)
    if args.quick:
        args.requests = 5_000
    layout = Layout.default(not args.no_pin)
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="sg-mem-") as tmp:
        stack = Stack(Path(tmp), layout)
        try:
            up = bl.nginx_conf(
                stack.workdir, "nginx-upstream", bl.nginx_upstream_servers([UP_PROD])
            )
            stack.start("nginx-upstream", ["nginx", "-c", str(up)], proxy=False)
            slow = [PY, str(bl.HERE / "upstream.py"), "--port", str(UP_SLOW), "--delay", "0.1"]
            stack.start("upstream-slow", slow, proxy=False)
            bl.wait_port(UP_PROD)
            bl.wait_port(UP_SLOW)
            for mode in ("steady", "saturation"):
                for kind, port in (("slow", UP_SLOW), ("dead", UP_DEAD)):
                    results[f"{kind}/{mode}"] = scenario(
                        stack, kind, port, args.requests, mode, args.rate
                    )
        finally:
            stack.close()
    doc = {
        "command": " ".join(
            ["benchmarks/memory.py", *(argv if argv is not None else sys.argv[1:])]
        ),
        "machine": bl.machine(layout),
        "budget_mb": BUDGET_MB,
        "results": results,
    }
    bl.dump(args.out / f"{args.name}.json", doc)
    m = doc["machine"]
    lines = [
        "# Memory over many requests (shadowgate serve, recording on)",
        "",
        f"`{doc['command']}` on {m['cpu']}, {m['cores']} cores, Python {m['python']}; "
        f"{m['pinning']}. Steady: {args.rate:g} req/s (the budget's case); saturation: wrk "
        "-c32 as fast as it goes (the recording backlog, bounded by `store.queue_size`). "
        "Baseline after 2 000 warm-up requests.",
        "",
        "| candidate | load | requests | req/s | RSS start MB | end MB | peak MB | peak growth MB "
        "| pending at end | budget < 50 MB |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for name, r in results.items():
        kind, mode = name.split("/")
        ok = r["peak_growth_mb"] < BUDGET_MB
        verdict = ("yes" if ok else "**no**") if mode == "steady" else "— (backlog)"
        lines.append(
            f"| {kind} | {mode} | {r['requests']} | {r['rate']:.0f} | {r['baseline_mb']:.1f} | "
            f"{r['end_mb']:.1f} | {r['peak_mb']:.1f} | {r['peak_growth_mb']:+.1f} | "
            f"{r['pending_at_end'] if r['pending_at_end'] is not None else '—'} | {verdict} |"
        )
    md = "\n".join(lines) + "\n"
    (args.out / f"{args.name}.md").write_text(md)
    print(md)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
