"""shadowgate against direct access, nginx (plain and ``mirror``) and a bare aiohttp mirror proxy.

One command, one run, one machine (127.0.0.1 only)::

    .venv/bin/python benchmarks/proxy.py            # full: 3 repetitions, ~10 minutes
    .venv/bin/python benchmarks/proxy.py --quick    # smoke run, ~30 s

What runs: fixed-response upstreams (nginx ``return 200``: the fastest and steadiest
upstream we have, so it never bounds a proxy; an aiohttp server sleeping 100 ms as the
slow candidate; a closed port as the dead one), nginx as a plain proxy and with its
``mirror`` module, ``benchmarks/bare_mirror.py`` (the Python floor), and shadowgate in
shadow mode mirroring 100 % with recording off (``benchmarks/shadowgate_norecord.py``)
and on (``shadowgate serve``: recorder, SQLite batch writer, judge).

Each target is driven by ``wrk`` at saturation (64 keep-alive connections) and by
``benchmarks/loadgen.py`` at a fixed 1 000 req/s (10 keep-alive clients at 100 req/s,
each on its own jittered schedule; latency from the intended send time, so no
coordinated omission). The fixed rate runs first, after a 1 s warm-up whose outcomes
shadowgate has finished recording (its ``/api/status``), and saturation second: a
saturation run leaves seconds of recording backlog behind, which is not the steady state
at 1 000 req/s. The candidate scenarios (100 ms and dead) run at the fixed rate only.
CPU time of the proxy's processes is read from ``/proc`` around the fixed-rate run.
Each number is the median over ``--repeat`` repetitions; targets are interleaved within a
repetition so drift hits them alike. Results go to ``benchmarks/results/proxy.{json,md}``.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import benchlib as bl
from benchlib import HOST, PATH, PY, Layout, Proc, Stack

UP_PROD, UP_CAND, UP_SLOW, UP_DEAD, UP_FASTPY = 18001, 18002, 18003, 18004, 18005
NGX_PLAIN, NGX_MIRROR, NGX_SLOW, NGX_DEAD, NGX_FASTPY = 18010, 18011, 18012, 18013, 18014
PY_PORT, PY_ADMIN = 18020, 18120
MAIN = ["direct", "nginx", "nginx-mirror", "aiohttp-mirror", "shadowgate-norecord", "shadowgate"]
CANDIDATES = [
    "nginx-mirror/fast-py",
    "nginx-mirror/slow",
    "nginx-mirror/dead",
    "shadowgate/fast-py",
    "shadowgate/slow",
    "shadowgate/dead",
    "shadowgate/fast-py-again",
]


@dataclass
class Target:
    name: str
    port: int
    start: Callable[[Stack], Proc | None]  # None: nothing to start (served by a shared process)


def _python_target(name: str, candidate: int, kind: str) -> Target:
    def start(stack: Stack) -> Proc:
        if kind == "bare":
            cmd = [PY, str(bl.HERE / "bare_mirror.py"), "--listen", str(PY_PORT)]
            cmd += ["--production", f"http://{HOST}:{UP_PROD}"]
            cmd += ["--candidate", f"http://{HOST}:{candidate}"]
            p = stack.start(name, cmd, proxy=True)
            bl.wait_port(PY_PORT)
            return p
        slug = name.replace("/", "-")
        cfg = bl.shadowgate_config(stack.workdir, slug, PY_PORT, PY_ADMIN, UP_PROD, candidate)
        p = stack.start(slug, bl.shadowgate_cmd(cfg, record=kind == "record"), proxy=True)
        bl.wait_port(PY_PORT)
        return p

    return Target(name, PY_PORT, start)


TARGETS: dict[str, Target] = {
    "direct": Target("direct", UP_PROD, lambda s: None),
    "nginx": Target("nginx", NGX_PLAIN, lambda s: None),
    "nginx-mirror": Target("nginx-mirror", NGX_MIRROR, lambda s: None),
    "nginx-mirror/fast-py": Target("nginx-mirror/fast-py", NGX_FASTPY, lambda s: None),
    "nginx-mirror/slow": Target("nginx-mirror/slow", NGX_SLOW, lambda s: None),
    "nginx-mirror/dead": Target("nginx-mirror/dead", NGX_DEAD, lambda s: None),
    "aiohttp-mirror": _python_target("aiohttp-mirror", UP_CAND, "bare"),
    "shadowgate-norecord": _python_target("shadowgate-norecord", UP_CAND, "norecord"),
    "shadowgate": _python_target("shadowgate", UP_CAND, "record"),
    "shadowgate/fast-py": _python_target("shadowgate/fast-py", UP_FASTPY, "record"),
    "shadowgate/slow": _python_target("shadowgate/slow", UP_SLOW, "record"),
    "shadowgate/dead": _python_target("shadowgate/dead", UP_DEAD, "record"),
    # fast-py once more, last in each repetition: the A/A difference is the noise floor
    # that the slow and dead candidates' changes are read against
    "shadowgate/fast-py-again": _python_target("shadowgate/fast-py-again", UP_FASTPY, "record"),
}
# which process's CPU counts for a target served by the shared nginx proxy
_SHARED = {n for n in TARGETS if n.startswith("nginx")}


def start_fixtures(stack: Stack) -> dict[str, Proc]:
    """Upstreams (on the load generator's cores) and the nginx proxy (on the proxy core)."""
    with bl.socket.socket() as s:
        if s.connect_ex((HOST, UP_DEAD)) == 0:
            raise SystemExit(f"port {UP_DEAD} must be closed (the dead candidate)")
    up = bl.nginx_conf(
        stack.workdir, "nginx-upstream", bl.nginx_upstream_servers([UP_PROD, UP_CAND])
    )
    procs = {"upstream": stack.start("nginx-upstream", ["nginx", "-c", str(up)], proxy=False)}
    slow = [PY, str(bl.HERE / "upstream.py"), "--port", str(UP_SLOW), "--delay", "0.1"]
    procs["slow"] = stack.start("upstream-slow", slow, proxy=False)
    # the same server answering at once: the slow candidate's like-for-like fast twin (an
    # aiohttp upstream costs the load generator's core far more CPU than nginx does)
    fast = [PY, str(bl.HERE / "upstream.py"), "--port", str(UP_FASTPY), "--delay", "0"]
    procs["fast-py"] = stack.start("upstream-fast-py", fast, proxy=False)
    servers = "\n".join(
        [
            bl.nginx_proxy_server(NGX_PLAIN, UP_PROD, None),
            bl.nginx_proxy_server(NGX_MIRROR, UP_PROD, UP_CAND),
            bl.nginx_proxy_server(NGX_SLOW, UP_PROD, UP_SLOW),
            bl.nginx_proxy_server(NGX_DEAD, UP_PROD, UP_DEAD),
            bl.nginx_proxy_server(NGX_FASTPY, UP_PROD, UP_FASTPY),
        ]
    )
    conf = bl.nginx_conf(stack.workdir, "nginx-proxy", servers)
    procs["nginx"] = stack.start("nginx-proxy", ["nginx", "-c", str(conf)], proxy=True)
    for port in (UP_PROD, UP_CAND, UP_SLOW, UP_FASTPY, NGX_PLAIN, NGX_MIRROR, NGX_SLOW, NGX_DEAD):
        bl.wait_port(port)
    return procs


# -- drivers -----------------------------------------------------------------------------------

_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 6e4}


