"""Per-row cost of recording and of the judge's reads, per backend, in microseconds.

.venv/bin/python benchmarks/store_read.py [--backend sqlite|postgres|all] [--n 20000]
    [--repeat 3] [--rows 4] [--probs 0] [--json PATH]

For each backend, on a fresh database: ``insert_outcomes`` in batches of 500 (what the
batch writer does), then ``read_outcomes`` and ``read_labeled`` over every row in pages of
``judge.PAGE``, once returning full rows and once with only the fields the judge's checks
use (``evidence.OUTCOME_FIELDS`` / ``LABEL_FIELDS``; skipped when this checkout has no
such read). Also the codec alone (encode a record, decode a full row), which is the
Python part of both. Each figure is the best of ``--repeat`` runs, as wall-clock and as
CPU time of this process (all its threads: the SQLite thread included; PostgreSQL's own
CPU is another process and not counted), per row.

Rows look like the proxy's: 90 % shadow pairs of a ``--rows``-row request (predictions,
agreement, probability gaps, a segment), 5 % noise, 5 % canary; a label for every fifth.
Predictions are class labels, or with ``--probs K`` a vector of K probabilities per row
(``--rows 32 --probs 2`` is the realistic batch of ``benchmarks/proxy.py``: 32 rows of
two FP64 probabilities). Also reported: the bytes per row of the four prediction columns
as the codec encodes them, and the database's size per stored outcome.
Their request ids ascend, so the ``request_id`` index only appends: the proxy's random
ids make each insert write a random page of that index, which costs more as the table
grows (this measures the per-row work of the codec and the statements, not that).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import inspect
import json
import os
import platform
import sqlite3
import sys
import tempfile
import time
import urllib.parse
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import asyncpg

from shadowgate.judge import evidence
from shadowgate.judge.judge import PAGE
from shadowgate.store import OutcomeRecord, Store, codec, open_store, sqlite_path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from benchlib import cpu_model
from store_insert import PG_URL, pg_reachable, predictions, temp_pg_schema

BATCH = 500


def outcome(i: int, rows: int = 4, probs: int = 0) -> OutcomeRecord:
    """The ``i``-th outcome of a ``rows``-row request (``probs`` > 0: probability vectors)."""
    kind = "noise" if i % 20 == 7 else "canary" if i % 20 == 13 else "shadow"
    agree, prod_pred, cand_pred, gaps = predictions(i, rows, probs)
    rec = OutcomeRecord(
        route="bench",
        rollout_id="bench-1",
        request_id=f"req-{i:09d}",
        ts=1.7e9 + i * 0.001,
        kind=kind,
        variant="candidate" if kind == "canary" and i % 2 else "production",
        prod_status=200,
        prod_latency=0.012 + (i % 7) * 0.001,
        cand_status=None if kind == "canary" else 200,
        cand_latency=None if kind == "canary" else 0.013 + (i % 5) * 0.001,
        rows=rows,
        agree=agree,
        prod_pred=prod_pred,
        cand_pred=cand_pred,
        prob_gap=gaps,
        segment=("eu", "us", "apac")[i % 3],
    )
    if kind == "canary" and i % 3 == 0:
        rec.extra["forced"] = True
    return rec


def label(i: int, rows: int = 4) -> list[int]:
    return [(i + k) % 2 for k in range(rows)]


async def timed(fn: Callable[[], Awaitable[int]], repeat: int) -> dict[str, float]:
    """Best wall-clock and CPU microseconds per row over ``repeat`` runs of ``fn``."""
    wall, cpu = float("inf"), float("inf")
    for _ in range(repeat):
        w0, c0 = time.perf_counter(), time.process_time()
        rows = await fn()
        w1, c1 = time.perf_counter(), time.process_time()
        wall = min(wall, (w1 - w0) / rows * 1e6)
        cpu = min(cpu, (c1 - c0) / rows * 1e6)
    return {"wall_us": wall, "cpu_us": cpu}


def has_fields(store: Store) -> bool:
    return "fields" in inspect.signature(store.read_outcomes).parameters


async def bench_backend(url: str, n: int, repeat: int, shape: tuple[int, int]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    recs = [outcome(i, *shape) for i in range(n)]
    # every run of the insert writes its own copy of the rows (another route), so that
    # each one meets the same table; the copies are made before the clock starts
    copies = iter([[dataclasses.replace(r, route=f"ins{k}") for r in recs] for k in range(repeat)])
    store = open_store(url)
    await store.open()
    try:

        async def insert() -> int:
            batch = next(copies)
            for i in range(0, n, BATCH):
                await store.insert_outcomes(batch[i : i + BATCH])
            return n

        out["insert"] = await timed(insert, repeat)
        await store.insert_outcomes(recs)
        labels = [(r.request_id, label(i, shape[0])) for i, r in enumerate(recs) if i % 5 == 0]
        await store.add_labels(labels)

        def read_all(fields: tuple[str, ...] | None) -> Callable[[], Awaitable[int]]:
            kw = {} if fields is None else {"fields": fields}

            async def read() -> int:
                after, seen = 0, 0
                while page := await store.read_outcomes("bench", after, PAGE, "bench-1", **kw):
                    after, seen = page[-1].id, seen + len(page)
                assert seen == n, seen
                return seen

            return read

        def read_labeled(fields: tuple[str, ...] | None) -> Callable[[], Awaitable[int]]:
            kw = {} if fields is None else {"fields": fields}

            async def read() -> int:
                after, seen = 0, 0
                while page := await store.read_labeled("bench", after, PAGE, "bench-1", **kw):
                    after, seen = page[-1].seq, seen + len(page)
                assert seen == (n + 4) // 5, seen
                return seen

            return read

        out["read_outcomes_full"] = await timed(read_all(None), repeat)
        lean = has_fields(store)
        if lean:
            out["read_outcomes_judge"] = await timed(read_all(evidence.OUTCOME_FIELDS), repeat)
        out["read_labeled_full"] = await timed(read_labeled(None), repeat)
        if lean:
            out["read_labeled_judge"] = await timed(read_labeled(evidence.LABEL_FIELDS), repeat)
    finally:
        await store.close()
    out["db_bytes_per_outcome"] = await db_bytes_per_outcome(url)
    return out


async def db_bytes_per_outcome(url: str) -> float:
    """The ``outcomes`` table's size on disk (indexes and TOAST included) per row."""
    if url.startswith("sqlite:"):
        path = sqlite_path(url)
        with contextlib.closing(sqlite3.connect(path)) as db:
            rows = db.execute("SELECT count(*) FROM outcomes").fetchone()[0]
            used = db.execute(
                "SELECT sum(pgsize) FROM dbstat WHERE name LIKE 'outcomes%'"
            ).fetchone()[0]
        return float(used) / rows
    schema = urllib.parse.parse_qs(urllib.parse.urlsplit(url).query)["schema"][0]
    conn = await asyncpg.connect(PG_URL)
    try:
        await conn.execute("VACUUM ANALYZE " + f'"{schema}".outcomes')
        rows = await conn.fetchval(f'SELECT count(*) FROM "{schema}".outcomes')
        used = await conn.fetchval(
            "SELECT pg_total_relation_size($1::regclass)", f'"{schema}".outcomes'
        )
    finally:
        await conn.close()
    return float(used) / rows


