"""Keep-alive without races: idle limits, ``Keep-Alive: timeout=N``, one repeat after a
reset of a reused connection, and the race itself through the gateway.

Upstreams are raw asyncio servers on loopback that close idle kept-alive connections
the way uvicorn and gunicorn do: a connection left without a request for ``idle``
seconds is closed by the server.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator, Awaitable, Callable

import aiohttp
import pytest

from gwhelpers import config, route
from shadowgate.gateway import Gateway
from shadowgate.http.client import Pool, Timeout, UpstreamError
from shadowgate.http.upstream_conn import keep_alive_limit
from shadowgate.model.sink import MemorySink

T = Timeout(5.0, 1.0)
GatewayFactory = Callable[..., Awaitable[Gateway]]
ANSWER = b'{"outputs":[{"name":"p","datatype":"FP64","shape":[1],"data":[0.5]}]}'


class IdleClosingUpstream:
    """Answers every request; closes a connection left idle for ``idle`` seconds after an
    answer (None: never), as uvicorn does. ``drop`` lists request numbers whose
    connection is closed unanswered."""

    def __init__(self, idle: float | None, extra: bytes = b"", drop: frozenset[int] = frozenset()):
        self.idle = idle
        self.extra = extra
        self.drop = drop
        self.connections = 0
        self.requests = 0
        self.url = ""
        self._server: asyncio.Server | None = None

    async def start(self) -> IdleClosingUpstream:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        port = self._server.sockets[0].getsockname()[1]
        self.url = f"http://127.0.0.1:{port}"
        return self

    async def _serve(self, r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        self.connections += 1
        answered = False
        try:
            while True:
                try:
                    async with asyncio.timeout(self.idle if answered else None):
                        head = await r.readuntil(b"\r\n\r\n")
                except TimeoutError:
                    return  # idle too long: closed, as keep-alive servers do
                length = 0
                for line in head.split(b"\r\n"):
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":")[1])
                if length:
                    await r.readexactly(length)
                self.requests += 1
                if self.requests in self.drop:
                    return  # closed without a word, the request unanswered
                w.write(
                    b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                    b"Content-Length: %d\r\n%s\r\n%s" % (len(ANSWER), self.extra, ANSWER)
                )
                await w.drain()
                answered = True
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            w.close()

    async def stop(self) -> None:
        assert self._server is not None
        self._server.close()


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
async def upstreams() -> AsyncIterator[Callable[..., Awaitable[IdleClosingUpstream]]]:
    made: list[IdleClosingUpstream] = []

    async def make(idle: float | None = None, **kw: object) -> IdleClosingUpstream:
        u = await IdleClosingUpstream(idle, **kw).start()  # type: ignore[arg-type]
        made.append(u)
        return u

    yield make
    for u in made:
        await u.stop()


@pytest.fixture
async def pools() -> AsyncIterator[Callable[..., Pool]]:
    made: list[Pool] = []

    def make(url: str, **kw: object) -> Pool:
        p = Pool(url, 8, **kw)  # type: ignore[arg-type]
        made.append(p)
        return p

    yield make
    for p in made:
        await p.close()


async def _get(pool: Pool, method: str = "POST") -> bytes:
    resp = await pool.request(method, "/", [], b"{}" if method == "POST" else None, T)
    return await resp.read()


# -- the idle limit --------------------------------------------------------------------------


async def test_connection_idle_past_the_limit_is_not_reused(
    upstreams: Callable[..., Awaitable[IdleClosingUpstream]], pools: Callable[..., Pool]
) -> None:
    up = await upstreams()
    clock = FakeClock()
    pool = pools(up.url, idle_timeout=0.5, clock=clock)
    await _get(pool)
    clock.now += 0.4  # within the limit: reused
    await _get(pool)
    assert up.connections == 1
    clock.now += 0.5  # at the limit: closed, a new one is opened
    await _get(pool)
    assert up.connections == 2
    assert pool.open == 1


def test_default_idle_limit_is_below_two_seconds() -> None:
    assert Pool("http://127.0.0.1:1", 1).idle_timeout < 2.0


@pytest.mark.parametrize(
    ("value", "limit"),
    [("timeout=5", 4.0), ("timeout=5, max=100", 4.0), ("max=9, timeout=1", 0.5), ("max=3", None)],
)
def test_keep_alive_header_sets_a_shorter_limit(value: str, limit: float | None) -> None:
    assert keep_alive_limit(value) == limit


async def test_keep_alive_timeout_from_the_upstream_lowers_the_idle_limit(
    upstreams: Callable[..., Awaitable[IdleClosingUpstream]], pools: Callable[..., Pool]
) -> None:
    up = await upstreams(extra=b"Keep-Alive: timeout=1\r\n")
    clock = FakeClock()
    pool = pools(up.url, idle_timeout=30.0, clock=clock)
    await _get(pool)
    clock.now += 0.4  # within the announced second, less the margin: reused
    await _get(pool)
    assert up.connections == 1
    clock.now += 0.6  # past it, though far below the pool's own 30 s
    await _get(pool)
    assert up.connections == 2


async def test_start_writes_at_once_on_a_kept_alive_connection(
    upstreams: Callable[..., Awaitable[IdleClosingUpstream]], pools: Callable[..., Pool]
) -> None:
    """What lets the mirror and production's request leave in the same loop iteration."""
    up = await upstreams()
    pool = pools(up.url)
    await _get(pool)
    conn = pool._idle[-1]
    pending = pool.start("POST", "/", [], b"{}", T)
    assert conn.response is not None and conn.response.t_sent is not None  # not awaited yet
    resp = await pending
    assert await resp.read() == ANSWER