def _ms(text: str) -> float:
    m = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text)
    if m is None:
        raise ValueError(f"unparsed wrk latency {text!r}")
    return float(m.group(1)) * _UNITS[m.group(2)]


def wrk(
    layout: Layout, workdir: Path, port: int, seconds: float, connections: int
) -> dict[str, Any]:
    """``wrk`` at saturation: throughput and (closed-loop) latency percentiles."""
    script = workdir / "post.lua"
    if not script.exists():
        body = bl.REQUEST_BODY.replace("'", "\\'")
        script.write_text(
            f"wrk.method = 'POST'\nwrk.body = '{body}'\n"
            "wrk.headers['Content-Type'] = 'application/json'\n"
        )
    cmd = ["wrk", "-t1", f"-c{connections}", f"-d{max(1, round(seconds))}s", "--latency"]
    cmd += ["-s", str(script), f"http://{HOST}:{port}{PATH}"]
    out = subprocess.run(layout.wrap(cmd, proxy=False), capture_output=True, text=True, timeout=600)
    text = out.stdout
    rps = re.search(r"Requests/sec:\s+([\d.]+)", text)
    if rps is None:
        raise RuntimeError(f"wrk failed: {text} {out.stderr}")
    pct = {m.group(1): _ms(m.group(2)) for m in re.finditer(r"^\s+(\d+)%\s+(\S+)", text, re.M)}
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
    errs = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text)
    return {
        "rps": float(rps.group(1)),
        "p50_ms": pct.get("50", float("nan")),
        "p99_ms": pct.get("99", float("nan")),
        "non_2xx": int(bad.group(1)) if bad else 0,
        "socket_errors": sum(int(x) for x in errs.groups()) if errs else 0,
    }


