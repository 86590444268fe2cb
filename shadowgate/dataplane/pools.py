"""One connection pool per upstream, replaced on reload without cutting requests.

Pools are keyed by (URL, max_connections, idle_timeout, retry_on_reset): a reload that
keeps them reuses the pool and
its warm keep-alive connections; one that changes them gets a new pool, and the old one
is retired: it closes once its last in-flight request has finished. Timeouts are passed
per request (a prebuilt ``Timeout``), so changing a timeout needs no new pool.

Pools pass bytes through unchanged (``http/client.py``): no decompression, no cookies
(one user's cookies must never reach another's request), no automatic headers.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable

from shadowgate.config.model import ShadowgateConfig
from shadowgate.config.upstream import UpstreamConfig
from shadowgate.http.client import IDLE_TIMEOUT, Pool

log = logging.getLogger("shadowgate.proxy")

PoolKey = tuple[str, int, float, bool]


class Upstream:
    """A connection pool for one upstream plus a count of requests using it."""

    __slots__ = ("_closing", "active", "key", "pool", "retired", "url")

    def __init__(
        self,
        url: str,
        max_connections: int,
        idle_timeout: float = IDLE_TIMEOUT,
        retry_on_reset: bool = False,
    ) -> None:
        self.url = url
        self.key: PoolKey = (url, max_connections, idle_timeout, retry_on_reset)
        self.pool = Pool(
            url, max_connections, idle_timeout=idle_timeout, retry_on_reset=retry_on_reset
        )
        self.active = 0
        self.retired = False
        self._closing: asyncio.Task[None] | None = None

    @property
    def closed(self) -> bool:
        return self.pool.closed

    def release(self) -> None:
        """A request using this pool finished (call once per ``active += 1``)."""
        self.active -= 1
        if self.retired and self.active == 0:
            self._close_soon()

    def retire(self) -> None:
        """No new requests will use this pool; close it when the last one ends."""
        self.retired = True
        if self.active == 0:
            self._close_soon()

    def _close_soon(self) -> None:
        if self._closing is None:
            self._closing = asyncio.get_running_loop().create_task(self.pool.close())

    async def close(self) -> None:
        self.retired = True
        if self._closing is not None:
            await self._closing
        elif not self.pool.closed:
            await self.pool.close()


def _key(u: UpstreamConfig) -> PoolKey:
    return (u.url, u.max_connections, u.idle_timeout, u.retry_on_reset)


class UpstreamPools:
    """The pools the current config needs; ``sync`` after each config swap."""

    def __init__(self) -> None:
        self._by_key: dict[PoolKey, Upstream] = {}
        self._retired: list[Upstream] = []

    def sync(self, config: ShadowgateConfig) -> None:
        """Create pools for new upstreams and retire the ones no route uses anymore."""
        wanted: dict[PoolKey, UpstreamConfig] = {}
        for r in config.routes:
            for u in r.upstreams:
                wanted.setdefault(_key(u), u)
        for key in wanted:
            if key not in self._by_key:
                self._by_key[key] = Upstream(*key)
        for key in [k for k in self._by_key if k not in wanted]:
            old = self._by_key.pop(key)
            old.retire()
            self._retired.append(old)
        self._retired = [u for u in self._retired if not u.closed]

    def get(self, u: UpstreamConfig) -> Upstream:
        """The pool for an upstream of the synced config."""
        return self._by_key[_key(u)]

    def ready(self, config: ShadowgateConfig) -> bool:
        """True when every upstream of ``config`` has an open pool."""
        for r in config.routes:
            for u in r.upstreams:
                up = self._by_key.get(_key(u))
                if up is None or up.closed:
                    return False
        return True

    def all(self) -> Iterable[Upstream]:
        return list(self._by_key.values()) + self._retired

    async def close(self) -> None:
        ups = self.all()
        self._by_key.clear()
        self._retired.clear()
        await asyncio.gather(*(u.close() for u in ups), return_exceptions=True)