# -- one repeat after a reset of a reused connection -----------------------------------------


async def test_post_is_repeated_on_a_new_connection_after_a_reset_reused_one(
    upstreams: Callable[..., Awaitable[IdleClosingUpstream]], pools: Callable[..., Pool]
) -> None:
    up = await upstreams(drop=frozenset({2}))  # the 2nd request: closed unanswered
    pool = pools(up.url, retry_on_reset=True)
    retried: list[int] = []
    assert await _get(pool) == ANSWER
    resp = await pool.request("POST", "/", [], b"{}", T, on_retry=lambda: retried.append(1))
    assert await resp.read() == ANSWER
    assert up.requests == 3 and up.connections == 2  # sent twice, the second time fresh
    assert retried == [1] and pool.retries == 1


async def test_no_repeat_without_retry_on_reset(
    upstreams: Callable[..., Awaitable[IdleClosingUpstream]], pools: Callable[..., Pool]
) -> None:
    up = await upstreams(drop=frozenset({2}))
    pool = pools(up.url, retry_on_reset=False)
    await _get(pool)
    with pytest.raises(UpstreamError) as err:
        await _get(pool)
    assert err.value.kind == "reset"
    assert up.requests == 2 and pool.retries == 0


async def test_reset_of_a_fresh_connection_is_not_repeated(
    upstreams: Callable[..., Awaitable[IdleClosingUpstream]], pools: Callable[..., Pool]
) -> None:
    up = await upstreams(drop=frozenset({1}))  # a real failure, not the keep-alive race
    pool = pools(up.url, retry_on_reset=True)
    with pytest.raises(UpstreamError):
        await _get(pool)
    assert up.requests == 1 and pool.retries == 0


def _metric(gw: Gateway, name: str, **labels: str) -> float:
    value = gw.metrics.registry.get_sample_value(name, labels)
    return 0.0 if value is None else value


async def test_gateway_repeats_for_both_sides_and_counts_it(
    upstreams: Callable[..., Awaitable[IdleClosingUpstream]],
    gateway_factory: GatewayFactory,
    http: aiohttp.ClientSession,
) -> None:
    prod = await upstreams(drop=frozenset({2}))
    cand = await upstreams(drop=frozenset({2}))
    sink = MemorySink()
    gw = await gateway_factory(config(route("m", "/v2", prod.url, cand.url)), sink=sink)
    for _ in range(2):
        async with http.post(gw.data_url + "/v2/x", data=b"{}") as r:
            assert r.status == 200 and await r.read() == ANSWER
    await asyncio.sleep(0.1)
    assert [(e.candidate.status, e.candidate.error) for e in sink.items if e.candidate] == [
        (200, None),
        (200, None),
    ]
    name = "shadowgate_upstream_retries_total"
    assert _metric(gw, name, route="m", variant="production") == 1
    assert _metric(gw, name, route="m", variant="candidate") == 1


async def test_gateway_with_retry_on_reset_false_answers_502(
    upstreams: Callable[..., Awaitable[IdleClosingUpstream]],
    gateway_factory: GatewayFactory,
    http: aiohttp.ClientSession,
) -> None:
    prod = await upstreams(drop=frozenset({2}))
    cand = await upstreams()
    r = route("m", "/v2", prod.url, cand.url)
    r["production"]["retry_on_reset"] = False
    gw = await gateway_factory(config(r))
    statuses = []
    for _ in range(2):
        async with http.post(gw.data_url + "/v2/x", data=b"{}") as resp:
            statuses.append(resp.status)
    assert statuses == [200, 502]


# -- the race --------------------------------------------------------------------------------

#: the race at a tenth of its real scale (an upstream closing idle connections after
#: 0.3 s, requests 0.26-0.34 s apart), so 600 requests take about 20 s, not 3 minutes
SCALE = 0.1
RACE_REQUESTS = 600


async def test_keep_alive_race_reaches_neither_client_nor_candidate(
    upstreams: Callable[..., Awaitable[IdleClosingUpstream]],
    gateway_factory: GatewayFactory,
    http: aiohttp.ClientSession,
) -> None:
    prod = await upstreams(idle=0.3 * SCALE)
    cand = await upstreams(idle=0.3 * SCALE)
    sink = MemorySink()
    gw = await gateway_factory(config(route("m", "/v2", prod.url, cand.url)), sink=sink)
    rng = random.Random(15)
    failed = 0
    for _ in range(RACE_REQUESTS):
        async with http.post(gw.data_url + "/v2/x", data=b'{"inputs":[]}') as r:
            await r.read()
            failed += r.status != 200
        await asyncio.sleep(rng.uniform(0.26, 0.34) * SCALE)
    await asyncio.sleep(0.2)
    candidate_errors = [e.candidate.error for e in sink.items if e.candidate and e.candidate.error]
    assert failed == 0
    assert candidate_errors == []
    assert len(sink.items) == RACE_REQUESTS
