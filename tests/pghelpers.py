"""PostgreSQL for tests, in one place: the server's URL, whether it answers, and a fresh
schema per test (dropped afterwards) so parallel runs never see each other's rows.

``SHADOWGATE_TEST_PG`` overrides the default (trust auth on 127.0.0.1:5432, database
``test``). Tests skip, saying why, only when nothing listens there.
"""

from __future__ import annotations

import os
import socket
import urllib.parse
import uuid

import asyncpg

PG_URL = os.environ.get("SHADOWGATE_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")


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