def fixed(
    layout: Layout,
    port: int,
    rate: float,
    seconds: float,
    warmup: float,
    body: str | None = None,
) -> dict[str, Any]:
    cmd = [PY, str(bl.HERE / "loadgen.py"), "--url", f"http://{HOST}:{port}{PATH}"]
    cmd += ["--rate", str(rate), "--clients", "10", "--duration", str(seconds)]
    cmd += ["--warmup", str(warmup), "--body", body or bl.REQUEST_BODY]
    out = subprocess.run(layout.wrap(cmd, proxy=False), capture_output=True, text=True, timeout=600)
    if out.returncode != 0:
        raise RuntimeError(f"loadgen failed: {out.stderr}")
    result: dict[str, Any] = json.loads(out.stdout)
    return result


# -- one repetition ----------------------------------------------------------------------------


def measure(
    stack: Stack, fixtures: dict[str, Proc], t: Target, args: argparse.Namespace, saturate: bool
) -> dict[str, Any]:
    proc = t.start(stack)
    try:
        owner = proc if proc is not None else fixtures["nginx"] if t.name in _SHARED else None
        if args.warm > 0:
            wrk(stack.layout, stack.workdir, t.port, args.warm, 16)  # warm pools and caches
        out: dict[str, Any] = {}
        # the steady state at 1 000 req/s first, once the warm-up's outcomes are recorded:
        # after a saturation run the recorder works off a backlog of thousands of outcomes
        # for many seconds, which is not what a proxy at 1 000 req/s does
        out["settle_s"] = settle(t)
        bl.progress(f"  {t.name}: {args.rate:g} req/s for {args.fixed:g}s")
        cpu0 = bl.cpu_seconds(owner.pid) if owner is not None else 0.0
        out["fixed"] = f = fixed(stack.layout, t.port, args.rate, args.fixed, args.warmup)
        if owner is not None:
            used = bl.cpu_seconds(owner.pid) - cpu0
            # seconds of CPU per 1 000 requests = cores busy at 1 000 req/s
            out["cpu_per_1000"] = used / max(1, f["sent"] * (1 + args.warmup / args.fixed)) * 1000
            out["rss_mb"] = bl.rss_bytes(owner.pid) / 2**20
        if saturate:
            bl.progress(f"  {t.name}: wrk saturation {args.saturation:g}s")
            out["saturation"] = wrk(stack.layout, stack.workdir, t.port, args.saturation, 64)
        return out
    finally:
        if proc is not None:
            stack.stop(proc)
            time.sleep(0.3)


def settle(t: Target, timeout: float = 30.0) -> float:
    """Wait until a recording shadowgate has recorded everything sent so far; seconds."""
    if t.port != PY_PORT:
        return 0.0
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        try:
            with urllib.request.urlopen(f"http://{HOST}:{PY_ADMIN}/api/status", timeout=2) as r:
                rec = json.loads(r.read()).get("recording")
        except (OSError, ValueError):
            return 0.0  # no admin API (the bare proxy) or no recording section
        if rec is None:
            return 0.0
        if rec["exchanges_pending"] == 0 and rec["outcomes_pending"] == 0:
            return time.monotonic() - t0
        time.sleep(0.1)
    return time.monotonic() - t0


def _median(values: list[float]) -> float:
    vals = [v for v in values if v == v]
    return statistics.median(vals) if vals else float("nan")


