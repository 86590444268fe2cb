"""Helpers every test shares: config dicts on free loopback ports, atomic config writes,
a free port, and ``until`` for waiting on a condition.

Importable from any test (``from gwhelpers import config, route, until``): pytest puts
``tests/`` on ``sys.path`` because of ``tests/conftest.py``.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import socket
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import yaml
from aiohttp import web


def route(name: str, prefix: str, production: str, candidate: str, **extra: Any) -> dict[str, Any]:
    """A route dict for ``config()``; ``extra`` keys are merged in (e.g. mode, mirror)."""
    r: dict[str, Any] = {
        "name": name,
        "match": {"path_prefix": prefix},
        "production": {"url": production, "timeout": "2s"},
        "candidate": {"url": candidate, "timeout": "2s"},
    }
    r.update(extra)
    return r


def config(*routes: dict[str, Any], **server: Any) -> dict[str, Any]:
    """A whole config dict listening on free loopback ports."""
    srv = {"listen": "127.0.0.1:0", "admin_listen": "127.0.0.1:0", "shutdown_timeout": "2s"}
    srv.update(server)
    return {"server": srv, "store": "sqlite:///:memory:", "routes": list(routes)}


def write_config(path: Path, cfg: dict[str, Any] | str) -> None:
    text = cfg if isinstance(cfg, str) else yaml.safe_dump(cfg, sort_keys=False)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)  # atomic, like a ConfigMap update: the watcher never sees half a file


def dumps(doc: Any) -> bytes:
    return json.dumps(doc).encode()


def free_port() -> int:
    """A loopback TCP port that was free a moment ago (for servers started in a subprocess)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def until(
    cond: Callable[[], bool | Awaitable[bool]],
    timeout: float = 5.0,
    what: str = "condition",
    poll: float = 0.02,
) -> float:
    """Poll ``cond()`` (plain or async) until it is true; the seconds it took.

    Raises ``AssertionError`` naming ``what`` when ``timeout`` passes first.
    """
    t0 = time.monotonic()
    while True:
        ok = cond()
        if inspect.isawaitable(ok):
            ok = await ok
        if ok:
            return time.monotonic() - t0
        if time.monotonic() - t0 > timeout:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        await asyncio.sleep(poll)


class Hooks:
    """A webhook receiver on loopback that keeps every event (the ``hooks`` fixture)."""

    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []
        self.url = ""

    async def handle(self, request: web.Request) -> web.Response:
        self.events.append(await request.json())
        return web.json_response({"ok": True})


class Clock:
    """A hand-moved clock for a judge (``clock=``): ``t`` starts at 1000."""

    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t
