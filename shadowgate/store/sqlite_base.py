"""Plumbing of the SQLite store: the connection, its one thread, transactions, migrations.

Every call runs on a single-worker executor that owns the connection, so the event loop
never blocks on disk and statements never interleave.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import os
import sqlite3
import sys
import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from shadowgate.errors import StoreError
from shadowgate.store.reads import SqlReads
from shadowgate.store.schema import migrations, pending
from shadowgate.store.sql import SQLITE, Queries

T = TypeVar("T")

#: every statement, in SQLite's dialect
Q = Queries(SQLITE)
MIGRATIONS = migrations(SQLITE)

#: nice value of the store's thread (Linux); the event loop keeps the default 0
STORE_THREAD_NICE = 10


def _yield_to_the_event_loop() -> None:
    """Lower the store thread's CPU priority, so that it runs when the data plane is idle.

    Committing a batch is milliseconds of CPU in SQLite's C code (the GIL released); on a
    busy core the kernel would share time slices between it and the event loop, and
    every client request in flight would wait out the slice. At nice 10 the kernel hands
    the core back to the event loop as soon as the loop is runnable. Linux only: there a
    thread id is a valid ``PRIO_PROCESS`` target and affects that thread alone.
    """
    if sys.platform != "linux":
        return
    try:
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), STORE_THREAD_NICE)
    except OSError as exc:  # e.g. a seccomp profile that forbids it: run at normal priority
        logging.getLogger("shadowgate.store").debug("store thread keeps its priority: %s", exc)


#: rows per statement call on the store's thread between two offers of the core
ROWS_PER_STEP = 16


def offer_core() -> None:
    """Let the event loop have the core if it is waiting for it.

    The kernel does not take the core from a running thread the moment the event loop
    wakes (``benchmarks/core_sharing.py``: a background burst costs the client p99 its
    whole length, whatever the thread's priority). So the store's thread works in short
    steps and offers the core back after each; when nothing else wants it, it goes on.
    """
    _sched_yield()


_sched_yield = getattr(os, "sched_yield", lambda: None)


def fetch_in_steps(cursor: sqlite3.Cursor, decode: Callable[[Any], T]) -> list[T]:
    """``[decode(row) for row in cursor]`` in steps of ``ROWS_PER_STEP`` rows, offering the
    core between steps."""
    out: list[T] = []
    while batch := cursor.fetchmany(ROWS_PER_STEP):
        out.extend(decode(r) for r in batch)
        offer_core()
    return out


class SqliteBase(SqlReads):
    """Connection handling shared by the parts of ``SqliteStore``."""

    Q = Q

    def __init__(self, path: str, *, retention: float = 0.0, max_rows: int = 0) -> None:
        self.path = path
        self.retention = retention
        self.max_rows = max_rows
        self._conn: sqlite3.Connection | None = None
        self._executor: ThreadPoolExecutor | None = None

    # -- plumbing ---------------------------------------------------------------------

    async def _run(self, fn: Callable[..., T], *args: Any) -> T:
        if self._executor is None or self._conn is None:
            raise StoreError(f"SQLite store {self.path} is not open: call open() first")
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(self._executor, functools.partial(fn, *args))
        except sqlite3.Error as exc:
            raise StoreError(f"SQLite store {self.path}: {exc}") from exc

    async def _select(self, sql: str, params: Sequence[Any], decode: Callable[[Any], T]) -> list[T]:
        return await self._run(lambda: fetch_in_steps(self._db.execute(sql, params), decode))

    async def _scalar(self, sql: str, params: Sequence[Any] = ()) -> Any:
        return await self._run(lambda: self._db.execute(sql, params).fetchone()[0])

    @property
    def _db(self) -> sqlite3.Connection:
        assert self._conn is not None
        return self._conn

    @contextlib.contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        db = self._db
        db.execute("BEGIN IMMEDIATE")
        try:
            yield db
        except BaseException:
            db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")

    async def open(self) -> None:
        if self._conn is not None:
            return
        self._executor = ThreadPoolExecutor(
            1, thread_name_prefix="shadowgate-sqlite", initializer=_yield_to_the_event_loop
        )
        loop = asyncio.get_running_loop()
        try:
            self._conn = await loop.run_in_executor(self._executor, self._open_sync)
        except sqlite3.Error as exc:
            self._executor.shutdown(wait=False)
            self._executor = None
            raise StoreError(
                f"cannot open SQLite store {self.path}: {exc} "
                "(check the path exists and is writable)"
            ) from exc
        except BaseException:
            self._executor.shutdown(wait=False)
            self._executor = None
            raise

    def _open_sync(self) -> sqlite3.Connection:
        db = sqlite3.connect(self.path, timeout=30.0, isolation_level=None)
        try:
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")
            self._conn = db
            self._migrate(db)
        except BaseException:
            self._conn = None
            db.close()
            raise
        return db

    def _migrate(self, db: sqlite3.Connection) -> None:
        with self._tx():
            db.execute(Q.create_schema_version)
            current = int(db.execute(Q.schema_version).fetchone()[0])
            for version, stmts in pending(MIGRATIONS, current, f"SQLite store {self.path}"):
                for stmt in stmts:
                    db.execute(stmt)
                db.execute(Q.add_schema_version, (version,))

    async def close(self) -> None:
        if self._conn is None or self._executor is None:
            return
        conn, executor = self._conn, self._executor
        await asyncio.get_running_loop().run_in_executor(executor, conn.close)
        executor.shutdown(wait=True)
        self._conn = None
        self._executor = None

    async def integrity_check(self) -> str:
        """``PRAGMA integrity_check``: ``"ok"`` for a healthy file."""
        return await self._run(
            lambda: str(self._db.execute("PRAGMA integrity_check").fetchone()[0])
        )
