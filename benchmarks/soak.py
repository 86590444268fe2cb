"""A bounded soak: ``shadowgate serve`` under ``wrk`` at half its measured maximum.

    python benchmarks/soak.py --duration 600            # the 10-minute benchmark
    python benchmarks/soak.py --duration 40 --probe 5   # what CI runs (tests/reliability)

1. start two model servers (``benchmarks/upstream.py``: production, candidate) and
   ``shadowgate serve`` (shadow mode, 100% mirrored, SQLite store, judge on);
2. measure the maximum with ``wrk`` for ``--probe`` seconds;
3. soak at half of it for ``--duration`` seconds (``wrk``'s Lua ``delay()`` paces each
   connection), sampling the proxy's RSS every second;
4. wait until every outcome is written or dropped, read ``/metrics`` and ``/api/status``,
   stop with SIGTERM, count the stored rows.

Pass: zero client errors (non-2xx and socket errors), RSS growth after warm-up < 50 MB
(DESIGN §6), stored + dropped == pairs == mirrored, exit code 0. Writes
``benchmarks/results/soak.json`` (or ``--out``).
"""

from __future__ import annotations

import argparse
import json
import re
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

import yaml

HERE = Path(__file__).resolve().parent
BODY = '{"inputs":[{"name":"x","shape":[1,4],"datatype":"FP32","data":[1,2,3,4]}]}'
CONNECTIONS = 16


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _get(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=10) as r:
        data: bytes = r.read()
        return data


def _wait(url: str, proc: subprocess.Popen[bytes], timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{proc.args} exited with {proc.returncode}")
        try:
            _get(url)
            return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"{url} not ready after {timeout}s")


def _lua(path: Path, delay_ms: float | None) -> None:
    lines = [
        'wrk.method = "POST"',
        f"wrk.body = '{BODY}'",
        'wrk.headers["Content-Type"] = "application/json"',
    ]
    if delay_ms is not None:
        lines.append(f"function delay() return {delay_ms:.3f} end")
    path.write_text("\n".join(lines) + "\n")


