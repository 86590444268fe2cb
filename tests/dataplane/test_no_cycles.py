"""No reference cycles per request on the data plane, under uvloop as ``serve`` runs it.

``shadowgate serve`` raises the garbage collector's young threshold (young collections
become rare), so cyclic garbage made per request piles up and is then walked in one go:
a dead candidate made a 16-17 ms collection every few seconds before the connection <->
parser cycles were broken. Reference counting must free what a request leaves behind.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import socket
from collections import Counter

import uvloop

from shadowgate.http.client import Pool, Timeout, UpstreamError
from shadowgate.http.server import HttpServer, Reply, Request, Response


async def _ok(request: Request) -> Response:
    return Reply(200, b"ok")


def _fetch_and_close(port: int) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(b"GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
        chunks = []
        while chunk := s.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


async def _scenario() -> tuple[int, Counter[str]]:
    with socket.socket() as s:  # a port nobody listens on: the dead candidate
        s.bind(("127.0.0.1", 0))
        dead = s.getsockname()[1]
    pool = Pool(f"http://127.0.0.1:{dead}", 10)
    server = HttpServer(_ok, client_timeout=5.0)
    _, port = await server.start("127.0.0.1", 0)

    async def once() -> None:
        with contextlib.suppress(UpstreamError):
            await pool.request("POST", "/infer", [], b"{}", Timeout(1.0))
        answer = await asyncio.to_thread(_fetch_and_close, port)  # a new connection each time
        assert answer.startswith(b"HTTP/1.1 200")

    try:
        for _ in range(5):  # warm: caches, the thread pool
            await once()
        await asyncio.sleep(0.05)
        gc.collect()
        gc.set_debug(gc.DEBUG_SAVEALL)
        try:
            for _ in range(60):
                await once()
            await asyncio.sleep(0.05)
            found = gc.collect()
            kinds = Counter(type(o).__name__ for o in gc.garbage)
        finally:
            gc.set_debug(0)
            gc.garbage.clear()
    finally:
        await server.shutdown(1.0)
        await pool.close()
    return found, kinds


def test_failed_connects_and_closed_connections_leave_no_cyclic_garbage() -> None:
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        found, kinds = runner.run(_scenario())
    assert found < 60, kinds.most_common(8)  # not one cycle per request
