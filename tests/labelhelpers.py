"""A gateway judging accuracy on a JSON route whose model answers the truth it is sent, for
the tests of labels posted late, early or wrong (``from labelhelpers import ...``).
"""

from __future__ import annotations

from pathlib import Path

import yaml
from aiohttp import web

from gwhelpers import config, route
from shadowgate.app import Control, attach_control
from shadowgate.config import ConfigHolder, parse_config
from shadowgate.gateway import Gateway


async def truth_model(request: web.Request) -> web.Response:
    """Class probabilities, one row per entry of ``truth``; row i says class ``truth[i]``."""
    truth = (await request.json())["truth"]
    return web.json_response({"predictions": [[0.8, 0.2] if t == 0 else [0.3, 0.7] for t in truth]})


async def accuracy_gateway(
    tmp_path: Path, url: str, flush_interval: str
) -> tuple[Gateway, Control]:
    """A started gateway with route ``m`` at ``/m`` (both sides ``url``) judging accuracy,
    that never decides, recording to SQLite in ``tmp_path``; the store writes a batch when it
    is full or ``flush_interval`` after its first record."""
    r = route(
        "m",
        "/m",
        url,
        url,
        protocol="json",
        prediction={"path": "predictions"},
        analysis={
            "min_samples": 100_000,
            "interval": "50ms",
            "checks": [{"metric": "accuracy", "margin": 0.05}],
        },
    )
    cfg = config(r)
    cfg["store"] = {"url": f"sqlite:///{tmp_path}/sg.db", "flush_interval": flush_interval}
    gw = Gateway(ConfigHolder(parse_config(yaml.safe_dump(cfg))), watch_config=False)
    control = attach_control(gw)
    await gw.start()
    return gw, control
