"""What any background CPU on the proxy's own core costs the client's p99.

Recording (building outcomes, the SQLite writer) and the judge are CPU work that shares
the data plane's core when the proxy is confined to one (``benchmarks/proxy.py`` pins it
to one, like nginx's single worker). This script separates the cost of *sharing a core*
from the cost of any particular piece of code: it runs shadowgate with recording off at
1 000 req/s, alone and beside a synthetic burner on the same core that is busy in 4 ms
bursts for a quarter of the time (about what recording takes at that rate), once at
nice 10 and once under ``SCHED_IDLE`` (the weakest priority Linux has), and then in
0.3 ms bursts (the same quarter of a core, sliced finely).

If the kernel handed the core back to the proxy at once, the p99 with the 4 ms burner
would match the p99 alone. It does not, whatever the burner's priority: the client pays
for long background bursts whether they run as a thread or as another process. What
matters is how long each burst is, which is why shadowgate's background work (recording,
encoding, the judge's folding of outcomes) runs in slices of at most a millisecond.

    .venv/bin/python benchmarks/core_sharing.py            # 3 repetitions, ~3 minutes

Writes ``benchmarks/results/core_sharing.{json,md}``.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import benchlib as bl
import proxy as bench


def burner(busy: float) -> str:
    """A process busy for ``busy`` seconds, then asleep three times as long: 25 % of a core."""
    return (
        "import time\n"
        "while True:\n"
        "    t = time.perf_counter()\n"
        f"    while time.perf_counter() - t < {busy}:\n"
        "        pass\n"
        f"    time.sleep({3 * busy})\n"
    )


#: scenario -> (scheduling policy prefix, burst length) or None for the proxy alone
SCENARIOS: dict[str, tuple[list[str], float] | None] = {
    "alone": None,
    "4 ms bursts at nice 10": (["nice", "-n", "10"], 0.004),
    "4 ms bursts under SCHED_IDLE": (["chrt", "-i", "0"], 0.004),
    "0.3 ms bursts at nice 10": (["nice", "-n", "10"], 0.0003),
}


def run(args: argparse.Namespace) -> dict[str, Any]:
    layout = bl.Layout.default(True)
    if layout.proxy is None:
        raise SystemExit("needs taskset and at least 2 cores")
    reps: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="sg-core-") as tmp:
        stack = bl.Stack(Path(tmp), layout)
        try:
            bench.start_fixtures(stack)
            cfg = bl.shadowgate_config(
                Path(tmp), "sg", bench.PY_PORT, bench.PY_ADMIN, bench.UP_PROD, bench.UP_CAND
            )
            for i in range(args.repeat):
                bl.progress(f"repetition {i + 1}/{args.repeat}")
                rep: dict[str, Any] = {}
                for name, how in SCENARIOS.items():
                    proc = stack.start("sg", bl.shadowgate_cmd(cfg, record=False), proxy=True)
                    bl.wait_port(bench.PY_PORT)
                    bg = None
                    if how is not None:
                        policy, busy = how
                        cmd = ["taskset", "-c", layout.proxy, *policy, bl.PY, "-c", burner(busy)]
                        bg = subprocess.Popen(cmd)
                    time.sleep(0.5)
                    try:
                        out = bench.fixed(layout, bench.PY_PORT, args.rate, args.seconds, 1.0)
                    finally:
                        if bg is not None:
                            bg.kill()
                            bg.wait()
                        stack.stop(proc)
                    rep[name] = out["latency_ms"]
                    bl.progress(f"  {name}: p99 {out['latency_ms']['p99']:.2f} ms")
                reps.append(rep)
        finally:
            stack.close()
    summary = {
        name: {q: sorted(r[name][q] for r in reps)[len(reps) // 2] for q in ("p50", "p99", "p99.9")}
        for name in SCENARIOS
    }
    return {
        "command": "benchmarks/core_sharing.py " + " ".join(sys.argv[1:]),
        "machine": bl.machine(layout),
        "rate": args.rate,
        "seconds": args.seconds,
        "repetitions": reps,
        "summary": summary,
    }


def markdown(doc: dict[str, Any]) -> str:
    m = doc["machine"]
    lines = [
        "# Sharing the proxy's core",
        "",
        f"`{doc['command'].strip()}`: shadowgate with recording off at {doc['rate']:g} req/s "
        f"for {doc['seconds']:g} s, alone and beside a burner on the same core busy 25 % of "
        f"the time in bursts; median of {len(doc['repetitions'])} repetitions.",
        "",
        f"Machine: {m['cpu']}, {m['cores']} cores, Linux {m['kernel']}, Python {m['python']}. "
        f"{m['pinning']}.",
        "",
        "| scenario | p50 ms | p99 ms | p99.9 ms |",
        "|---|---:|---:|---:|",
    ]
    for name, s in doc["summary"].items():
        lines.append(f"| {name} | {s['p50']:.2f} | {s['p99']:.2f} | {s['p99.9']:.2f} |")
    return "\n".join(lines) + "\n"


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--seconds", type=float, default=10.0)
    p.add_argument("--rate", type=float, default=1000.0)
    p.add_argument("--out", type=Path, default=bl.HERE / "results")
    args = p.parse_args()
    for tool in ("nginx", "taskset", "chrt"):
        if shutil.which(tool) is None:
            print(f"{tool} is required", file=sys.stderr)
            return 2
    if os.getloadavg()[0] > 0.5:
        bl.progress("warning: the machine is busy; numbers may be disturbed")
    doc = run(args)
    bl.dump(args.out / "core_sharing.json", doc)
    md = markdown(doc)
    (args.out / "core_sharing.md").write_text(md)
    print(md)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
