"""Helpers for the reliability suite: a real ``shadowgate serve`` process and fault upstreams.

``Serve`` writes a config, starts ``python -m shadowgate.cli serve`` on free loopback
ports, waits for ``/readyz`` and stops it with a signal, returning the exit code. The
upstreams that misbehave (reset mid-response, slow drip, hang, 50 MB) are plain aiohttp
handlers or raw asyncio servers on 127.0.0.1 in the test process.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import struct
import subprocess
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
import yaml
from aiohttp import web

from gwhelpers import free_port, until

#: a valid Open Inference Protocol v2 answer with one prediction
OIP_OK = {
    "model_name": "m",
    "outputs": [{"name": "y", "datatype": "FP32", "shape": [1], "data": [1.0]}],
}


async def poll(
    check: Callable[[], Awaitable[bool]], *, timeout: float = 20.0, every: float = 0.05
) -> None:
    """Await ``check()`` until it is true; fail after ``timeout`` seconds."""
    await until(check, timeout, f"{check}", poll=every)


class Serve:
    """``shadowgate serve`` as a child process on free loopback ports."""

    def __init__(self, tmp_path: Path, cfg: dict[str, Any], *, name: str = "shadowgate") -> None:
        self.tmp_path = tmp_path
        self.data_port = free_port()
        self.admin_port = free_port()
        server = dict(cfg.get("server") or {})
        server.setdefault("listen", f"127.0.0.1:{self.data_port}")
        server.setdefault("admin_listen", f"127.0.0.1:{self.admin_port}")
        self.cfg = {**cfg, "server": server}
        self.cfg_path = tmp_path / f"{name}.yaml"
        self.cfg_path.write_text(yaml.safe_dump(self.cfg, sort_keys=False))
        self.log_path = tmp_path / f"{name}.log"
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def data(self) -> str:
        return f"http://127.0.0.1:{self.data_port}"

    @property
    def admin(self) -> str:
        return f"http://127.0.0.1:{self.admin_port}"

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    async def start(self, *args: str, timeout: float = 30.0) -> None:
        with self.log_path.open("ab") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "shadowgate.cli", "serve", "-c", str(self.cfg_path), *args],
                stdout=out,
                stderr=subprocess.STDOUT,
                cwd=self.tmp_path,
            )
        proc = self.proc

        async def ready() -> bool:
            assert proc.poll() is None, f"shadowgate serve exited early:\n{self.log()}"
            try:
                async with aiohttp.ClientSession() as s, s.get(f"{self.admin}/readyz") as r:
                    return r.status == 200
            except aiohttp.ClientError:
                return False

        await poll(ready, timeout=timeout, every=0.1)

    async def status(self) -> dict[str, Any]:
        async with aiohttp.ClientSession() as s, s.get(f"{self.admin}/api/status") as r:
            doc: dict[str, Any] = await r.json()
            return doc

    async def metrics(self) -> str:
        async with aiohttp.ClientSession() as s, s.get(f"{self.admin}/metrics") as r:
            return await r.text()

    async def stop(self, sig: int = signal.SIGTERM, timeout: float = 30.0) -> int:
        """Signal the process and wait for it; its exit code."""
        proc = self.proc
        assert proc is not None
        if proc.poll() is None:
            proc.send_signal(sig)
        loop = asyncio.get_running_loop()
        code = await loop.run_in_executor(None, proc.wait, timeout)
        return int(code)

    def kill(self) -> None:
        """Last resort at teardown (never raises)."""
        proc = self.proc
        if proc is not None and proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(10)


def metric_value(text: str, name: str, **labels: str) -> float:
    """The sum of a metric's samples whose labels include ``labels`` (0 when absent)."""
    total = 0.0
    for line in text.splitlines():
        if not line.startswith(name):
            continue
        head, _, value = line.rpartition(" ")
        base, _, rest = head.partition("{")
        if base != name:
            continue
        if all(f'{k}="{v}"' in rest for k, v in labels.items()):
            total += float(value)
    return total


# -- misbehaving upstreams -----------------------------------------------------------------


async def oip_ok(request: web.Request) -> web.Response:
    await request.read()
    return web.json_response(OIP_OK)


async def hang(request: web.Request) -> web.Response:
    await request.read()
    await asyncio.sleep(3600)
    raise AssertionError("unreachable")


async def server_error(request: web.Request) -> web.Response:
    await request.read()
    return web.json_response({"error": "model crashed"}, status=500)


async def invalid_json(request: web.Request) -> web.Response:
    await request.read()
    return web.Response(body=b'{"outputs": [ this is not JSON', content_type="application/json")


_CHUNK = b"0" * (1 << 20)


async def fifty_mb(request: web.Request) -> web.StreamResponse:
    """50 MB of chunked body, more than any cap: the reader must stop, not buffer it."""
    await request.read()
    resp = web.StreamResponse(headers={"Content-Type": "application/json"})
    await resp.prepare(request)
    try:
        for _ in range(50):
            await resp.write(_CHUNK)
        await resp.write_eof()
    except (ConnectionError, aiohttp.ClientConnectionResetError):
        pass
    return resp


def slow_drip(every: float = 0.1, total: int = 1000) -> Callable[[web.Request], Awaitable[Any]]:
    """One byte every ``every`` seconds: a body that never finishes within a timeout."""

    async def handler(request: web.Request) -> web.StreamResponse:
        await request.read()
        resp = web.StreamResponse(headers={"Content-Type": "application/json"})
        resp.content_length = total
        await resp.prepare(request)
        try:
            for _ in range(total):
                await resp.write(b" ")
                await asyncio.sleep(every)
        except (ConnectionError, aiohttp.ClientConnectionResetError):
            pass
        return resp

    return handler


class RawServer:
    """A raw TCP server on loopback: ``on_conn(reader, writer)`` decides what it sends."""

    def __init__(
        self, on_conn: Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]
    ) -> None:
        self.on_conn = on_conn
        self.server: asyncio.Server | None = None
        self.url = ""

    async def start(self, port: int = 0) -> RawServer:
        self.server = await asyncio.start_server(self.on_conn, "127.0.0.1", port)
        self.url = f"http://127.0.0.1:{self.server.sockets[0].getsockname()[1]}"
        return self

    async def close(self) -> None:
        if self.server is not None:
            self.server.close()
            await self.server.wait_closed()
            self.server = None


async def read_request(reader: asyncio.StreamReader) -> None:
    """Consume one HTTP/1.1 request with a Content-Length body."""
    head = await reader.readuntil(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n"):
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value.strip())
    if length:
        await reader.readexactly(length)


def rst_close(writer: asyncio.StreamWriter) -> None:
    """Close with a TCP reset (SO_LINGER 0), not a polite FIN."""
    sock = writer.get_extra_info("socket")
    if sock is not None:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.close()


async def reset_mid_response(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Headers promising 4000 bytes, 100 of them, then a TCP reset."""
    try:
        await read_request(reader)
        head = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 4000\r\n\r\n"
        writer.write(head + b'{"outputs": [' + b" " * 87)
        await writer.drain()
        await asyncio.sleep(0.05)
    except (ConnectionError, asyncio.IncompleteReadError):
        pass
    finally:
        rst_close(writer)


def dumps(doc: Any) -> bytes:
    return json.dumps(doc).encode()