def aggregate(reps: list[dict[str, dict[str, Any]]]) -> dict[str, dict[str, float]]:
    """Per target, the median over repetitions of each headline number."""
    out: dict[str, dict[str, float]] = {}
    for name in reps[0]:
        rows = [r[name] for r in reps]
        a: dict[str, float] = {}
        if "saturation" in rows[0]:
            a["rps"] = _median([r["saturation"]["rps"] for r in rows])
            a["sat_p99_ms"] = _median([r["saturation"]["p99_ms"] for r in rows])
            a["sat_errors"] = max(
                r["saturation"]["non_2xx"] + r["saturation"]["socket_errors"] for r in rows
            )
        for q in ("p50", "p99", "p99.9"):
            a[f"{q}_ms"] = _median([r["fixed"]["latency_ms"][q] for r in rows])
        a["fixed_errors"] = max(r["fixed"]["errors"] for r in rows)
        a["achieved_rate"] = _median([r["fixed"]["rate"] for r in rows])
        if "cpu_per_1000" in rows[0]:
            a["cpu_per_1000"] = _median([r["cpu_per_1000"] for r in rows])
            a["rss_mb"] = _median([r["rss_mb"] for r in rows])
        out[name] = a
    return out


# -- report ------------------------------------------------------------------------------------


def _r(x: float, y: float) -> float:
    return x / y if y else float("nan")


def summarize(agg: dict[str, dict[str, float]]) -> dict[str, Any]:
    d = agg["direct"]
    bases = ["direct", "nginx", "nginx-mirror", "aiohttp-mirror"]
    throughput = {
        n: {"rps": agg[n]["rps"], **{f"x_{b}": _r(agg[n]["rps"], agg[b]["rps"]) for b in bases}}
        for n in MAIN
    }
    latency = {
        n: {
            "p50_ms": agg[n]["p50_ms"],
            "p99_ms": agg[n]["p99_ms"],
            "added_p50_ms": agg[n]["p50_ms"] - d["p50_ms"],
            "added_p99_ms": agg[n]["p99_ms"] - d["p99_ms"],
            "p50_x_direct": _r(agg[n]["p50_ms"], d["p50_ms"]),
            "p99_x_direct": _r(agg[n]["p99_ms"], d["p99_ms"]),
            "added_p99_vs_nginx_mirror_ms": agg[n]["p99_ms"] - agg["nginx-mirror"]["p99_ms"],
            "added_p99_vs_aiohttp_mirror_ms": agg[n]["p99_ms"] - agg["aiohttp-mirror"]["p99_ms"],
        }
        for n in MAIN
    }
    candidates = {}
    for proxy in ("nginx-mirror", "shadowgate"):
        # a slow candidate is compared with the same server answering at once, a dead one
        # (no server at all) with the nginx candidate of the main runs
        fast, twin = agg[proxy]["p99_ms"], agg[f"{proxy}/fast-py"]["p99_ms"]
        row = {"fast_p99_ms": fast, "fast_py_p99_ms": twin}
        for kind, base in (("slow", twin), ("dead", fast)):
            p99 = agg[f"{proxy}/{kind}"]["p99_ms"]
            row[f"{kind}_p99_ms"] = p99
            row[f"{kind}_change_pct"] = (p99 / base - 1.0) * 100.0
        again = agg.get(f"{proxy}/fast-py-again")
        if again is not None:
            row["fast_py_again_p99_ms"] = again["p99_ms"]
            row["aa_change_pct"] = (again["p99_ms"] / twin - 1.0) * 100.0
        candidates[proxy] = row
    cpu = {
        n: {"cpu_per_1000": a["cpu_per_1000"], "rss_mb": a["rss_mb"]}
        for n, a in agg.items()
        if "cpu_per_1000" in a
    }
    sg, lat = throughput["shadowgate"], latency["shadowgate"]
    c = candidates["shadowgate"]
    budgets = {
        "throughput >= 0.5x nginx-mirror": [sg["x_nginx-mirror"], sg["x_nginx-mirror"] >= 0.5],
        "throughput >= 1.0x aiohttp-mirror": [
            sg["x_aiohttp-mirror"],
            sg["x_aiohttp-mirror"] >= 1.0,
        ],
        "added p50 <= 1 ms at 1000 req/s": [lat["added_p50_ms"], lat["added_p50_ms"] <= 1.0],
        "added p99 <= 3 ms at 1000 req/s": [lat["added_p99_ms"], lat["added_p99_ms"] <= 3.0],
        "slow candidate changes p99 < 10%": [c["slow_change_pct"], abs(c["slow_change_pct"]) < 10],
        "dead candidate changes p99 < 10%": [c["dead_change_pct"], abs(c["dead_change_pct"]) < 10],
    }
    if "aa_change_pct" in c:  # not a budget: the yardstick for the two lines above
        budgets["(A/A noise: fast-py twice, % change)"] = [c["aa_change_pct"], None]
    return {
        "throughput": throughput,
        "latency_1000": latency,
        "candidates": candidates,
        "cpu": cpu,
        "budgets": budgets,
    }


