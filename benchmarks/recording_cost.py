"""CPU per exchange of the recording path, stage by stage, on the realistic payload.

    .venv/bin/python benchmarks/recording_cost.py [--n 20000] [--json FILE]

The same stages as ``shadowgate serve`` runs after a response has been sent, without the
network: the recorder (:class:`~shadowgate.recording.recorder.Recorder`: the shared decode,
:func:`~shadowgate.compare.outcome.build_outcome`, the join key), the store's batch writer
and a real SQLite file (encode, insert, commit). Each stage is timed on its own, then the
whole path end to end (this process's CPU time, every thread, so the store's thread counts;
the garbage collector set as ``serve`` sets it):

- ``build_outcome``: decode the request and both answers, split, compare;
- ``to_row``: an outcome record as the store's column values (packed predictions);
- ``sqlite insert``: ``insert_outcomes`` in batches of 100 (encode included);
- ``recorder + writer + sqlite``: exchanges submitted to a recorder that writes to a batch
  writer on SQLite, until everything is committed.

Payload: ``benchmarks/payloads/`` (an OIP v2 batch of 32 rows x 30 FP32 features answered
with 32 x 2 FP64 probabilities), the candidate's probabilities moved a little as in
``compare_cost.py``. The request ids are random, as real ones are (an index on them costs
more than on sequential ones).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import sys
import tempfile
import time
import uuid
from dataclasses import replace
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from compare_cost import _exchange, _payloads

from shadowgate.commands.serve import settle_heap
from shadowgate.compare.outcome import build_outcome
from shadowgate.config.model import RouteConfig
from shadowgate.model.exchange import Exchange
from shadowgate.model.routing import Routing
from shadowgate.recording.recorder import Recorder
from shadowgate.store import codec, open_store
from shadowgate.store.writer import BatchWriter

ROUTE = RouteConfig.model_validate(
    {
        "name": "bench",
        "match": {"path_prefix": "/v2/models/m"},
        "production": {"url": "http://127.0.0.1:1"},
        "candidate": {"url": "http://127.0.0.1:2"},
        "protocol": "open-inference-v2",
    }
)


def _cpu() -> float:
    return time.process_time()


def _exchanges(n: int) -> list[Exchange]:
    req, prod, cand = _payloads()["realistic"]
    one = _exchange(req, prod, cand)
    return [replace(one, request_id=uuid.uuid4().hex, ts=time.time()) for _ in range(n)]


async def _stages(n: int, workdir: Path) -> dict[str, float]:
    exchanges = _exchanges(n)
    out: dict[str, float] = {}

    t = _cpu()
    records = [build_outcome(ex, ROUTE, "r-1") for ex in exchanges]
    out["build_outcome"] = (_cpu() - t) / n * 1e6

    t = _cpu()
    for r in records:
        codec.to_row(r)
    out["to_row"] = (_cpu() - t) / n * 1e6

    store = open_store(f"sqlite:///{workdir / 'insert.db'}")
    await store.open()
    try:
        t = _cpu()
        for i in range(0, n, 100):
            await store.insert_outcomes(records[i : i + 100])
        out["sqlite insert"] = (_cpu() - t) / n * 1e6
    finally:
        await store.close()

    store = open_store(f"sqlite:///{workdir / 'path.db'}")
    await store.open()
    try:
        writer = BatchWriter(store, flush_interval=0.02)
        writer.start()
        routing = Routing(mode="shadow", rollout_id="r-1")
        rec = Recorder(route_config=lambda _: ROUTE, routing=lambda _: routing, write=writer.put)
        task = asyncio.create_task(rec.run())
        more = _exchanges(n)
        t = _cpu()
        for i in range(0, n, 50):  # as the data plane hands them over: a few per loop turn
            for ex in more[i : i + 50]:
                rec.submit(ex)
            await asyncio.sleep(0)
        await rec.close()
        await task
        await writer.close(timeout=600)
        out["recorder + writer + sqlite"] = (_cpu() - t) / n * 1e6
        stats = rec.stats()
        assert stats.written == n and writer.written == n, (stats, writer.written)
    finally:
        await store.close()
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=20_000, help="exchanges per stage")
    ap.add_argument("--json", type=Path, help="also write the figures here")
    args = ap.parse_args()
    settle_heap()  # the collector as `shadowgate serve` sets it
    with tempfile.TemporaryDirectory(prefix="sg-recording-") as tmp:
        res = asyncio.run(_stages(args.n, Path(tmp)))
    for stage, us in res.items():
        print(f"{stage:<28} {us:8.1f} µs CPU per exchange")
    load = os.getloadavg()[0]
    print(f"1-minute load average {load:.1f} on {os.cpu_count()} cores (load slows CPU time too)")
    if args.json:
        meta: dict[str, Any] = {
            "python": platform.python_version(),
            "machine": platform.processor() or platform.machine(),
            "cores": os.cpu_count(),
            "load_average_1m": load,
            "n": args.n,
        }
        args.json.write_text(json.dumps({"meta": meta, "us_per_exchange": res}, indent=2) + "\n")


if __name__ == "__main__":
    main()
