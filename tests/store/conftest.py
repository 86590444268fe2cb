"""Fixtures running the store contract against SQLite (a temp file) and PostgreSQL.

PostgreSQL tests use ``SHADOWGATE_TEST_PG`` (default: trust auth on 127.0.0.1:5432,
database ``test``) with a fresh schema per test, dropped afterwards, so parallel runs
never see each other's rows. They are skipped, saying why, only when nothing listens.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest

from pghelpers import drop_pg_schema, new_pg_schema, pg_unreachable, pg_url
from shadowgate.store import Store, open_store

MakeStore = Callable[..., Awaitable[Store]]


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
