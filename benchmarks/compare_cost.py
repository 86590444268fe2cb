"""CPU cost of turning one exchange into an outcome: the per-element way against the current one.

    nice -n 10 .venv/bin/python benchmarks/compare_cost.py [--seconds 0.5] [--json FILE]

Times :func:`shadowgate.compare.build_outcome` (decode both answers and the request, split the
predictions by row, compare) against the per-element reference kept in
``tests/compare/reference_compare.py`` (standard ``json``, Python lists, element by element),
on the same exchanges:

- ``realistic``: the reference payload in ``benchmarks/payloads/`` (an OIP v2 batch of 32 rows
  x 30 FP32 features answered with 32 x 2 FP64 probabilities), the candidate's probabilities
  moved a little so some rows disagree;
- ``tiny``: a one-row request answered with one pair of probabilities.

Prints CPU microseconds per outcome (this process's CPU time, best of several rounds, so
other work on a shared machine weighs less than on a wall clock) and the ratio old / new.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT / "tests" / "compare"))

from reference_compare import build_outcome as reference_build_outcome  # noqa: E402

from shadowgate.compare.outcome import build_outcome  # noqa: E402
from shadowgate.config.model import RouteConfig  # noqa: E402
from shadowgate.model.exchange import Exchange, Side  # noqa: E402

BENCH = Path(__file__).resolve().parent / "payloads"
TINY_REQUEST = b'{"inputs":[{"name":"x","shape":[1,4],"datatype":"FP32","data":[1.0,2.0,3.0,4.0]}]}'
TINY_RESPONSE = (
    b'{"model_name":"m","outputs":[{"name":"probabilities","shape":[1,2],'
    b'"datatype":"FP64","data":[0.25,0.75]}]}'
)


def _payloads() -> dict[str, tuple[bytes, bytes, bytes]]:
    request = (BENCH / "oip-request-32x30.json").read_bytes()
    response = (BENCH / "oip-response-32x2.json").read_bytes()
    doc = json.loads(response)
    data = doc["outputs"][0]["data"]
    # the candidate moves each probability pair by up to 0.15 towards the other class
    moved = []
    for i in range(0, len(data), 2):
        shift = 0.15 * ((i * 7919) % 11) / 10
        p = min(1.0, max(0.0, data[i] + shift))
        moved += [round(p, 6), round(1.0 - p, 6)]
    doc["outputs"][0]["data"] = moved
    candidate = json.dumps(doc).encode()
    tiny_cand = TINY_RESPONSE.replace(b"0.25,0.75", b"0.5500001,0.4499999")
    return {
        "realistic": (request, response, candidate),
        "tiny": (TINY_REQUEST, TINY_RESPONSE, tiny_cand),
    }


def _exchange(request: bytes, prod: bytes, cand: bytes) -> Exchange:
    def side(body: bytes) -> Side:
        return Side(status=200, latency=0.003, body=body, content_type="application/json")

    return Exchange(
        route="bench",
        request_id="r-1",
        ts=0.0,
        kind="shadow",
        variant="production",
        method="POST",
        path="/v2/models/m/infer",
        request_body=request,
        request_content_type="application/json",
        segment=None,
        production=side(prod),
        candidate=side(cand),
    )


def _per_call_us(fn: Callable[[], Any], seconds: float, rounds: int = 5) -> float:
    n = 1
    while True:  # calibrate: enough calls for a round of about `seconds`
        t0 = time.process_time()
        for _ in range(n):
            fn()
        took = time.process_time() - t0
        if took >= seconds / 10:
            break
        n *= 2
    n = max(1, int(n * seconds / max(took, 1e-9) / 10))
    best = float("inf")
    for _ in range(rounds):
        t0 = time.process_time()
        for _ in range(n):
            fn()
        best = min(best, (time.process_time() - t0) / n)
    return best * 1e6


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seconds", type=float, default=0.5, help="length of one timing round")
    ap.add_argument("--json", type=Path, help="also write the figures here")
    args = ap.parse_args()
    route = RouteConfig.model_validate(
        {
            "name": "bench",
            "match": {"path_prefix": "/v2/models/m"},
            "production": {"url": "http://127.0.0.1:1"},
            "candidate": {"url": "http://127.0.0.1:2"},
            "protocol": "open-inference-v2",
        }
    )
    results: dict[str, dict[str, float]] = {}
    print(f"{'payload':<10} {'old µs':>9} {'new µs':>9} {'old/new':>8}  agree (new == old)")
    for name, (req, prod, cand) in _payloads().items():
        ex = _exchange(req, prod, cand)
        new, old = build_outcome(ex, route, "x"), reference_build_outcome(ex, route, "x")
        same = (new.agree, new.prob_gap, new.prod_pred) == (old.agree, old.prob_gap, old.prod_pred)
        t_old = _per_call_us(lambda ex=ex: reference_build_outcome(ex, route, "x"), args.seconds)
        t_new = _per_call_us(lambda ex=ex: build_outcome(ex, route, "x"), args.seconds)
        agreed = sum(new.agree or [])
        print(
            f"{name:<10} {t_old:>9.1f} {t_new:>9.1f} {t_old / t_new:>7.2f}x"
            f"  {agreed}/{len(new.agree or [])} rows ({'same' if same else 'DIFFERENT'})"
        )
        results[name] = {"old_us": t_old, "new_us": t_new, "same": float(same)}
    load = os.getloadavg()[0]
    print(f"1-minute load average {load:.1f} on {os.cpu_count()} cores (load slows CPU time too)")
    if args.json:
        meta = {
            "python": platform.python_version(),
            "cores": os.cpu_count(),
            "load_average_1m": round(load, 2),
            "seconds_per_round": args.seconds,
        }
        args.json.write_text(json.dumps({"meta": meta, "results": results}, indent=2) + "\n")


if __name__ == "__main__":
    main()
