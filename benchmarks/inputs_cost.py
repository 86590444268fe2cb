"""CPU per recorded request of the input checks, at the realistic payload (DESIGN §6):
an OIP v2 batch of 32 rows x 30 FP32 features answered with 32 x 2 FP64 probabilities.

Times, per request, on the recording path as the gateway runs it (InputWatch.observe):
schema validation alone, then validation + drift monitors on all 30 features and the
prediction, and the enforce check on the request path. Then the whole recording path as
the recorder runs it (``Recorder.process``: the input checks, then the outcome with its
comparison), without and with the checks, so that what the checks add to the outcome
(including any decode they do not share with it) is measured too. Process CPU time,
median of ``--repeat`` rounds.

.venv/bin/python benchmarks/inputs_cost.py [--requests 3000] [--repeat 5] [--json FILE]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
from pathlib import Path
from typing import Any

import numpy as np

from shadowgate.compare.protocols import loads
from shadowgate.config.model import ShadowgateConfig
from shadowgate.inputs import ModelSchema
from shadowgate.model.exchange import Exchange, Side
from shadowgate.recording.inputs_watch import InputWatch
from shadowgate.recording.recorder import Recorder

ROWS, COLS = 32, 30
SCHEMA = ModelSchema.from_metadata(
    {"inputs": [{"name": "input-0", "datatype": "FP32", "shape": [-1, COLS]}]}
)


def config(drift: bool, every: int = 1) -> ShadowgateConfig:
    r: dict[str, Any] = {
        "name": "m",
        "match": {"path_prefix": "/v2/models/m"},
        "production": {"url": "http://127.0.0.1:1"},
        "candidate": {"url": "http://127.0.0.1:2"},
        "protocol": "open-inference-v2",
        "validation": {"schema": "auto", "enforce": True},
    }
    if drift:
        r["drift"] = {"reference": 10_000, "every": every}
    return ShadowgateConfig.model_validate({"routes": [r]})


def exchanges(n: int, rng: np.random.Generator) -> list[Exchange]:
    out = []
    for i in range(n):
        x = np.round(rng.standard_normal((ROWS, COLS)), 4)  # ~8 KB, as DESIGN §6
        req = {
            "id": f"r{i}",
            "inputs": [
                {
                    "name": "input-0",
                    "datatype": "FP32",
                    "shape": [ROWS, COLS],
                    "data": x.ravel().tolist(),
                }
            ],
        }
        p = rng.random(ROWS)
        resp = {
            "outputs": [
                {
                    "name": "p",
                    "datatype": "FP64",
                    "shape": [ROWS, 2],
                    "data": np.column_stack([p, 1 - p]).ravel().tolist(),
                }
            ]
        }
        side = Side(status=200, latency=0.003, body=json.dumps(resp).encode())
        out.append(
            Exchange(
                "m",
                f"r{i}",
                1000.0 + i * 0.001,
                "shadow",
                "production",
                "POST",
                "/v2/models/m/infer",
                json.dumps(req).encode(),
                "application/json",
                None,
                side,
                side,
            )
        )
    return out


def per_request(watch: InputWatch | None, batch: list[Exchange], enforce: bool = False) -> float:
    t0 = time.process_time()
    if watch is None:  # the baseline: parsing the request body, which any check needs
        for ex in batch:
            loads(ex.request_body or b"")
    elif enforce:
        for ex in batch:
            watch.reject("m", ex.request_body)
    else:
        for ex in batch:
            watch.observe(ex)
    return (time.process_time() - t0) / len(batch) * 1e6


def recorded(cfg: ShadowgateConfig, watch: InputWatch | None, batch: list[Exchange]) -> float:
    """CPU per request of ``Recorder.process`` (input checks, then the outcome)."""
    rec = Recorder(
        route_config=cfg.route, routing=lambda _: None, write=lambda _: None, queue_size=len(batch)
    )
    if watch is not None:
        rec.observers.append(watch.observe)
    for ex in batch:
        rec.submit(ex)
    t0 = time.process_time()
    rec.process()
    return (time.process_time() - t0) / len(batch) * 1e6


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--requests", type=int, default=3000)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args()
    rng = np.random.default_rng(0)
    # fills the drift reference (10 000 monitored rows) at every: 4 too, so that the cases
    # time monitoring, not the reference's collection
    warm = exchanges(4 * 10_000 // ROWS + 1, rng)
    batch = exchanges(args.requests, rng)
    results: dict[str, float] = {}
    cases: dict[str, tuple[bool, int, bool] | None] = {
        "baseline: parsing the request body (orjson)": None,
        "validation only (recording path)": (False, 1, False),
        "validation + drift, 31 features (recording path)": (True, 1, False),
        "validation + drift, every 4th row": (True, 4, False),
        "enforce check (request path)": (False, 1, True),
    }
    size = len(batch[0].request_body or b"")
    print(f"request body {size:,} bytes")
    for name, case in cases.items():
        rounds = []
        for _ in range(args.repeat):
            if case is None:
                rounds.append(per_request(None, batch))
                continue
            drift, every, enforce = case
            watch = InputWatch()
            watch.configure(config(drift, every))
            watch.set_schemas("m", SCHEMA, SCHEMA)
            for ex in warm:
                watch.observe(ex)
            watch.status("m")  # feeds what is buffered: the reference is complete
            rounds.append(per_request(watch, batch, enforce))
        results[name] = round(statistics.median(rounds), 1)
        print(f"{name:<52} {results[name]:>8.1f} us/request (CPU)")
    recorder_cases = {
        "recorder: outcome only (no input checks)": False,
        "recorder: outcome + validation + drift, every 4th row": True,
    }
    for name, checks in recorder_cases.items():
        rounds = []
        for _ in range(args.repeat):
            cfg = config(True, 4)
            watch = None
            if checks:
                watch = InputWatch()
                watch.configure(cfg)
                watch.set_schemas("m", SCHEMA, SCHEMA)
                for ex in warm:
                    watch.observe(ex)
                watch.status("m")
            rounds.append(recorded(cfg, watch, batch))
        results[name] = round(statistics.median(rounds), 1)
        print(f"{name:<52} {results[name]:>8.1f} us/request (CPU)")
    base, full = (results[k] for k in recorder_cases)
    results["recorder: what the input checks add"] = round(full - base, 1)
    print(f"{'recorder: what the input checks add':<52} {full - base:>8.1f} us/request (CPU)")
    if args.json is not None:
        payload = {
            "payload": f"{ROWS} x {COLS} FP32",
            "requests": args.requests,
            "repeat": args.repeat,
            # a shared machine: what else ran is part of the numbers
            "meta": {
                "python": platform.python_version(),
                "cores": os.cpu_count(),
                "load_average_1m": round(os.getloadavg()[0], 2),
            },
            "us_per_request": results,
        }
        args.json.write_text(json.dumps(payload, indent=2) + "\n")


if __name__ == "__main__":
    main()
