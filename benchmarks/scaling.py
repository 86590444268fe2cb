"""Throughput against the number of workers (one machine) and replicas (shared PostgreSQL).

    python benchmarks/scaling.py            # 10 s per point
    python benchmarks/scaling.py --quick    # 3 s per point

Every point runs shadowgate in shadow mode, 100 % mirrored, recording on, against nginx
``return 200`` upstreams, driven by ``wrk`` at saturation (64 connections in all, split
over the replicas' ports). Nothing is pinned: the point is how throughput grows with
processes, and on a small machine the load generator and the upstreams share the cores,
which the machine line in the output says. Writes ``benchmarks/results/scaling.{json,md}``.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))

import benchlib as bl

HOST = bl.HOST
PATH = "/v2/models/bench/infer"
PG = "postgresql://postgres@127.0.0.1:5432/test"


def free_port() -> int:
    with bl.socket.socket() as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


def wrk_many(workdir: Path, ports: list[int], seconds: float, connections: int) -> dict[str, Any]:
    """One ``wrk`` per port at once; total requests/s and the worst error counts."""
    script = workdir / "post.lua"
    body = bl.REQUEST_BODY.replace("'", "\\'")
    script.write_text(
        f"wrk.method = 'POST'\nwrk.body = '{body}'\n"
        "wrk.headers['Content-Type'] = 'application/json'\n"
    )
    per = max(1, connections // len(ports))
    procs = [
        subprocess.Popen(
            [
                "wrk",
                "-t1",
                f"-c{per}",
                f"-d{max(1, round(seconds))}s",
                "-s",
                str(script),
                f"http://{HOST}:{p}{PATH}",
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for p in ports
    ]
    total, bad = 0.0, 0
    for proc in procs:
        out, err = proc.communicate(timeout=seconds + 60)
        m = re.search(r"Requests/sec:\s+([\d.]+)", out)
        if m is None:
            raise RuntimeError(f"wrk failed: {out} {err}")
        total += float(m.group(1))
        non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
        bad += int(non2xx.group(1)) if non2xx else 0
    return {"rps": total, "non_2xx": bad}


def point(
    stack: bl.Stack,
    name: str,
    configs: list[Path],
    ports: list[int],
    admins: list[int],
    workers: int,
    seconds: float,
) -> dict[str, Any]:
    procs = [
        stack.start(f"{name}-{i}", bl.shadowgate_cmd(c, True, workers), proxy=True)
        for i, c in enumerate(configs)
    ]
    try:
        for proc, admin in zip(procs, admins, strict=True):
            bl.wait_http(f"http://{HOST}:{admin}/readyz", proc)
        wrk_many(stack.workdir, ports, 2.0, 16)  # warm pools
        t0 = time.monotonic()
        result = wrk_many(stack.workdir, ports, seconds, 64)
        result["seconds"] = round(time.monotonic() - t0, 1)
    finally:
        for proc in procs:
            stack.stop(proc)
    return result


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--quick", action="store_true", help="3 s per point (smoke run)")
    p.add_argument("--seconds", type=float, default=10.0)
    p.add_argument("--max-workers", type=int, default=2)
    p.add_argument("--max-replicas", type=int, default=3)
    p.add_argument("--no-postgres", action="store_true", help="skip the replica points")
    p.add_argument("--out", type=Path, default=bl.HERE / "results" / "scaling")
    args = p.parse_args()
    seconds = 3.0 if args.quick else args.seconds
    layout = bl.Layout()  # unpinned on purpose
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="sg-scaling-") as tmp:
        workdir = Path(tmp)
        stack = bl.Stack(workdir, layout)
        try:
            up_prod, up_cand = free_port(), free_port()
            conf = bl.nginx_conf(workdir, "up", bl.nginx_upstream_servers([up_prod, up_cand]))
            stack.start("nginx-upstream", ["nginx", "-c", str(conf)], proxy=False)
            bl.wait_port(up_prod)
            bl.wait_port(up_cand)
            for workers in range(1, args.max_workers + 1):
                bl.progress(f"SQLite, --workers {workers}: {seconds:g}s at saturation")
                port, admin = free_port(), free_port()
                c = bl.shadowgate_config(workdir, f"w{workers}", port, admin, up_prod, up_cand)
                r = point(stack, f"w{workers}", [c], [port], [admin], workers, seconds)
                rows.append({"shape": "workers", "n": workers, "store": "sqlite", **r})
            if not args.no_postgres:
                schema = f"scaling_{uuid.uuid4().hex[:8]}"
                for n in range(1, args.max_replicas + 1):
                    bl.progress(f"PostgreSQL, {n} replica(s): {seconds:g}s at saturation")
                    ports, admins, configs = [], [], []
                    for i in range(n):
                        port, admin = free_port(), free_port()
                        c = bl.shadowgate_config(
                            workdir, f"r{n}-{i}", port, admin, up_prod, up_cand
                        )
                        doc = yaml.safe_load(c.read_text())
                        doc["store"] = f"{PG}?schema={schema}{n}"
                        c.write_text(yaml.safe_dump(doc, sort_keys=False))
                        ports.append(port)
                        admins.append(admin)
                        configs.append(c)
                    r = point(stack, f"r{n}", configs, ports, admins, 1, seconds)
                    rows.append({"shape": "replicas", "n": n, "store": "postgresql", **r})
                _drop_schemas(schema, args.max_replicas)
        finally:
            stack.close()
    base = {
        s: next((r["rps"] for r in rows if r["shape"] == s and r["n"] == 1), None)
        for s in ("workers", "replicas")
    }
    for r in rows:
        b = base[r["shape"]]
        r["x_one"] = round(r["rps"] / b, 2) if b else None
    doc = {"machine": bl.machine(layout), "seconds_per_point": seconds, "rows": rows}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    bl.dump(args.out.with_suffix(".json"), doc)
    lines = [
        "# Throughput against workers and replicas",
        "",
        f"`benchmarks/scaling.py`, {seconds:g} s per point at saturation (wrk, 64 connections "
        "in all), shadow mode, 100 % mirrored, recording on; unpinned.",
        "",
        f"Machine: {doc['machine'].get('cpu', '?')}, {doc['machine'].get('cores', '?')} cores "
        "(load generator, nginx upstreams and shadowgate share them).",
        "",
        "| shape | n | store | req/s | × one | non-2xx |",
        "|---|---:|---|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(
            f"| {r['shape']} | {r['n']} | {r['store']} | {r['rps']:.0f} | {r['x_one']} | "
            f"{r['non_2xx']} |"
        )
    args.out.with_suffix(".md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


def _drop_schemas(prefix: str, n: int) -> None:
    import asyncio

    import asyncpg

    async def drop() -> None:
        conn = await asyncpg.connect(PG)
        try:
            for i in range(1, n + 1):
                await conn.execute(f'DROP SCHEMA IF EXISTS "{prefix}{i}" CASCADE')
        finally:
            await conn.close()

    asyncio.run(drop())


if __name__ == "__main__":
    sys.exit(main())
