"""Where shadowgate's CPU goes: py-spy on ``shadowgate serve`` under load, summed by part.

    .venv/bin/pip install py-spy
    .venv/bin/python benchmarks/profile_proxy.py                  # 1 000 req/s, recording on
    .venv/bin/python benchmarks/profile_proxy.py --saturate       # wrk -c64 instead
    .venv/bin/python benchmarks/profile_proxy.py --no-record      # recording off
    .venv/bin/python benchmarks/profile_proxy.py --realistic      # OIP 32 x 30 in, 32 x 2 out

Same layout as ``benchmarks/proxy.py``: nginx upstreams (production and candidate) and
the load generator on core 0, shadowgate pinned to core 1. py-spy samples every thread
(``--idle`` off: only samples of a thread doing work count) and the raw stacks are summed
by ``benchmarks/profile_summary.py``; they are kept under ``benchmarks/results/`` with
``--out``.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import benchlib as bl
import profile_summary
from benchlib import PY, Layout, Stack
from proxy import fixed, settle, wrk

UP_PROD, UP_CAND, PORT, ADMIN = 18001, 18002, 18020, 18120
PAYLOADS = Path(__file__).resolve().parent / "payloads"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seconds", type=float, default=8.0)
    ap.add_argument("--rate", type=float, default=1000.0)
    ap.add_argument("--saturate", action="store_true", help="wrk -c64 instead of a fixed rate")
    ap.add_argument("--no-record", action="store_true", help="the data plane only")
    ap.add_argument("--out", type=Path, help="keep the raw py-spy stacks here")
    ap.add_argument(
        "--realistic",
        action="store_true",
        help="the realistic payload (benchmarks/payloads: 32 x 30 FP32 in, 32 x 2 FP64 out) "
        "instead of the tiny body",
    )
    args = ap.parse_args(argv)
    spy = shutil.which("py-spy") or str(Path(PY).parent / "py-spy")
    if not Path(spy).exists():
        raise SystemExit("py-spy is missing: .venv/bin/pip install py-spy")
    layout = Layout.default(pin=True)
    with tempfile.TemporaryDirectory(prefix="sg-profile-") as tmp:
        stack = Stack(Path(tmp), layout)
        try:
            answer = (PAYLOADS / "oip-response-32x2.json").read_text().strip()
            servers = (
                bl.nginx_upstream_servers([UP_PROD, UP_CAND], answer)
                if args.realistic
                else bl.nginx_upstream_servers([UP_PROD, UP_CAND])
            )
            conf = bl.nginx_conf(stack.workdir, "upstream", servers)
            stack.start("upstream", ["nginx", "-c", str(conf)], proxy=False)
            cfg = bl.shadowgate_config(stack.workdir, "sg", PORT, ADMIN, UP_PROD, UP_CAND)
            proc = stack.start("sg", bl.shadowgate_cmd(cfg, record=not args.no_record), proxy=True)
            bl.wait_port(PORT)
            bl.progress("warming up")
            wrk(layout, stack.workdir, PORT, 1, 16)
            settle(_Target(PORT))
            raw = Path(tmp) / "profile.txt"
            seconds = max(1, round(args.seconds))
            spy_cmd = [spy, "record", "-p", str(proc.pid), "-d", str(seconds), "-r", "250"]
            spy_cmd += ["-f", "raw", "-o", str(raw), "--nonblocking", "--threads"]
            bl.progress(f"py-spy for {seconds}s while loading shadowgate")
            sampler = subprocess.Popen(
                layout.wrap(spy_cmd, proxy=False),
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            time.sleep(0.5)
            cpu0 = bl.cpu_seconds(proc.pid)
            t0 = time.monotonic()
            if args.saturate:
                load = wrk(layout, stack.workdir, PORT, seconds, 64)
                sent = load["rps"] * seconds
            else:
                body = (PAYLOADS / "oip-request-32x30.json").read_text().strip()
                load = fixed(
                    layout, PORT, args.rate, seconds, 0.0, body if args.realistic else None
                )
                sent = load["sent"]
            used = bl.cpu_seconds(proc.pid) - cpu0
            wall = time.monotonic() - t0
            sampler.wait(timeout=seconds + 30)
            print(f"load: {load}")
            print(
                f"CPU: {used:.2f} s over {wall:.1f} s wall = {used / max(1, sent) * 1e6:.0f} µs "
                f"per request ({sent:.0f} requests)"
            )
            for part, pct in profile_summary.summarize(str(raw)):
                print(f"{pct:5.1f} %  {part}")
            if args.out is not None:
                args.out.write_bytes(raw.read_bytes())
                print(f"raw stacks: {args.out}")
        finally:
            stack.close()
    return 0


class _Target:
    """Just enough of ``proxy.Target`` for ``settle``."""

    def __init__(self, port: int) -> None:
        self.port = port


if __name__ == "__main__":
    sys.exit(main())
