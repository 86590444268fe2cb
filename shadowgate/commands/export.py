"""``shadowgate export``: one route's outcomes, joined with their labels, as JSONL or CSV.

Rows are read by id cursor, one page at a time, and written as they arrive, so exports
of any size run in constant memory and work on a live store: the export stops at the
newest outcome that existed when it started, so its end is well defined while the proxy
keeps writing.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import csv
import dataclasses
import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import IO, Any

from shadowgate.errors import ConfigError, StoreError
from shadowgate.store import OutcomeRecord, Store, open_store
from shadowgate.store.pages import pages

#: columns of every row, in order: the outcome id, the record's fields, then the label
COLUMNS: list[str] = [
    "id",
    *(f.name for f in dataclasses.fields(OutcomeRecord)),
    "label",
    "label_revision",
]


def register(sub: Any) -> None:
    p = sub.add_parser(
        "export",
        help="write a route's outcomes (with labels) as JSONL or CSV",
        description="Stream a route's outcomes, joined with their labels, as JSONL or CSV.",
    )
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--store", metavar="URL", help="sqlite:///file.db or postgresql://...")
    src.add_argument("--config", metavar="PATH", help="take the store URL from this config")
    p.add_argument("--route", required=True, help="the route name")
    p.add_argument("--rollout", metavar="ID", help="only this rollout (e.g. cancer-2)")
    p.add_argument("--format", choices=("jsonl", "csv"), default="jsonl")
    p.add_argument("--out", metavar="FILE", help="write here instead of standard output")
    p.add_argument("--labeled-only", action="store_true", help="skip outcomes without a label")
    p.add_argument("--bodies", action="store_true", help="include request bodies (base64)")
    p.add_argument("--page-size", type=int, default=1000, help=argparse.SUPPRESS)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    try:
        url = args.store or _config_store(args.config)
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        return 1
    try:
        with _output(args.out) as out:
            n, labeled = asyncio.run(_export(url, args, out))
    except StoreError as exc:
        print(f"export failed: {exc}", file=sys.stderr)
        return 1
    except BrokenPipeError:  # e.g. piped into `head`
        return 0
    where = args.out or "standard output"
    print(
        f"exported {n} outcomes ({labeled} labeled) of route {args.route} to {where}",
        file=sys.stderr,
    )
    return 0


def _config_store(path: str) -> str:
    from shadowgate.config.loader import load_config

    return load_config(path).store.url


@contextmanager
def _output(path: str | None) -> Iterator[IO[str]]:
    if path is None:
        yield sys.stdout
        sys.stdout.flush()
        return
    with open(path, "w", encoding="utf-8", newline="") as f:
        yield f


async def _export(url: str, args: argparse.Namespace, out: IO[str]) -> tuple[int, int]:
    store = open_store(url)
    await store.open()
    try:
        return await export_rows(
            store,
            out,
            route=args.route,
            rollout_id=args.rollout,
            fmt=args.format,
            labeled_only=args.labeled_only,
            bodies=args.bodies,
            page_size=args.page_size,
        )
    finally:
        await store.close()


async def export_rows(
    store: Store,
    out: IO[str],
    *,
    route: str,
    rollout_id: str | None = None,
    fmt: str = "jsonl",
    labeled_only: bool = False,
    bodies: bool = False,
    page_size: int = 1000,
) -> tuple[int, int]:
    """Write the rows; returns (outcomes written, how many of them had a label)."""
    end = await store.max_outcome_id(route)
    writer = csv.DictWriter(out, fieldnames=COLUMNS) if fmt == "csv" else None
    if writer is not None:
        writer.writeheader()
    n = labeled = 0
    async for page in pages(
        store.read_outcomes, route, page=page_size, rollout_id=rollout_id, upto=end
    ):
        labels = await store.read_labels([o.record.request_id for o in page])
        for o in page:
            lab = labels.get(o.record.request_id)
            if lab is None and labeled_only:
                continue
            row: dict[str, Any] = {"id": o.id}
            for f in dataclasses.fields(o.record):
                row[f.name] = getattr(o.record, f.name)
            body = row["request_body"]
            row["request_body"] = base64.b64encode(body).decode() if bodies and body else None
            row["label"] = None if lab is None else lab.label
            row["label_revision"] = None if lab is None else lab.revision
            if writer is not None:
                writer.writerow({k: _cell(v) for k, v in row.items()})
            else:
                out.write(json.dumps(row, separators=(",", ":")) + "\n")
            n += 1
            labeled += lab is not None
        out.flush()
    return n, labeled


def _cell(value: Any) -> Any:
    """CSV cells: lists and objects as JSON text, None as empty."""
    if value is None:
        return ""
    if isinstance(value, list | dict):
        return json.dumps(value, separators=(",", ":"))
    return value