def focused_markdown(doc: dict[str, Any], names: list[str]) -> str:
    """``--only``: each target's p99 per repetition, and the median."""
    m, a, reps = doc["machine"], doc["args"], doc["repetitions"]
    lines = [
        "# Proxy benchmark, focused",
        "",
        f"`{doc['command']}` — {a['repeat']} repetitions, the targets interleaved in each; "
        f"{a['rate']:g} req/s for {a['fixed']:g} s (10 keep-alive clients, jittered "
        "schedules, latency from the intended send time).",
        "",
        f"Machine: {m['cpu']}, {m['cores']} cores, Linux {m['kernel']}, Python {m['python']}. "
        f"Layout: {m['pinning']}.",
        "",
        "| target | median p50 ms | median p99 ms | p99 per repetition (ms) | CPU s / 1000 req |",
        "|---|---:|---:|---|---:|",
    ]
    for n in names:
        agg = doc["summary"][n]
        per = ", ".join(f"{r[n]['fixed']['latency_ms']['p99']:.3f}" for r in reps)
        cpu = f"{agg['cpu_per_1000']:.3f}" if "cpu_per_1000" in agg else "—"
        lines.append(f"| {n} | {agg['p50_ms']:.3f} | {agg['p99_ms']:.3f} | {per} | {cpu} |")
    return "\n".join(lines) + "\n"


