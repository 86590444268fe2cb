"""Store throughput per backend: outcome inserts, BatchWriter, cursor reads, feedback over HTTP.

.venv/bin/python benchmarks/store_insert.py [--quick] [--backend sqlite|postgres|all]
    [--n 100000] [--batch 500] [--rows 4] [--probs 0] [--json benchmarks/results/store_insert.json]

Outcomes look like real shadow pairs (a ``--rows``-row batch request: predictions,
agreement; class labels, or with ``--probs K`` K probabilities per row: ``--rows 32
--probs 2`` is the realistic batch of ``benchmarks/proxy.py``).
Feedback is posted to the real ``POST /api/feedback`` handler on a loopback aiohttp server,
both one label per request and 100 per request, by several concurrent clients.
PostgreSQL runs in a throwaway schema and is skipped (with the reason) if unreachable.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import socket
import tempfile
import time
import urllib.parse
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
from aiohttp import web

from shadowgate.admin.feedback import add_feedback_routes
from shadowgate.store import OutcomeRecord, Store, open_store
from shadowgate.store.writer import BatchWriter

PG_URL = os.environ.get("SHADOWGATE_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")


def _probs(seed: int, k: int) -> list[float]:
    """``k`` probabilities summing to 1, different per seed (full FP64 mantissas)."""
    raw = [((seed * 2654435761 + j * 40503) % 1_000_003) / 1_000_003 + 1e-3 for j in range(k)]
    total = sum(raw)
    return [x / total for x in raw]


def predictions(
    i: int, rows: int, probs: int
) -> tuple[list[bool], list[Any], list[Any], list[float]]:
    """``agree, prod_pred, cand_pred, prob_gap`` of the ``i``-th ``rows``-row request:
    class labels, or with ``probs`` > 0 a vector of that many probabilities per row."""
    prod_pred: list[Any]
    cand_pred: list[Any]
    if probs:
        prod_pred = [_probs(i * 31 + k, probs) for k in range(rows)]
        cand_pred = [_probs(i * 37 + k, probs) for k in range(rows)]
        gaps = [
            max(abs(a - b) for a, b in zip(p, c, strict=True))
            for p, c in zip(prod_pred, cand_pred, strict=True)
        ]
        agree = [
            p.index(max(p)) == c.index(max(c)) for p, c in zip(prod_pred, cand_pred, strict=True)
        ]
    else:
        prod_pred = [(i + k) % 2 for k in range(rows)]
        cand_pred = [(i + k + (k == 2)) % 2 for k in range(rows)]
        gaps = [(k % 4) * 0.13 for k in range(rows)]
        agree = [p == c for p, c in zip(prod_pred, cand_pred, strict=True)]
    return agree, prod_pred, cand_pred, gaps


def outcome(i: int, rows: int = 4, probs: int = 0) -> OutcomeRecord:
    agree, prod_pred, cand_pred, gaps = predictions(i, rows, probs)
    return OutcomeRecord(
        route="bench",
        rollout_id="bench-1",
        request_id=f"req-{i:09d}",
        ts=time.time(),
        kind="shadow",
        variant="production",
        prod_status=200,
        prod_latency=0.012,
        cand_status=200,
        cand_latency=0.013,
        rows=rows,
        agree=agree,
        prod_pred=prod_pred,
        cand_pred=cand_pred,
        prob_gap=gaps,
    )


async def bench_backend(
    url: str, n: int, batch: int, feedback_n: int, shape: tuple[int, int] = (4, 0)
) -> dict[str, float]:
    store = open_store(url)
    await store.open()
    out: dict[str, float] = {}
    try:
        recs = [outcome(i, *shape) for i in range(n)]
        t0 = time.perf_counter()
        for i in range(0, n, batch):
            await store.insert_outcomes(recs[i : i + batch])
        dt = time.perf_counter() - t0
        out["insert_rows_per_s"] = n / dt
        out["insert_us_per_row"] = dt / n * 1e6

        writer = BatchWriter(store, queue_size=n, batch_size=batch, flush_interval=0.05)
        writer.start()
        more = [outcome(n + i, *shape) for i in range(n)]
        t0 = time.perf_counter()
        for i in range(0, n, 100):  # the data plane hands over small groups
            writer.put(more[i : i + 100])
        put_s = time.perf_counter() - t0
        await writer.close(timeout=600)
        out["writer_rows_per_s"] = writer.written / (time.perf_counter() - t0)
        out["writer_put_us_per_record"] = put_s / n * 1e6
        assert writer.written == n, writer.stats()

        t0 = time.perf_counter()
        after, seen = 0, 0
        while page := await store.read_outcomes("bench", after, 1000):
            after, seen = page[-1].id, seen + len(page)
        out["cursor_read_rows_per_s"] = seen / (time.perf_counter() - t0)

        out.update(await bench_feedback(store, feedback_n))
    finally:
        await store.close()
    return out


async def bench_feedback(store: Store, n: int, clients: int = 8) -> dict[str, float]:
    app = web.Application(client_max_size=50 * 1024 * 1024)
    add_feedback_routes(app, lambda: store)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    url = f"http://127.0.0.1:{port}/api/feedback"
    out: dict[str, float] = {}
    try:
        async with aiohttp.ClientSession() as session:
            for per_call in (1, 100):
                calls = max(clients, n // per_call)
                counter = iter(range(calls))

                async def client(
                    tag: int, per_call: int = per_call, counter: Any = counter
                ) -> None:
                    for c in counter:
                        base = c * per_call
                        items = [
                            {"request_id": f"req-{base + k:09d}", "label": (base + k) % 2 + tag}
                            for k in range(per_call)
                        ]
                        body: Any = items[0] if per_call == 1 else {"items": items}
                        async with session.post(url, json=body) as resp:
                            assert resp.status == 200, await resp.text()
                            await resp.read()

                t0 = time.perf_counter()
                await asyncio.gather(*(client(per_call) for _ in range(clients)))
                dt = time.perf_counter() - t0
                out[f"feedback_{per_call}_per_call_labels_per_s"] = calls * per_call / dt
                out[f"feedback_{per_call}_per_call_requests_per_s"] = calls / dt
    finally:
        await runner.cleanup()
    return out


@contextlib.asynccontextmanager
async def temp_pg_schema(prefix: str) -> AsyncIterator[str]:
    """A store URL on a fresh PostgreSQL schema, dropped afterwards."""
    schema = f"{prefix}_{uuid.uuid4().hex[:10]}"
    try:
        yield f"{PG_URL}{'&' if '?' in PG_URL else '?'}schema={schema}"
    finally:
        conn = await asyncpg.connect(PG_URL)
        await conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        await conn.close()


def pg_reachable() -> str | None:
    parts = urllib.parse.urlsplit(PG_URL)
    try:
        with socket.create_connection((parts.hostname or "127.0.0.1", parts.port or 5432), 2):
            return None
    except OSError as exc:
        return str(exc)


async def main_async(args: argparse.Namespace) -> dict[str, Any]:
    results: dict[str, Any] = {"n": args.n, "batch": args.batch}
    shape = (args.rows, args.probs)
    results["shape"] = {"rows": args.rows, "probs": args.probs}
    if args.backend in ("sqlite", "all"):
        with tempfile.TemporaryDirectory() as tmp:
            url = f"sqlite:///{tmp}/bench.db"
            results["sqlite"] = await bench_backend(url, args.n, args.batch, args.feedback, shape)
    if args.backend in ("postgres", "all"):
        why = pg_reachable()
        if why:
            results["postgres"] = {"skipped": f"PostgreSQL unreachable: {why}"}
        else:
            async with temp_pg_schema("sgbench") as url:
                results["postgres"] = await bench_backend(
                    url, args.n, args.batch, args.feedback, shape
                )
    return results


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="small sizes, a few seconds")
    p.add_argument("--backend", choices=("sqlite", "postgres", "all"), default="all")
    p.add_argument("--n", type=int, default=100_000, help="outcomes per insert phase")
    p.add_argument("--batch", type=int, default=500)
    p.add_argument("--feedback", type=int, default=20_000, help="labels per feedback phase")
    p.add_argument("--rows", type=int, default=4, help="rows per request")
    p.add_argument("--probs", type=int, default=0, help="probabilities per row (0: labels)")
    p.add_argument("--json", type=Path, help="also write the numbers here")
    args = p.parse_args()
    if args.quick:
        args.n, args.feedback = min(args.n, 10_000), min(args.feedback, 2_000)
    results = asyncio.run(main_async(args))
    for backend in ("sqlite", "postgres"):
        if backend not in results:
            continue
        print(f"{backend}:")
        for key, value in results[backend].items():
            if not isinstance(value, float):
                print(f"  {value}")
            else:
                print(f"  {key:45s} {value:>12,.{2 if value < 100 else 0}f}")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
