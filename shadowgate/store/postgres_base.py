"""Plumbing of the PostgreSQL store: URL parsing, the pool, transactions, migrations."""

from __future__ import annotations

import contextlib
import hashlib
import re
import urllib.parse
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any, TypeVar

import asyncpg

from shadowgate.errors import StoreError
from shadowgate.store import codec
from shadowgate.store.reads import SqlReads
from shadowgate.store.schema import migrations, pending
from shadowgate.store.sql import POSTGRES, Queries

_SCHEMA_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")
T = TypeVar("T")

#: every statement, in PostgreSQL's dialect
Q = Queries(POSTGRES)
MIGRATIONS = migrations(POSTGRES)
DB_ERRORS = (asyncpg.PostgresError, asyncpg.InterfaceError, OSError, TimeoutError)


def lock_key(schema: str, name: str) -> int:
    digest = hashlib.sha256(f"shadowgate:{schema}:{name}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


def count_rows(status: str) -> int:
    """Rows affected, from a command status like ``DELETE 12``."""
    return int(status.rsplit(" ", 1)[-1]) if status and status[-1].isdigit() else 0


class PostgresBase(SqlReads):
    """Connection handling shared by the parts of ``PostgresStore``."""

    Q = Q

    def __init__(self, url: str, *, retention: float = 0.0, max_rows: int = 0) -> None:
        parts = urllib.parse.urlsplit(url)
        query = urllib.parse.parse_qs(parts.query)
        schema = query.pop("schema", [""])[-1]
        pool_size = query.pop("pool_size", ["10"])[-1]
        if schema and not _SCHEMA_NAME.match(schema):
            raise StoreError(f"invalid schema {schema!r} in store URL: use letters, digits, _")
        self.schema = schema
        self.pool_size = int(pool_size)
        self.dsn = urllib.parse.urlunsplit(
            parts._replace(scheme="postgresql", query=urllib.parse.urlencode(query, doseq=True))
        )
        self.where = f"{parts.hostname or 'localhost'}:{parts.port or 5432}{parts.path}"
        self.retention = retention
        self.max_rows = max_rows
        self.channel = f"shadowgate_state_{schema}"[:63] if schema else "shadowgate_state"
        self.seq_key = lock_key(schema, "seq")
        self._pool: Any = None
        self._listener: Any = None

    # -- plumbing ---------------------------------------------------------------------

    def _settings(self) -> dict[str, str]:
        return {"search_path": self.schema} if self.schema else {}

    def _error(self, exc: BaseException) -> StoreError:
        return StoreError(f"PostgreSQL store {self.where}: {exc}")

    async def _select(self, sql: str, params: Sequence[Any], decode: Callable[[Any], T]) -> list[T]:
        async with self._conn() as conn:
            rows = await conn.fetch(sql, *params)
        return await codec.sliced(decode, rows)

    async def _scalar(self, sql: str, params: Sequence[Any] = ()) -> Any:
        async with self._conn() as conn:
            return await conn.fetchval(sql, *params)

    @contextlib.asynccontextmanager
    async def _conn(self) -> AsyncIterator[Any]:
        if self._pool is None:
            raise StoreError(f"PostgreSQL store {self.where} is not open: call open() first")
        try:
            async with self._pool.acquire(timeout=30.0) as conn:
                yield conn
        except DB_ERRORS as exc:
            raise self._error(exc) from exc

    @contextlib.asynccontextmanager
    async def _tx(self, *, seq_lock: bool = False) -> AsyncIterator[Any]:
        async with self._conn() as conn, conn.transaction():
            if seq_lock:
                await conn.execute("SELECT pg_advisory_xact_lock($1)", self.seq_key)
            yield conn

    async def open(self) -> None:
        if self._pool is not None:
            return
        try:
            conn = await asyncpg.connect(self.dsn, timeout=10.0)
            try:
                await self._migrate(conn)
            finally:
                await conn.close()
            self._pool = await asyncpg.create_pool(
                self.dsn, min_size=1, max_size=self.pool_size, server_settings=self._settings()
            )
        except DB_ERRORS as exc:
            raise StoreError(
                f"cannot open PostgreSQL store {self.where}: {exc} "
                "(is the server running, and may this user connect to that database?)"
            ) from exc

    async def _migrate(self, conn: Any) -> None:
        async with conn.transaction():
            # one migrator at a time when several replicas start together
            await conn.execute("SELECT pg_advisory_xact_lock($1)", lock_key(self.schema, "mig"))
            if self.schema:
                await conn.execute(f'CREATE SCHEMA IF NOT EXISTS "{self.schema}"')
                await conn.execute(f'SET LOCAL search_path TO "{self.schema}"')
            await conn.execute(Q.create_schema_version)
            current = int(await conn.fetchval(Q.schema_version))
            for version, stmts in pending(MIGRATIONS, current, f"PostgreSQL store {self.where}"):
                for stmt in stmts:
                    await conn.execute(stmt)
                await conn.execute(Q.add_schema_version, version)

    async def close(self) -> None:
        if self._listener is not None:
            with contextlib.suppress(*DB_ERRORS):
                await self._listener.close()
            self._listener = None
        if self._pool is not None:
            pool, self._pool = self._pool, None
            await pool.close()
