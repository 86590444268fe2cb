"""Fixtures running the store contract against SQLite (a temp file) and PostgreSQL.

PostgreSQL tests use ``SHADOWGATE_TEST_PG`` (default: trust auth on 127.0.0.1:5432,
database ``test``) with a fresh schema per test, dropped afterwards, so parallel runs
never see each other's rows. They are skipped, saying why, only when nothing listens.
"""

from __future__ import annotations

import os
import socket
import urllib.parse
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable

import asyncpg
import pytest

from shadowgate.store import Store, open_store

PG_URL = os.environ.get("SHADOWGATE_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")

MakeStore = Callable[..., Awaitable[Store]]


def pg_unreachable() -> str | None:
    """Why PostgreSQL tests cannot run here, or None when the server accepts connections."""
    parts = urllib.parse.urlsplit(PG_URL)
    try:
        with socket.create_connection((parts.hostname or "127.0.0.1", parts.port or 5432), 2):
            return None
    except OSError as exc:
        return f"PostgreSQL at {parts.hostname}:{parts.port or 5432} unreachable ({exc})"


def new_pg_schema() -> str:
    return f"sgtest_{os.getpid()}_{uuid.uuid4().hex[:10]}"


def pg_url(schema: str) -> str:
    sep = "&" if "?" in PG_URL else "?"
    return f"{PG_URL}{sep}schema={schema}"


async def drop_pg_schema(schema: str) -> None:
    conn = await asyncpg.connect(PG_URL)
    try:
        await conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
    finally:
        await conn.close()


@pytest.fixture(params=["sqlite", "postgres"])
async def store_url(
    request: pytest.FixtureRequest, tmp_path: os.PathLike[str]
) -> AsyncIterator[str]:
    """A store URL no other test uses: one per backend."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path}/store.db"
        return
    reason = pg_unreachable()
    if reason:
        pytest.skip(reason)
    schema = new_pg_schema()
    yield pg_url(schema)
    await drop_pg_schema(schema)


@pytest.fixture
async def make_store(store_url: str) -> AsyncIterator[MakeStore]:
    """Open stores on ``store_url`` (several may share it, like replicas); closed at the end."""
    opened: list[Store] = []

    async def make(**kwargs: float) -> Store:
        store = open_store(store_url, **kwargs)  # type: ignore[arg-type]
        await store.open()
        opened.append(store)
        return store

    yield make
    for store in opened:
        await store.close()


@pytest.fixture
async def store(make_store: MakeStore) -> Store:
    return await make_store()
