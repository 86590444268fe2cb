"""Exactly one acting judge among several processes: leader election by lock.

- PostgreSQL: a session-level advisory lock held on a dedicated connection. When the
  holder dies (even by kill -9) its connection closes and PostgreSQL releases the lock;
  a follower polling every ``poll`` seconds takes over.
- SQLite (``serve --workers N`` on one machine): an exclusive ``flock`` on a file beside
  the database; the kernel releases it when the holder dies.

Leadership is advisory: the store's fenced ``commit_decision`` is what guarantees that
two judges never both act, even in the moment when one has lost the lock and not yet
noticed.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import hashlib
import logging
import os
from typing import Any, Protocol

log = logging.getLogger("shadowgate.leader")


class Leadership(Protocol):
    def is_leader(self) -> bool: ...
    async def run(self) -> None: ...
    async def close(self) -> None: ...


class AlwaysLeader:
    """One process, one judge."""

    def is_leader(self) -> bool:
        return True

    async def run(self) -> None:
        await asyncio.Event().wait()

    async def close(self) -> None:
        return None


class FileLeader:
    """Leader while holding ``flock(LOCK_EX)`` on ``path``."""

    def __init__(self, path: str, poll: float = 1.0) -> None:
        self.path = path
        self.poll = poll
        self._fd: int | None = None

    def is_leader(self) -> bool:
        return self._fd is not None

    def try_acquire(self) -> bool:
        if self._fd is not None:
            return True
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:  # e.g. a read-only or full disk: try again next round
            log.warning("cannot open the judge lock %s: %s", self.path, exc)
            return False
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            return False
        with contextlib.suppress(OSError):  # the pid is for people; the flock is the lock
            os.ftruncate(fd, 0)
            os.write(fd, f"{os.getpid()}\n".encode())
        self._fd = fd
        log.info("this process is the judge (lock %s)", self.path)
        return True

    async def run(self) -> None:
        while True:
            self.try_acquire()
            await asyncio.sleep(self.poll)

    async def close(self) -> None:
        if self._fd is not None:
            with contextlib.suppress(OSError):
                fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None


class PostgresLeader:
    """Leader while holding a session advisory lock on a dedicated connection."""

    def __init__(self, url: str, poll: float = 1.0) -> None:
        from shadowgate.store.postgres import PostgresStore

        parsed = PostgresStore(url)  # same URL rules as the store (``?schema=`` etc.)
        self.dsn = parsed.dsn
        self.poll = poll
        # one lock per schema, so separate deployments sharing a server don't collide
        digest = hashlib.sha256(f"shadowgate-judge:{parsed.schema}".encode()).digest()
        self.key = int.from_bytes(digest[:8], "big") >> 1
        self._conn: Any = None
        self._leader = False

    def is_leader(self) -> bool:
        return self._leader

    async def _connect(self) -> Any:
        import asyncpg

        return await asyncpg.connect(self.dsn, timeout=5.0)

    async def step(self) -> bool:
        """One election round: check the lock is still ours, or try to take it."""
        try:
            if self._conn is None or self._conn.is_closed():
                self._leader = False
                self._conn = await self._connect()
            if self._leader:
                await self._conn.fetchval("SELECT 1")  # still connected: still holding
            else:
                self._leader = bool(
                    await self._conn.fetchval("SELECT pg_try_advisory_lock($1)", self.key)
                )
                if self._leader:
                    log.info("this process is the judge (advisory lock %x)", self.key)
        except Exception as exc:  # connection lost: the lock is gone with it
            if self._leader:
                log.warning("lost the judge lock: %s", exc)
            self._leader = False
            if self._conn is not None:
                with contextlib.suppress(Exception):
                    self._conn.terminate()
            self._conn = None
        return self._leader

    async def run(self) -> None:
        while True:
            await self.step()
            await asyncio.sleep(self.poll)

    async def close(self) -> None:
        self._leader = False
        if self._conn is not None:
            with contextlib.suppress(Exception):
                await self._conn.close()
            self._conn = None


def leadership_for(store_url: str, poll: float = 1.0) -> Leadership:
    """The election that fits the store: PostgreSQL advisory lock or a file lock."""
    if store_url.startswith(("postgresql://", "postgres://")):
        return PostgresLeader(store_url, poll=poll)
    from shadowgate.store import sqlite_path

    path = sqlite_path(store_url)
    if path == ":memory:":
        return AlwaysLeader()
    return FileLeader(path + ".judge.lock", poll=poll)