def prediction_bytes(row: tuple[Any, ...]) -> int:
    """Bytes of the four prediction columns of an encoded row, as sent to the database."""
    total = 0
    for c in ("agree", "prod_pred", "cand_pred", "prob_gap"):
        v = row[codec.COLUMNS.index(c)]
        total += 0 if v is None else len(v.encode() if isinstance(v, str) else v)
    return total


async def bench_codec(n: int, repeat: int, shape: tuple[int, int]) -> dict[str, Any]:
    recs = [outcome(i, *shape) for i in range(n)]
    rows = [(i + 1, *codec.to_row(r)) for i, r in enumerate(recs)]

    async def encode() -> int:
        for r in recs:
            codec.to_row(r)
        return n

    async def decode() -> int:
        for r in rows:
            codec.stored_from_row(r)
        return n

    pairs = [r for r, rec in zip(rows, recs, strict=True) if rec.kind == "shadow"]
    return {
        "encode": await timed(encode, repeat),
        "decode_full": await timed(decode, repeat),
        "prediction_bytes_per_shadow_row": sum(prediction_bytes(r[1:]) for r in pairs) / len(pairs),
    }


def machine() -> dict[str, Any]:
    return {
        "cpu": cpu_model(),
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "load_average_at_start": os.getloadavg(),
    }


async def main_async(args: argparse.Namespace) -> dict[str, Any]:
    shape = (args.rows, args.probs)
    results: dict[str, Any] = {"machine": machine(), "n": args.n, "repeat": args.repeat}
    results["shape"] = {"rows": args.rows, "probs": args.probs}
    results["codec"] = await bench_codec(args.n, args.repeat, shape)
    if args.backend in ("sqlite", "all"):
        with tempfile.TemporaryDirectory() as tmp:
            results["sqlite"] = await bench_backend(
                f"sqlite:///{tmp}/b.db", args.n, args.repeat, shape
            )
    if args.backend in ("postgres", "all"):
        why = pg_reachable()
        if why:
            results["postgres"] = {"skipped": f"PostgreSQL unreachable: {why}"}
        else:
            async with temp_pg_schema("sgbench") as url:
                results["postgres"] = await bench_backend(url, args.n, args.repeat, shape)
    return results


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--backend", choices=("sqlite", "postgres", "all"), default="all")
    p.add_argument("--n", type=int, default=20_000, help="outcomes per phase")
    p.add_argument("--repeat", type=int, default=3, help="runs per figure (the best counts)")
    p.add_argument("--rows", type=int, default=4, help="rows per request")
    p.add_argument("--probs", type=int, default=0, help="probabilities per row (0: labels)")
    p.add_argument("--json", type=Path, help="also write the numbers here")
    args = p.parse_args()
    results = asyncio.run(main_async(args))
    m = results["machine"]
    print(
        f"{m['cpu']}, {m['cores']} cores, Python {m['python']}, load {m['load_average_at_start']}"
    )
    print(
        f"n={args.n}, {args.rows}-row requests, {args.probs or 'label'} predictions, best of "
        f"{args.repeat}; microseconds per row: wall / CPU of this process"
    )
    for part in ("codec", "sqlite", "postgres"):
        if part not in results:
            continue
        print(f"{part}:")
        for key, value in results[part].items():
            if isinstance(value, dict):
                print(f"  {key:22s} {value['wall_us']:8.2f} / {value['cpu_us']:8.2f}")
            elif isinstance(value, float):
                print(f"  {key:34s} {value:10.1f} bytes")
            else:
                print(f"  {value}")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
