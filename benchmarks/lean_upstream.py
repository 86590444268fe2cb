"""A lean model server: answers each request with a fixed body after a lognormal delay.

Used where the upstream's latency must look like a model server's (median 3 ms, log-sd
0.3) without the server itself costing the load generator's core much: an
``asyncio.Protocol`` with llhttp's parser and one timer per request, no framework. Two of
them with the same settings are an identical production and candidate (the A/A case).

    python benchmarks/lean_upstream.py --port 18030 --median-ms 3 --log-sd 0.3 \
        --body benchmarks/payloads/oip-response-32x2.json

``--idle-close S`` closes a keep-alive connection that stays idle for S seconds, as
uvicorn (5 s) and gunicorn (2 s) do: the upstream side of the keep-alive race.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import random
from pathlib import Path

import httptools
import uvloop


class _Conn(asyncio.Protocol):
    def __init__(self, server: LeanServer) -> None:
        self.server = server
        self.parser = httptools.HttpRequestParser(self)
        self.transport: asyncio.Transport | None = None
        self.in_flight = 0
        self.idle: asyncio.TimerHandle | None = None

    # -- asyncio ---------------------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self.server.connections += 1
        self._arm_idle()

    def data_received(self, data: bytes) -> None:
        if self.idle is not None:
            self.idle.cancel()
            self.idle = None
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError:
            if self.transport is not None:
                self.transport.close()

    def connection_lost(self, exc: Exception | None) -> None:
        if self.idle is not None:
            self.idle.cancel()
        self.transport = None
        self.parser = None  # type: ignore[assignment]  # break the parser ↔ protocol cycle

    # -- llhttp callbacks ------------------------------------------------------------------
    def on_message_complete(self) -> None:
        self.in_flight += 1
        loop = asyncio.get_running_loop()
        loop.call_later(self.server.delay(), self._answer)

    def _answer(self) -> None:
        self.in_flight -= 1
        if self.transport is None or self.transport.is_closing():
            return
        self.server.answered += 1
        self.transport.write(self.server.response)
        self._arm_idle()

    def _arm_idle(self) -> None:
        if self.server.idle_close > 0 and self.in_flight == 0:
            loop = asyncio.get_running_loop()
            self.idle = loop.call_later(self.server.idle_close, self._close_idle)

    def _close_idle(self) -> None:
        if self.transport is not None and self.in_flight == 0:
            self.transport.close()


class LeanServer:
    def __init__(
        self, body: bytes, median_ms: float, log_sd: float, idle_close: float, seed: int | None
    ) -> None:
        head = (
            f"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n\r\n"
        ).encode()
        self.response = head + body
        self.mu = math.log(median_ms / 1000.0)
        self.log_sd = log_sd
        self.idle_close = idle_close
        self.rng = random.Random(seed)
        self.connections = 0
        self.answered = 0

    def delay(self) -> float:
        if self.log_sd <= 0:
            return math.exp(self.mu)
        return self.rng.lognormvariate(self.mu, self.log_sd)


async def serve(port: int, server: LeanServer) -> None:
    loop = asyncio.get_running_loop()
    srv = await loop.create_server(lambda: _Conn(server), "127.0.0.1", port, backlog=4096)
    async with srv:
        await srv.serve_forever()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--median-ms", type=float, default=3.0)
    p.add_argument("--log-sd", type=float, default=0.3)
    p.add_argument("--idle-close", type=float, default=0.0, help="seconds; 0 = never")
    p.add_argument(
        "--body", type=Path, default=Path(__file__).parent / "payloads/oip-response-32x2.json"
    )
    p.add_argument("--seed", type=int, default=None)
    a = p.parse_args()
    server = LeanServer(a.body.read_bytes(), a.median_ms, a.log_sd, a.idle_close, a.seed)
    uvloop.run(serve(a.port, server))


if __name__ == "__main__":
    main()
