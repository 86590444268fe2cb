"""shadowgate on traffic like users': the realistic payload, lean-latency upstreams, keep-alive.

One command, one run, one machine (127.0.0.1 only)::

    .venv/bin/python benchmarks/realistic.py            # full run, ~10 minutes
    .venv/bin/python benchmarks/realistic.py --quick    # smoke run, ~2 minutes

Payload: an Open Inference Protocol v2 batch of 32 rows × 30 FP32 features (8.3 KB,
``benchmarks/payloads/oip-request-32x30.json``) answered with 32 × 2 FP64 probabilities
(0.8 KB). Parts, each printed as it runs and summed up in
``benchmarks/results/realistic.{json,md}``:

- **aa**: two identical lean upstreams (``lean_upstream.py``: lognormal delay, median 3 ms,
  log-sd 0.3), shadow mode mirroring 100 %, at 100, 1 000 and 2 000 req/s (10 keep-alive
  clients, arrivals spread out). The latency bias is the candidate's relative slowdown,
  ``exp(mean log(lat_c / lat_p)) − 1``, from the recorded pairs, with a 95 % interval
  from batch means (load makes neighbouring pairs alike, so an i.i.d. interval would be
  too narrow). Then the same pair of upstreams at saturation (wrk) with the default
  checks deciding: an identical candidate must never be rolled back.
- **overhead**: fixed-response nginx upstreams returning the realistic answer; direct,
  nginx ``mirror`` and shadowgate (recording on) at 1 000 req/s: added p50/p99 and CPU per
  request of the whole process group, for shadowgate until its backlog is written; and,
  as a floor, shadowgate's data plane with every exchange discarded.
- **throughput**: fixed rates stepping up until a step is not fully recorded (any mirror
  or outcome dropped, the rate not achieved, or a backlog that takes over 1 s to write
  after the load stops); nginx ``mirror``'s saturation (wrk) in the same run.
- **keepalive**: an upstream closing idle keep-alive connections after 0.3 s and one
  client whose POSTs are spaced 0.26–0.34 s apart: failures seen by the client and
  errors charged to the candidate.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

import numpy as np
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))

import benchlib as bl
from benchlib import HOST, PY, Layout, Stack

PAYLOADS = bl.HERE / "payloads"
REQUEST = (PAYLOADS / "oip-request-32x30.json").read_bytes()
RESPONSE = (PAYLOADS / "oip-response-32x2.json").read_bytes()
PATH = "/v2/models/m/infer"
UP_A, UP_B, NGX_UP_A, NGX_UP_B, NGX_MIRROR, SG, SG_ADMIN, UP_IDLE = (
    18031,
    18032,
    18033,
    18034,
    18035,
    18036,
    18136,
    18037,
)


#: the ways of running shadowgate the overhead part measures, in the same invocation
SG_VARIANTS = ("shadowgate", "shadowgate-no-judge", "shadowgate-judge-process")
#: the data plane with every exchange discarded (``shadowgate_norecord.py``): no budget
#: applies to it; it is the floor the recording adds to, in the same run
FLOOR = "shadowgate-norecord"


def sg_config(workdir: Path, name: str, prod: int, cand: int, deciding: bool) -> Path:
    analysis: dict[str, Any] = {
        "checks": [{"metric": "errors"}, {"metric": "latency", "margin": "10%"}]
    }
    if not deciding:  # looks every second as usual, but never decides within a run
        analysis |= {"min_samples": 100_000_000, "max_samples": 100_000_000}
    doc: dict[str, Any] = {
        "server": {
            "listen": f"{HOST}:{SG}",
            "admin_listen": f"{HOST}:{SG_ADMIN}",
            "shutdown_timeout": "2s",
        },
        "store": f"sqlite:///{workdir / name}.db",
        "routes": [
            {
                "name": "m",
                "match": {"path_prefix": "/v2/models/m"},
                "production": {"url": f"http://{HOST}:{prod}", "timeout": "2s"},
                "candidate": {"url": f"http://{HOST}:{cand}", "timeout": "2s"},
                "mode": "shadow",
                "mirror": {"percent": 100, "max_in_flight": 512},
                "protocol": "open-inference-v2",
                "analysis": analysis,
            }
        ],
    }
    path = workdir / f"{name}.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


def start_sg(
    stack: Stack,
    cfg: Path,
    name: str,
    workers: int = 1,
    judge_process: bool = False,
    extra: tuple[str, ...] = (),
) -> bl.Proc:
    """shadowgate serving ``cfg``; one process is pinned to the proxy's core, more are not.

    With ``judge_process`` the data plane stays pinned and the judge's process may run on
    any core, as the kernel would place it on a machine of its own (it is niced)."""
    if workers > 1:
        stack = Stack(stack.workdir, Layout(), stack.procs)
    cmd = bl.shadowgate_cmd(cfg, record=True, workers=workers, judge_process=judge_process)
    p = stack.start(name, [*cmd, *extra], proxy=True)
    bl.wait_http(f"http://{HOST}:{SG_ADMIN}/readyz", p)
    if judge_process:
        for pid in bl.tree(p.pid):
            try:
                cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
            except OSError:
                continue
            if b"--judge-only" in cmdline:
                os.sched_setaffinity(pid, range(os.cpu_count() or 1))
    return p


def lean(stack: Stack, port: int, seed: int, idle_close: float = 0.0) -> bl.Proc:
    cmd = [PY, str(bl.HERE / "lean_upstream.py"), "--port", str(port), "--seed", str(seed)]
    cmd += ["--idle-close", str(idle_close)]
    p = stack.start(f"lean-{port}", cmd, proxy=False)
    bl.wait_port(port)
    return p


def loadgen(
    layout: Layout, port: int, rate: float, seconds: float, warmup: float = 1.0
) -> dict[str, Any]:
    cmd = [PY, str(bl.HERE / "loadgen.py"), "--url", f"http://{HOST}:{port}{PATH}"]
    cmd += ["--rate", str(rate), "--clients", "10", "--duration", str(seconds)]
    cmd += ["--warmup", str(warmup), "--body", REQUEST.decode()]
    out = subprocess.run(layout.wrap(cmd, proxy=False), capture_output=True, text=True, timeout=900)
    if out.returncode != 0:
        raise RuntimeError(f"loadgen failed: {out.stderr[-2000:]}")
    r: dict[str, Any] = json.loads(out.stdout)
    return r


def wrk(layout: Layout, workdir: Path, port: int, seconds: float, connections: int = 64) -> float:
    body = workdir / "request.json"
    body.write_bytes(REQUEST)
    script = workdir / "post-realistic.lua"
    script.write_text(
        f"local f = io.open('{body}', 'rb')\nwrk.method = 'POST'\n"
        "wrk.body = f:read('*a')\nf:close()\n"
        "wrk.headers['Content-Type'] = 'application/json'\n"
    )
    cmd = ["wrk", "-t1", f"-c{connections}", f"-d{max(1, round(seconds))}s", "-s", str(script)]
    cmd.append(f"http://{HOST}:{port}{PATH}")
    out = subprocess.run(layout.wrap(cmd, proxy=False), capture_output=True, text=True, timeout=600)
    for line in out.stdout.splitlines():
        if line.startswith("Requests/sec:"):
            return float(line.split()[1])
    raise RuntimeError(f"wrk failed: {out.stdout} {out.stderr}")


def admin(path: str) -> Any:
    with urllib.request.urlopen(f"http://{HOST}:{SG_ADMIN}{path}", timeout=5) as r:
        body = r.read()
    return json.loads(body) if path.startswith("/api") else body.decode()


def metric_sum(name: str) -> float:
    total = 0.0
    for line in admin("/metrics").splitlines():
        if line.startswith(name) and not line.startswith("#"):
            head, _, value = line.rpartition(" ")
            if head == name or head.startswith(name + "{"):
                total += float(value)
    return total


def settle(timeout: float = 60.0) -> float:
    """Seconds until every exchange sent so far is written to the store."""
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        rec = admin("/api/status").get("recording") or {}
        if rec.get("exchanges_pending", 0) == 0 and rec.get("outcomes_pending", 0) == 0:
            return time.monotonic() - t0
        time.sleep(0.02)
    return math.inf


def latency_bias(cfg: Path) -> dict[str, Any]:
    """The candidate's relative slowdown over the recorded pairs, with a batch-means CI."""
    out = subprocess.run(
        [str(Path(PY).parent / "shadowgate"), "export", "--config", str(cfg), "--route", "m"],
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    rows = [json.loads(line) for line in out.stdout.splitlines() if line.strip()]
    rows.sort(key=lambda r: r["ts"])
    x = np.array(
        [
            math.log(r["cand_latency"] / r["prod_latency"])
            for r in rows
            if r.get("prod_latency") and r.get("cand_latency") and not r.get("cand_error")
        ]
    )
    if len(x) < 40:
        return {"pairs": len(x), "estimate": math.nan, "ci": [math.nan, math.nan]}
    k = 20  # batches
    means = np.array([b.mean() for b in np.array_split(x, k)])
    se = means.std(ddof=1) / math.sqrt(k)
    t = 2.093  # t(0.975, 19)
    m = x.mean()
    return {
        "pairs": len(x),
        "estimate": math.expm1(m),
        "ci": [math.expm1(m - t * se), math.expm1(m + t * se)],
        "iid_ci": [
            math.expm1(m - 1.96 * x.std() / math.sqrt(len(x))),
            math.expm1(m + 1.96 * x.std() / math.sqrt(len(x))),
        ],
    }


# -- parts -------------------------------------------------------------------------------------


def part_aa(stack: Stack, a: argparse.Namespace) -> dict[str, Any]:
    res: dict[str, Any] = {}
    ups = [lean(stack, UP_A, 1), lean(stack, UP_B, 2)]
    for rate, seconds in a.aa_rates:
        bl.progress(f"aa: {rate:g} req/s for {seconds:g}s")
        cfg = sg_config(stack.workdir, f"aa-{rate:g}", UP_A, UP_B, deciding=False)
        p = start_sg(stack, cfg, f"sg-aa-{rate:g}")
        try:
            load = loadgen(stack.layout, SG, rate, seconds)
            settle()
        finally:
            stack.stop(p)
        bias = latency_bias(cfg)
        res[f"{rate:g}"] = {"achieved": load["rate"], "errors": load["errors"], **bias}
        bl.progress(
            f"    bias {bias['estimate']:+.2%} CI [{bias['ci'][0]:+.2%}, {bias['ci'][1]:+.2%}]"
            f" over {bias['pairs']} pairs"
        )
    bl.progress(f"aa: saturation with the default checks deciding, {a.sat:g}s")
    cfg = sg_config(stack.workdir, "aa-sat", UP_A, UP_B, deciding=True)
    p = start_sg(stack, cfg, "sg-aa-sat")
    try:
        rps = wrk(stack.layout, stack.workdir, SG, a.sat)
        settle()
        time.sleep(2.5)  # the judge's next looks see everything
        route = admin("/api/status")["routes"]
        state = _state(route)
    finally:
        stack.stop(p)
    res["saturation"] = {"rps": rps, "state": state, "bias": latency_bias(cfg)}
    bl.progress(f"    {rps:.0f} req/s, state {state}")
    for u in ups:
        stack.stop(u)
    return res


def _state(routes: Any) -> str:
    entry = routes[0] if isinstance(routes, list) else routes.get("m", {})
    return str((entry.get("rollout") or {}).get("state", "?"))


def _nginx(stack: Stack) -> bl.Proc:
    up = bl.nginx_conf(
        stack.workdir, "ngx-up", bl.nginx_upstream_servers([NGX_UP_A, NGX_UP_B], RESPONSE.decode())
    )
    stack.start("ngx-up", ["nginx", "-c", str(up)], proxy=False)
    conf = bl.nginx_conf(
        stack.workdir, "ngx-mirror", bl.nginx_proxy_server(NGX_MIRROR, NGX_UP_A, NGX_UP_B)
    )
    p = stack.start("ngx-mirror", ["nginx", "-c", str(conf)], proxy=True)
    for port in (NGX_UP_A, NGX_UP_B, NGX_MIRROR):
        bl.wait_port(port)
    return p


def part_overhead(stack: Stack, a: argparse.Namespace, mirror: bl.Proc) -> dict[str, Any]:
    res: dict[str, Any] = {}
    for name in ("direct", "nginx-mirror", *SG_VARIANTS, FLOOR):
        bl.progress(f"overhead: {name} at 1000 req/s for {a.fixed:g}s")
        owner, port = None, NGX_UP_A
        if name == "nginx-mirror":
            owner, port = mirror, NGX_MIRROR
        if name == FLOOR:
            cfg = sg_config(stack.workdir, name, NGX_UP_A, NGX_UP_B, deciding=False)
            owner, port = stack.start(name, bl.shadowgate_cmd(cfg, record=False), proxy=True), SG
            bl.wait_port(SG)
            loadgen(stack.layout, SG, 500, 1.0, 0.0)  # warm pools
        if name in SG_VARIANTS:
            cfg = sg_config(stack.workdir, name, NGX_UP_A, NGX_UP_B, deciding=False)
            judge_process = name == "shadowgate-judge-process"
            extra = ("--no-judge",) if name == "shadowgate-no-judge" else ()
            owner, port = start_sg(stack, cfg, name, judge_process=judge_process, extra=extra), SG
            loadgen(stack.layout, SG, 500, 1.0, 0.0)  # warm pools
            settle()
        cpu0 = bl.cpu_seconds(owner.pid) if owner else 0.0
        load = loadgen(stack.layout, port, 1000, a.fixed)
        drain = settle() if name in SG_VARIANTS else 0.0
        cpu = bl.cpu_seconds(owner.pid) - cpu0 if owner else math.nan
        res[name] = {
            "p50_ms": load["latency_ms"]["p50"],
            "p99_ms": load["latency_ms"]["p99"],
            "errors": load["errors"],
            "rate": load["rate"],
            "drain_s": drain,
            "cpu_ms_per_request": cpu / max(1, load["sent"] * (1 + 1 / a.fixed)) * 1000,
        }
        if name in SG_VARIANTS and owner is not None:
            res[name]["dropped"] = metric_sum("shadowgate_mirror_dropped_total") + metric_sum(
                "shadowgate_outcomes_dropped_total"
            )
            stack.stop(owner)
        if name == FLOOR and owner is not None:
            stack.stop(owner)
        bl.progress(
            f"    p50 {res[name]['p50_ms']:.2f} ms, p99 {res[name]['p99_ms']:.2f} ms, "
            f"CPU {res[name]['cpu_ms_per_request']:.3f} ms/request, drain {drain:.2f}s"
        )
    return res


def part_throughput(stack: Stack, a: argparse.Namespace) -> dict[str, Any]:
    steps: list[dict[str, Any]] = []
    best = 0.0
    for rate in a.rates:
        cfg = sg_config(stack.workdir, f"tp-{rate}", NGX_UP_A, NGX_UP_B, deciding=False)
        p = start_sg(stack, cfg, f"sg-tp-{rate}", a.workers, a.judge_process)
        try:
            load = loadgen(stack.layout, SG, rate, a.step)
            drain = settle()
            dropped = metric_sum("shadowgate_mirror_dropped_total") + metric_sum(
                "shadowgate_outcomes_dropped_total"
            )
        finally:
            stack.stop(p)
        ok = dropped == 0 and load["errors"] == 0 and load["rate"] >= 0.98 * rate and drain < 1.0
        steps.append(
            {
                "rate": rate,
                "achieved": load["rate"],
                "errors": load["errors"],
                "dropped": dropped,
                "drain_s": drain,
                "p99_ms": load["latency_ms"]["p99"],
                "fully_recorded": ok,
            }
        )
        bl.progress(
            f"throughput: {rate} req/s → achieved {load['rate']:.0f}, dropped {dropped:.0f}, "
            f"drain {drain:.2f}s, p99 {load['latency_ms']['p99']:.1f} ms: {'ok' if ok else 'NOT'}"
        )
        if not ok:
            break
        best = rate
    return {
        "steps": steps,
        "sustained_rps": best,
        "workers": a.workers,
        "judge_process": a.judge_process,
    }


def part_keepalive(stack: Stack, a: argparse.Namespace) -> dict[str, Any]:
    bl.progress(f"keepalive: {a.ka} POSTs spaced 0.26–0.34 s, upstream idle close 0.3 s")
    ups = [lean(stack, UP_IDLE, 3, idle_close=0.3), lean(stack, UP_B, 4, idle_close=0.3)]
    cfg = sg_config(stack.workdir, "keepalive", UP_IDLE, UP_B, deciding=False)
    p = start_sg(stack, cfg, "sg-keepalive")
    failures = 0
    rnd = random.Random(7)
    try:
        sock = socket.create_connection((HOST, SG))
        head = (
            f"POST {PATH} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(REQUEST)}\r\n\r\n"
        ).encode()
        buf = bytearray()
        for _ in range(a.ka):
            sock.sendall(head + REQUEST)
            try:
                status = bl_read_status(sock, buf)
            except ConnectionError:
                status = 0
                sock = socket.create_connection((HOST, SG))
                buf.clear()
            failures += status != 200
            time.sleep(rnd.uniform(0.26, 0.34))
        sock.close()
        settle()
        cand_errors = _candidate_errors(cfg)
    finally:
        stack.stop(p)
        for u in ups:
            stack.stop(u)
    bl.progress(f"    client failures {failures}/{a.ka}, candidate errors {cand_errors}")
    return {"requests": a.ka, "client_failures": failures, "candidate_errors": cand_errors}


def bl_read_status(sock: socket.socket, buf: bytearray) -> int:
    sys.path.insert(0, str(bl.HERE))
    from loadgen import _read_response

    return _read_response(sock, buf)


def _candidate_errors(cfg: Path) -> int:
    out = subprocess.run(
        [str(Path(PY).parent / "shadowgate"), "export", "--config", str(cfg), "--route", "m"],
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    return sum(
        1 for line in out.stdout.splitlines() if line.strip() and json.loads(line).get("cand_error")
    )


# -- report ------------------------------------------------------------------------------------


def verdicts(doc: dict[str, Any]) -> list[tuple[str, str, bool]]:
    out: list[tuple[str, str, bool]] = []
    aa = doc.get("aa", {})
    for rate in ("100", "1000", "2000"):
        if rate in aa:
            e = aa[rate]["estimate"]
            out.append(
                (
                    f"A/A latency bias at {rate} req/s within ±1 %",
                    f"{e:+.2%} "
                    f"[{aa[rate]['ci'][0]:+.2%}, {aa[rate]['ci'][1]:+.2%}], "
                    f"{aa[rate]['pairs']} pairs",
                    abs(e) <= 0.01,
                )
            )
    if "saturation" in aa:
        s = aa["saturation"]
        out.append(
            (
                "identical candidate never rolled back at saturation",
                f"state {s['state']} at {s['rps']:.0f} req/s",
                s["state"] != "rolled_back",
            )
        )
    ov = doc.get("overhead", {})
    for variant in SG_VARIANTS:
        if {"direct", "nginx-mirror", variant} <= set(ov):
            out += _overhead_verdicts(ov["direct"], ov["nginx-mirror"], ov[variant], variant)
    tp = doc.get("throughput")
    if tp:
        sat = doc.get("nginx_mirror_saturation_rps", math.nan)
        out.append(
            (
                "sustained fully-recorded ≥ 3 000 req/s",
                f"{tp['sustained_rps']:.0f} req/s (nginx mirror saturates at {sat:.0f})",
                tp["sustained_rps"] >= 3000,
            )
        )
    ka = doc.get("keepalive")
    if ka:
        out.append(
            (
                "keep-alive race: 0 client failures, 0 candidate errors",
                f"{ka['client_failures']}/{ka['requests']} failed, "
                f"{ka['candidate_errors']} charged",
                ka["client_failures"] == 0 and ka["candidate_errors"] == 0,
            )
        )
    return out


def markdown(doc: dict[str, Any]) -> str:
    m = doc["machine"]
    lines = [
        "# Realistic-traffic benchmark (`benchmarks/realistic.py`)",
        "",
        f"Machine: {m['cpu']}, {m['cores']} cores, Linux {m['kernel']}, Python {m['python']}, "
        f"{m['nginx']}, {m['wrk']}; {m['pinning']}. Load average at start: "
        f"{', '.join(f'{x:.2f}' for x in m['load_average_at_start'])}.",
        "",
        f"Command: `{doc['command']}`",
        "",
        "Payload: OIP v2, 32 × 30 FP32 in (8.3 KB), 32 × 2 FP64 out (0.8 KB).",
        "",
        "| budget | measured | met |",
        "|---|---|---|",
    ]
    lines += [f"| {b} | {v} | {'yes' if ok else '**no**'} |" for b, v, ok in verdicts(doc)]
    ov = doc.get("overhead", {})
    if {"direct", "nginx-mirror", FLOOR} <= set(ov):
        f, n, d = ov[FLOOR], ov["nginx-mirror"], ov["direct"]
        lines += [
            "",
            "Floor, in the same run (no budget applies): the data plane alone with every "
            f"exchange discarded (`{FLOOR}`) at 1 000 req/s, CPU "
            f"{f['cpu_ms_per_request']:.3f} ms per request "
            f"(×{f['cpu_ms_per_request'] / n['cpu_ms_per_request']:.1f} nginx mirror), "
            f"added p50 {f['p50_ms'] - d['p50_ms']:+.2f} ms, "
            f"p99 {f['p99_ms'] - d['p99_ms']:+.2f} ms.",
        ]
    lines += ["", f"Raw figures: `benchmarks/results/{doc['name']}.json`.", ""]
    return "\n".join(lines)


def _overhead_verdicts(
    d: dict[str, Any], n: dict[str, Any], g: dict[str, Any], variant: str
) -> list[tuple[str, str, bool]]:
    """The 1 000 req/s budgets for one way of running shadowgate."""
    how = {
        "shadowgate-judge-process": " (judge in its own process)",
        "shadowgate-no-judge": " (--no-judge: no decisions, the data plane alone)",
    }.get(variant, "")
    ratio = g["cpu_ms_per_request"] / n["cpu_ms_per_request"]
    p50, p99 = g["p50_ms"] - d["p50_ms"], g["p99_ms"] - d["p99_ms"]
    return [
        (f"added p50 ≤ 1 ms at 1 000 req/s{how}", f"{p50:+.2f} ms", p50 <= 1.0),
        (f"added p99 ≤ 3 ms at 1 000 req/s{how}", f"{p99:+.2f} ms", p99 <= 3.0),
        (
            f"CPU per request ≤ 3× nginx mirror{how}",
            f"{g['cpu_ms_per_request']:.3f} vs {n['cpu_ms_per_request']:.3f} ms = ×{ratio:.1f}",
            ratio <= 3.0,
        ),
        (
            f"backlog written within 1 s after the load{how}",
            f"{g['drain_s']:.2f} s",
            g["drain_s"] <= 1.0,
        ),
        (f"0 dropped at 1 000 req/s{how}", f"{g['dropped']:.0f}", g["dropped"] == 0),
    ]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--quick", action="store_true", help="short smoke run")
    p.add_argument("--parts", default="aa,overhead,throughput,keepalive")
    p.add_argument("--no-pin", action="store_true")
    p.add_argument("--name", default="realistic", help="results file name")
    p.add_argument("--workers", type=int, default=2, help="shadowgate workers for throughput")
    p.add_argument(
        "--judge-process", action="store_true", help="throughput with serve --judge-process"
    )
    a = p.parse_args(argv)
    q = a.quick
    a.aa_rates = [(100, 10 if q else 60), (1000, 5 if q else 20), (2000, 3 if q else 12)]
    a.sat, a.fixed, a.step = (4, 4, 3) if q else (20, 10, 8)
    a.rates = [1000, 2000, 3000] if q else [1000, 1500, 2000, 2500, 3000, 3500, 4000, 5000]
    a.ka = 60 if q else 600
    parts = set(a.parts.split(","))
    layout = Layout.default(pin=not a.no_pin)
    doc: dict[str, Any] = {
        "name": a.name,
        "machine": bl.machine(layout),
        "command": " ".join(["benchmarks/realistic.py", *(argv or sys.argv[1:])]),
    }
    with tempfile.TemporaryDirectory(prefix="sg-realistic-") as tmp:
        stack = Stack(Path(tmp), layout)
        try:
            if "aa" in parts:
                doc["aa"] = part_aa(stack, a)
            if parts & {"overhead", "throughput"}:
                mirror = _nginx(stack)
                if "overhead" in parts:
                    doc["overhead"] = part_overhead(stack, a, mirror)
                if "throughput" in parts:
                    bl.progress(f"throughput: nginx mirror at saturation, {a.sat:g}s")
                    doc["nginx_mirror_saturation_rps"] = wrk(
                        layout, stack.workdir, NGX_MIRROR, a.sat
                    )
                    doc["throughput"] = part_throughput(stack, a)
            if "keepalive" in parts:
                doc["keepalive"] = part_keepalive(stack, a)
        finally:
            stack.close()
    out = bl.HERE / "results"
    bl.dump(out / f"{a.name}.json", doc)
    (out / f"{a.name}.md").write_text(markdown(doc))
    print(markdown(doc))
    return 0


if __name__ == "__main__":
    sys.exit(main())