def _wrk(url: str, seconds: float, script: Path) -> dict[str, Any]:
    out = subprocess.run(
        ["wrk", "-t2", f"-c{CONNECTIONS}", f"-d{max(1, round(seconds))}s", "-s", str(script), url],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    total = int(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]
    m = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    non2xx = int(m.group(1)) if m else 0
    s = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    sock = sum(int(x) for x in s.groups()) if s else 0
    return {"rps": rps, "requests": total, "non_2xx": non2xx, "socket_errors": sock, "raw": out}


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def _metric(text: str, name: str) -> float:
    total = 0.0
    for line in text.splitlines():
        if line.startswith(name + "{") or line.startswith(name + " "):
            total += float(line.rsplit(" ", 1)[1])
    return total


def run(duration: float, probe: float = 10.0, workdir: Path | None = None) -> dict[str, Any]:
    """Run the whole soak; the result dict (see the module doc for the pass criteria)."""
    tmp = Path(workdir or tempfile.mkdtemp(prefix="sg-soak-"))
    up_port, cand_port, data, admin = _port(), _port(), _port(), _port()
    # production and candidate are separate servers, as in a real deployment: sharing one
    # single-threaded server would queue each mirror behind its production request and
    # make the candidate look slower than it is
    up = subprocess.Popen([sys.executable, str(HERE / "upstream.py"), "--port", str(up_port)])
    cand = subprocess.Popen([sys.executable, str(HERE / "upstream.py"), "--port", str(cand_port)])
    cfg = {
        "server": {
            "listen": f"127.0.0.1:{data}",
            "admin_listen": f"127.0.0.1:{admin}",
            "shutdown_timeout": "10s",
        },
        "store": {"url": f"sqlite:///{tmp}/soak.db", "queue_size": 100_000},
        "routes": [
            {
                "name": "m",
                "match": {"path_prefix": "/v2/models/m"},
                "production": {"url": f"http://127.0.0.1:{up_port}"},
                "candidate": {"url": f"http://127.0.0.1:{cand_port}"},
                # never decides during the soak: a decision would stop mirroring midway. Two
                # upstream processes on a busy 2-core machine do not answer equally fast, so
                # a latency check could roll back; the soak is about accounting and memory
                "analysis": {
                    "min_samples": 50_000_000,
                    "max_samples": 100_000_000,
                    "checks": [{"metric": "agreement", "min": 0.0}],
                },
            }
        ],
    }
    (tmp / "soak.yaml").write_text(yaml.safe_dump(cfg))
    log = (tmp / "serve.log").open("wb")
    sg = subprocess.Popen(
        [sys.executable, "-m", "shadowgate.cli", "serve", "-c", str(tmp / "soak.yaml")],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{data}/v2/models/m/infer"
    admin_url = f"http://127.0.0.1:{admin}"
    try:
        _wait(f"http://127.0.0.1:{up_port}/", up)
        _wait(f"http://127.0.0.1:{cand_port}/", cand)
        _wait(f"{admin_url}/readyz", sg)
        script = tmp / "post.lua"
        _lua(script, None)
        peak = _wrk(url, probe, script)
        target = peak["rps"] / 2
        # each connection waits `delay` between requests: CONNECTIONS / delay ≈ target
        _lua(script, 1000 * CONNECTIONS / target)
        samples: list[tuple[float, float]] = []
        stop = threading.Event()

        def sample() -> None:
            t0 = time.monotonic()
            while not stop.wait(1.0):
                samples.append((time.monotonic() - t0, _rss_mb(sg.pid)))

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        soak = _wrk(url, duration, script)
        stop.set()
        sampler.join()
        # every outcome written or dropped before the counts are read
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            rec = json.loads(_get(f"{admin_url}/api/status"))["recording"]
            if rec["outcomes_pending"] == 0 and rec["exchanges_pending"] == 0:
                break
            time.sleep(0.2)
        status = json.loads(_get(f"{admin_url}/api/status"))
        metrics = _get(f"{admin_url}/metrics").decode()
        sg.send_signal(signal.SIGTERM)
        code = sg.wait(60)
    finally:
        for p in (sg, up, cand):
            if p.poll() is None:
                p.kill()
                p.wait()
        log.close()
    with sqlite3.connect(tmp / "soak.db") as conn:
        stored = int(conn.execute("SELECT count(*) FROM outcomes").fetchone()[0])
    counts = status["routes"]["m"]["counts"]
    rss = [r for _, r in samples]
    warm = max(1, len(rss) // 5)  # the first fifth is warm-up (pools, caches, arenas)
    result = {
        "duration_s": duration,
        "probe_s": probe,
        "connections": CONNECTIONS,
        "max_rps": round(peak["rps"], 1),
        "target_rps": round(target, 1),
        "soak_rps": round(soak["rps"], 1),
        "requests": soak["requests"] + peak["requests"],
        "soak_requests": soak["requests"],
        "client_errors": soak["non_2xx"] + soak["socket_errors"],
        "probe_client_errors": peak["non_2xx"] + peak["socket_errors"],
        "rss_mb": {
            "start": round(rss[0], 1) if rss else None,
            "after_warmup": round(statistics.median(rss[warm : 2 * warm]), 1) if rss else None,
            "end": round(statistics.median(rss[-warm:]), 1) if rss else None,
            "max": round(max(rss), 1) if rss else None,
        },
        "rss_growth_mb": (
            round(statistics.median(rss[-warm:]) - statistics.median(rss[warm : 2 * warm]), 1)
            if len(rss) >= 3
            else 0.0
        ),
        "mirrored": counts["mirrored"],
        "pairs": counts["pairs"],
        "stored": stored,
        "dropped": _metric(metrics, "shadowgate_outcomes_dropped_total"),
        "mirror_dropped": counts["mirror_dropped"],
        "exit_code": code,
        "rss_samples": [(round(t, 1), round(r, 1)) for t, r in samples],
    }
    return result


def passed(r: dict[str, Any]) -> list[str]:
    """What failed (empty when the soak passed)."""
    bad = []
    if r["client_errors"]:
        bad.append(f"{r['client_errors']} client errors")
    if r["rss_growth_mb"] >= 50:
        bad.append(f"RSS grew {r['rss_growth_mb']} MB")
    if not (r["stored"] + r["dropped"] == r["pairs"] == r["mirrored"]):
        bad.append(
            f"stored {r['stored']} + dropped {r['dropped']} != pairs {r['pairs']}"
            f" / mirrored {r['mirrored']}"
        )
    if r["exit_code"] != 0:
        bad.append(f"exit code {r['exit_code']}")
    return bad


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--duration", type=float, default=600.0, help="soak seconds (default 600)")
    p.add_argument("--probe", type=float, default=10.0, help="seconds to measure the maximum")
    p.add_argument("--out", type=Path, default=HERE / "results" / "soak.json")
    a = p.parse_args()
    r = run(a.duration, a.probe)
    a.out.parent.mkdir(parents=True, exist_ok=True)
    a.out.write_text(json.dumps(r, indent=1) + "\n")
    summary = {k: v for k, v in r.items() if k != "rss_samples"}
    print(json.dumps(summary, indent=1))
    bad = passed(r)
    print("PASS" if not bad else "FAIL: " + "; ".join(bad))
    return 0 if not bad else 1


if __name__ == "__main__":
    sys.exit(main())
