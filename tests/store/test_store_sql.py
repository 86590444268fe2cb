"""The statements written once: rendered per dialect, and each one accepted by its database."""

from __future__ import annotations

import contextlib
import re
import sqlite3

import asyncpg
import pytest

from pghelpers import PG_URL, drop_pg_schema, new_pg_schema, pg_unreachable
from shadowgate.store.schema import migrations
from shadowgate.store.sql import POSTGRES, SQLITE, Queries


def statements(q: Queries) -> dict[str, str]:
    """Every statement of ``q``: the fixed ones and each variant of the two cursor reads."""
    out = {k: v for k, v in vars(q).items() if isinstance(v, str)}
    for fields in (None, ("agree",), ("prod_pred", "segment")):
        for by_rollout in (False, True):
            out[f"read_outcomes{fields}{by_rollout}"] = q.read_outcomes(fields, by_rollout)
            out[f"read_labeled{fields}{by_rollout}"] = q.read_labeled(fields, by_rollout)
    return out


def test_placeholders_and_types_follow_the_dialect() -> None:
    assert SQLITE("x = $1 AND y = $12 AND z = $1") == "x = ?1 AND y = ?12 AND z = ?1"
    assert POSTGRES("x = $1 AND y = $12") == "x = $1 AND y = $12"
    assert SQLITE("a {real}, b {json}") == "a REAL, b TEXT"
    assert POSTGRES("a {real}, b {json}") == "a DOUBLE PRECISION, b JSONB"
    sqlite, postgres = statements(Queries(SQLITE)), statements(Queries(POSTGRES))
    assert sqlite.keys() == postgres.keys()
    for name, text in postgres.items():
        assert "?" not in text and "{" not in text, name
        assert sqlite[name] == text.replace("$", "?"), name  # the same text but for those


def test_sqlite_prepares_every_statement() -> None:
    with contextlib.closing(sqlite3.connect(":memory:")) as db:
        db.execute(Queries(SQLITE).create_schema_version)
        for step in migrations(SQLITE):
            for stmt in step:
                db.execute(stmt)
        for name, text in statements(Queries(SQLITE)).items():
            n = max((int(p) for p in re.findall(r"\?(\d+)", text)), default=0)
            try:
                db.execute(f"EXPLAIN {text}", [None] * n)
            except sqlite3.Error as exc:  # pragma: no cover - the failure message
                pytest.fail(f"{name}: {exc}\n{text}")


async def test_postgres_prepares_every_statement() -> None:
    reason = pg_unreachable()
    if reason:
        pytest.skip(reason)
    schema = new_pg_schema()
    conn = await asyncpg.connect(PG_URL)
    try:
        await conn.execute(f'CREATE SCHEMA "{schema}"')
        await conn.execute(f'SET search_path TO "{schema}"')
        await conn.execute(Queries(POSTGRES).create_schema_version)
        for step in migrations(POSTGRES):
            for stmt in step:
                await conn.execute(stmt)
        for name, text in statements(Queries(POSTGRES)).items():
            try:
                await conn.prepare(text)
            except asyncpg.PostgresError as exc:  # pragma: no cover - the failure message
                pytest.fail(f"{name}: {exc}\n{text}")
    finally:
        await conn.close()
        await drop_pg_schema(schema)