def markdown(doc: dict[str, Any]) -> str:
    s, m, a = doc["summary"], doc["machine"], doc["args"]
    lines = [
        "# Proxy benchmark",
        "",
        f"`{doc['command']}` — {a['repeat']} repetition(s), median shown; saturation "
        f"{a['saturation']:g} s with wrk -t1 -c64; fixed rate {a['rate']:g} req/s for "
        f"{a['fixed']:g} s (10 keep-alive clients, jittered schedules, latency from the "
        "intended send time).",
        "",
        f"Machine: {m['cpu']}, {m['cores']} cores, Linux {m['kernel']}, Python {m['python']}, "
        f"aiohttp {m['aiohttp']}, uvloop {m['uvloop']}, {m['nginx']}, {m['wrk']}. "
        f"Layout: {m['pinning']}. Load average at start: "
        f"{', '.join(f'{x:.2f}' for x in m['load_average_at_start'])}.",
        "",
        "## Throughput at saturation",
        "",
        "| target | req/s | × direct | × nginx | × nginx-mirror | × aiohttp-mirror |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for n, r in s["throughput"].items():
        lines.append(
            f"| {n} | {r['rps']:.0f} | {r['x_direct']:.2f} | {r['x_nginx']:.2f} | "
            f"{r['x_nginx-mirror']:.2f} | {r['x_aiohttp-mirror']:.2f} |"
        )
    lines += [
        "",
        f"## Latency at {a['rate']:g} req/s (ms)",
        "",
        "| target | p50 | p99 | added p50 | added p99 | p99 × direct | p99 − nginx-mirror "
        "| p99 − aiohttp-mirror |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for n, r in s["latency_1000"].items():
        lines.append(
            f"| {n} | {r['p50_ms']:.3f} | {r['p99_ms']:.3f} | {r['added_p50_ms']:+.3f} | "
            f"{r['added_p99_ms']:+.3f} | {r['p99_x_direct']:.2f} | "
            f"{r['added_p99_vs_nginx_mirror_ms']:+.3f} | "
            f"{r['added_p99_vs_aiohttp_mirror_ms']:+.3f} |"
        )
    lines += [
        "",
        f"## Slow (100 ms) and dead candidate: client p99 at {a['rate']:g} req/s (ms)",
        "",
        "The slow candidate (an aiohttp server sleeping 100 ms) is compared with the same "
        "server answering at once (fast-py); the dead one (a closed port) with the nginx "
        "candidate of the main runs (fast).",
        "",
        "A/A: shadowgate with the fast-py candidate measured a second time, last in each "
        "repetition; its change is what noise alone does to a p99 here.",
        "",
        "| proxy | fast | fast-py | slow | change vs fast-py | dead | change vs fast "
        "| fast-py again | A/A change |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for n, r in s["candidates"].items():
        aa = (
            f"{r['fast_py_again_p99_ms']:.3f} | {r['aa_change_pct']:+.1f} %"
            if "aa_change_pct" in r
            else "— | —"
        )
        lines.append(
            f"| {n} | {r['fast_p99_ms']:.3f} | {r['fast_py_p99_ms']:.3f} | "
            f"{r['slow_p99_ms']:.3f} | "
            f"{r['slow_change_pct']:+.1f} % | {r['dead_p99_ms']:.3f} | "
            f"{r['dead_change_pct']:+.1f} % | {aa} |"
        )
    lines += [
        "",
        f"## CPU at {a['rate']:g} req/s",
        "",
        "CPU seconds per 1 000 requests (= cores busy per 1 000 req/s), all of the proxy's "
        "processes; RSS after the run.",
        "",
        "| target | CPU s / 1000 req | RSS MB |",
        "|---|---:|---:|",
    ]
    for n, r in s["cpu"].items():
        lines.append(f"| {n} | {r['cpu_per_1000']:.3f} | {r['rss_mb']:.0f} |")
    lines += ["", "## Budgets (DESIGN §6)", "", "| budget | value | met |", "|---|---:|---|"]
    for k, (v, ok) in s["budgets"].items():
        met = "—" if ok is None else "yes" if ok else "**no**"
        lines.append(f"| {k} | {v:.2f} | {met} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--quick", action="store_true", help="smoke run: 1 repetition, 1 s phases")
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--saturation", type=float, default=10.0, help="seconds of wrk per target")
    p.add_argument("--fixed", type=float, default=10.0, help="measured seconds at --rate")
    p.add_argument("--warmup", type=float, default=1.0)
    p.add_argument("--warm", type=float, default=1.0, help="seconds of wrk before measuring")
    p.add_argument("--rate", type=float, default=1000.0)
    p.add_argument("--no-pin", action="store_true", help="do not pin processes with taskset")
    p.add_argument("--out", type=Path, default=bl.HERE / "results", help="results directory")
    p.add_argument("--name", default="proxy", help="results file stem")
    p.add_argument(
        "--only",
        help="comma-separated targets to run alone (e.g. shadowgate/fast-py,shadowgate/slow)"
        ", for a focused comparison with more repetitions: per-repetition p99s, no budgets",
    )
    args = p.parse_args(argv)
    only = args.only.split(",") if args.only else None
    if only is not None and (unknown := [n for n in only if n not in TARGETS]):
        p.error(f"unknown targets {unknown}; known: {', '.join(TARGETS)}")
    if args.quick:
        args.repeat, args.warm = 1, 0.0
        args.saturation = min(args.saturation, 1.0)
        args.fixed, args.warmup = min(args.fixed, 1.0), min(args.warmup, 0.3)
    for tool in ("nginx", "wrk"):
        if shutil.which(tool) is None:
            print(f"{tool} is required (apt-get install nginx-light wrk)", file=sys.stderr)
            return 2
    layout = Layout.default(not args.no_pin)
    load = os.getloadavg()[0]
    if load > 0.5:
        bl.progress(f"warning: load average {load:.2f}; other work may disturb the numbers")
    reps: list[dict[str, dict[str, Any]]] = []
    with tempfile.TemporaryDirectory(prefix="sg-bench-") as tmp:
        stack = Stack(Path(tmp), layout)
        try:
            fixtures = start_fixtures(stack)
            for i in range(args.repeat):
                bl.progress(f"repetition {i + 1}/{args.repeat}")
                rep: dict[str, dict[str, Any]] = {}
                for name in only or MAIN + CANDIDATES:
                    saturate = name in MAIN and only is None
                    rep[name] = measure(stack, fixtures, TARGETS[name], args, saturate)
                reps.append(rep)
        finally:
            stack.close()
    doc: dict[str, Any] = {
        "command": " ".join(["benchmarks/proxy.py", *(argv if argv is not None else sys.argv[1:])]),
        "args": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
        "machine": bl.machine(layout),
        "load_average_at_end": os.getloadavg(),
        "repetitions": reps,
    }
    if only is not None:
        doc["summary"] = aggregate(reps)
        bl.dump(args.out / f"{args.name}.json", doc)
        md = focused_markdown(doc, only)
        (args.out / f"{args.name}.md").write_text(md)
        print(md)
        return 0
    doc["summary"] = summarize(aggregate(reps))
    bl.dump(args.out / f"{args.name}.json", doc)
    md = markdown(doc)
    (args.out / f"{args.name}.md").write_text(md)
    print(md)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
