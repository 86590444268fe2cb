"""End to end: a candidate whose predicted classes shift is rolled back by prediction_shift.

Two JSON model servers on loopback answer the same requests; production predicts class 1
for half of them, the candidate for 90 %. Nothing else differs (no errors, same latency),
so only the prediction_shift check can roll it back.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from gwhelpers import Hooks
from integration.test_rollout_e2e import drive, evidence_everywhere, start
from shadowgate.report.build import render_html
from shadowgate.report.replay import load
from shadowgate.store import open_store

pytestmark = pytest.mark.slow


def classifier(ones: float | None, seed: int) -> Callable[[web.Request], Awaitable[web.Response]]:
    """Predicts the request's ``truth`` (None), or class 1 with probability ``ones``."""
    rng = random.Random(seed)

    async def handler(request: web.Request) -> web.Response:
        doc = await request.json()
        await asyncio.sleep(0.003 * rng.uniform(0.8, 1.2))
        pred = int(doc["truth"]) if ones is None else int(rng.random() < ones)
        return web.json_response({"predictions": [pred]})

    return handler


async def test_candidate_shifting_its_class_shares_is_rolled_back(
    tmp_path: Path, upstream_factory: Any, hooks: Hooks
) -> None:
    prod = await upstream_factory(classifier(None, seed=1))
    cand = await upstream_factory(classifier(0.9, seed=2))
    checks = [
        {"metric": "errors", "margin": 0.02},
        {"metric": "prediction_shift", "max_shift": "5%"},
    ]
    gw, control = await start(tmp_path, prod.url, cand.url, hooks.url, checks=checks)
    try:
        assert await drive(gw, control) == "rolled_back"
        await evidence_everywhere(gw, control, hooks, "rolled_back")
        decision = control.judge.contexts["m"].last_decision
        assert decision is not None and decision["check"] == "prediction_shift"
        assert "prediction_shift" in decision["reason"]
        assert "moved by more than 0.05" in decision["reason"]
        assert "prediction_shift" in hooks.events[0]["decision"]["reason"]
        async with aiohttp.ClientSession() as s:
            async with s.get(f"{gw.admin_url}/metrics") as r:
                metrics = await r.text()
            async with s.get(f"{gw.admin_url}/api/status") as r:
                status = await r.json()
        assert 'shadowgate_check_p_value{check="prediction_shift",route="m"}' in metrics
        checks = status["routes"]["m"]["rollout"]["checks"]
        shown = [c for c in checks if c["check"] == "prediction_shift"]
        assert shown and shown[0]["verdict"] == "harm" and shown[0]["margin"] == 0.05
        assert shown[0]["ci"][0] > 0.05  # the largest class shift, proven above max_shift
        route, rollout_id = gw.holder.current.routes[0], control.judge.contexts["m"].rollout_id
    finally:
        await gw.stop()
    # the report replays the stored outcomes through the same check
    store = open_store(f"sqlite:///{tmp_path}/sg.db")
    await store.open()
    try:
        html = render_html(await load(store, route, rollout_id))
    finally:
        await store.close()
    assert 'alt="check prediction_shift"' in html
