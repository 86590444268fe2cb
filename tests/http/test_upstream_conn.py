"""The upstream connection's timestamps, as a playbook of protocol callbacks.

No sockets: a recording transport, a clock the test moves, and the callbacks asyncio
would make (``data_received``, ``connection_lost``) called by hand. Each timestamp must
be the clock's value at its callback, never at the time a coroutine later reads it.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

from shadowgate.http.client import Pool
from shadowgate.http.upstream_conn import UpstreamConnection


class Clock:
    def __init__(self) -> None:
        self.now = 10.0

    def __call__(self) -> float:
        return self.now


class Transport(asyncio.Transport):
    """Records writes; each write takes one unit of the test's clock."""

    def __init__(self, clock: Clock) -> None:
        super().__init__()
        self.clock = clock
        self.written: list[bytes] = []
        self.aborted = False

    def write(self, data: Any) -> None:
        self.written.append(bytes(data))
        self.clock.now += 1.0

    def abort(self) -> None:
        self.aborted = True

    def close(self) -> None:
        self.aborted = True

    def is_closing(self) -> bool:
        return self.aborted

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass


def _connection(clock: Clock) -> tuple[UpstreamConnection, Transport]:
    conn = UpstreamConnection(Pool("http://127.0.0.1:1", 4, clock=clock))
    transport = Transport(clock)
    conn.connection_made(transport)
    return conn, transport


def _start(conn: UpstreamConnection, head: bytes, last: bool = True) -> Any:
    loop = asyncio.get_running_loop()
    return conn.start(head, loop.time() + 5.0, loop, last)


async def test_timestamps_are_taken_at_the_write_and_the_two_receive_callbacks() -> None:
    clock = Clock()
    conn, transport = _connection(clock)
    resp = _start(conn, b"POST / HTTP/1.1\r\nContent-Length: 2\r\n\r\n{}")
    assert transport.written == [b"POST / HTTP/1.1\r\nContent-Length: 2\r\n\r\n{}"]
    assert resp.t_sent == 11.0  # right after the write returned
    clock.now = 12.0
    conn.data_received(b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nab")
    assert resp.t_first_byte == 12.0 and resp.t_done is None
    clock.now = 13.0
    conn.data_received(b"cd")
    assert resp.t_first_byte == 12.0  # only the first data_received counts
    assert resp.t_done == 13.0  # on_message_complete
    clock.now = 99.0  # the coroutine reads the answer much later: nothing moves
    assert await resp.read() == b"abcd"
    assert (resp.t_sent, resp.t_first_byte, resp.t_done) == (11.0, 12.0, 13.0)
    assert resp.latency == 2.0


async def test_t_sent_waits_for_the_last_slice_of_a_large_body() -> None:
    clock = Clock()
    conn, transport = _connection(clock)
    body = b"x" * (600 * 1024)  # three writes of at most 256 kB
    resp = _start(conn, b"POST / HTTP/1.1\r\nContent-Length: %d\r\n\r\n" % len(body), False)
    assert resp.t_sent is None  # the head alone is not the request's last byte
    await conn.write_body(body, chunked=False)
    assert len(transport.written) == 4
    assert resp.t_sent == 14.0


async def test_t_sent_after_the_last_chunk_of_a_streamed_upload() -> None:
    clock = Clock()
    conn, transport = _connection(clock)

    async def parts() -> AsyncIterator[bytes]:
        yield b"ab"
        clock.now = 20.0
        yield b"cd"

    resp = _start(conn, b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n", False)
    await conn.write_body(parts(), chunked=True)
    assert transport.written[-1] == b"0\r\n\r\n"
    assert resp.t_sent == 24.0  # after the terminating chunk's write


async def test_interim_answer_is_the_first_byte_and_the_final_one_the_last() -> None:
    clock = Clock()
    conn, _ = _connection(clock)
    resp = _start(conn, b"POST / HTTP/1.1\r\nContent-Length: 0\r\n\r\n")
    clock.now = 15.0
    conn.data_received(b"HTTP/1.1 100 Continue\r\n\r\n")
    clock.now = 16.0
    conn.data_received(b"HTTP/1.1 204 No Content\r\n\r\n")
    assert (resp.t_first_byte, resp.t_done, resp.status) == (15.0, 16.0, 204)


async def test_answer_ended_by_eof_is_done_at_connection_lost() -> None:
    clock = Clock()
    conn, _ = _connection(clock)
    resp = _start(conn, b"GET / HTTP/1.1\r\n\r\n")
    clock.now = 11.0
    conn.data_received(b"HTTP/1.1 200 OK\r\n\r\nhello")
    assert resp.t_done is None
    clock.now = 15.0
    conn.connection_lost(None)
    assert resp.t_done == 15.0
    assert await resp.read() == b"hello"


async def test_head_answer_is_done_with_its_headers() -> None:
    clock = Clock()
    conn, _ = _connection(clock)
    conn.head_request = True
    resp = _start(conn, b"HEAD / HTTP/1.1\r\n\r\n")
    clock.now = 11.0
    conn.data_received(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n")
    assert resp.t_done == 11.0 and resp.content_length == 10


async def test_failed_answer_has_no_latency() -> None:
    clock = Clock()
    conn, _ = _connection(clock)
    resp = _start(conn, b"GET / HTTP/1.1\r\n\r\n")
    conn.connection_lost(ConnectionResetError("reset by peer"))
    assert resp.t_first_byte is None and resp.t_done is None and resp.latency is None


async def test_keep_alive_header_lowers_this_connections_idle_limit() -> None:
    clock = Clock()
    conn, _ = _connection(clock)
    assert conn.idle_limit == 1.5
    _start(conn, b"GET / HTTP/1.1\r\n\r\n")
    conn.data_received(b"HTTP/1.1 200 OK\r\nKeep-Alive: timeout=1\r\nContent-Length: 0\r\n\r\n")
    assert conn.idle_limit == 0.5
