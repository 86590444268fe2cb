"""The Python floor: a bare aiohttp mirror proxy (forward + fire-and-forget copy, nothing else).

No routing, no request ids, no header rewriting beyond what aiohttp needs, no recording, no
metrics: what any aiohttp proxy that mirrors must at least do. ``benchmarks/proxy.py``
compares shadowgate against it.

    python benchmarks/bare_mirror.py --listen 18020 --production http://127.0.0.1:18001 \
        --candidate http://127.0.0.1:18002
"""

from __future__ import annotations

import argparse
import asyncio

import aiohttp
import uvloop
from aiohttp import web

_SKIP = frozenset({"host", "content-length", "connection", "keep-alive", "transfer-encoding"})


async def main(listen: int, production: str, candidate: str | None) -> None:
    prod = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=256), auto_decompress=False)
    cand = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=256), auto_decompress=False)
    mirrors: set[asyncio.Task[None]] = set()
    mirror_timeout = aiohttp.ClientTimeout(total=2.0)

    async def mirror(url: str, method: str, headers: dict[str, str], body: bytes) -> None:
        try:
            async with cand.request(
                method, url, headers=headers, data=body, timeout=mirror_timeout
            ) as r:
                await r.read()
        except Exception:
            pass

    async def handler(request: web.BaseRequest) -> web.StreamResponse:
        body = await request.read()
        headers = {k: v for k, v in request.headers.items() if k.lower() not in _SKIP}
        if candidate is not None and len(mirrors) < 256:
            t = asyncio.create_task(
                mirror(candidate + request.raw_path, request.method, headers, body)
            )
            mirrors.add(t)
            t.add_done_callback(mirrors.discard)
        async with prod.request(
            request.method, production + request.raw_path, headers=headers, data=body
        ) as r:
            data = await r.read()
            out = {k: v for k, v in r.headers.items() if k.lower() not in _SKIP}
            return web.Response(body=data, status=r.status, headers=out)

    server = web.Server(handler, access_log=None)
    runner = web.ServerRunner(server)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", listen).start()
    await asyncio.Event().wait()


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--listen", type=int, required=True)
    p.add_argument("--production", required=True)
    p.add_argument("--candidate", default=None)
    a = p.parse_args()
    uvloop.run(main(a.listen, a.production, a.candidate))
