"""shadowgate's data plane with recording off: mirrors and pairs as usual, exchanges discarded.

``benchmarks/proxy.py`` runs it beside ``shadowgate serve`` (recording on) to show what
recording costs.

    python benchmarks/shadowgate_norecord.py CONFIG
"""

from __future__ import annotations

import asyncio
import signal
import sys

import uvloop

from shadowgate.commands.serve import settle_heap
from shadowgate.config.loader import load_config
from shadowgate.config.reload import ConfigHolder
from shadowgate.gateway import Gateway
from shadowgate.model.exchange import Exchange


class NullSink:
    """Accepts every exchange and keeps none."""

    def submit(self, exchange: Exchange) -> bool:
        return True


async def main(path: str) -> None:
    gw = Gateway(ConfigHolder(load_config(path), path), sink=NullSink(), watch_config=False)
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    await gw.start()
    settle_heap()  # as `shadowgate serve` does after start-up
    try:
        await stop.wait()
    finally:
        await gw.stop()


if __name__ == "__main__":
    uvloop.run(main(sys.argv[1]))
