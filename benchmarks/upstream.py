"""A fixed-response model server that answers after ``--delay`` seconds (the slow candidate).

The fast upstreams of ``benchmarks/proxy.py`` are nginx ``return 200`` servers; this one
exists because stock nginx cannot wait before answering.

    python benchmarks/upstream.py --port 18003 --delay 0.1
"""

from __future__ import annotations

import argparse
import asyncio

import uvloop
from aiohttp import web

BODY = b'{"model_name":"bench","outputs":[{"name":"y","shape":[1],"datatype":"FP32","data":[0.5]}]}'


async def main(port: int, delay: float) -> None:
    async def handler(request: web.BaseRequest) -> web.Response:
        await request.read()
        if delay > 0:
            await asyncio.sleep(delay)
        return web.Response(body=BODY, content_type="application/json")

    runner = web.ServerRunner(web.Server(handler, access_log=None))
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port, backlog=1024).start()
    await asyncio.Event().wait()


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--delay", type=float, default=0.0)
    a = p.parse_args()
    uvloop.run(main(a.port, a.delay))
