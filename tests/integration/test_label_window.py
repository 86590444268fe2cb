"""End to end: ``analysis.label_window`` through a real gateway, judge and SQLite store.

A label posted within its pair's window counts once the window has passed; a label
posted after it never does; /api/status shows the window and the labelled share.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from gwhelpers import Hooks
from integration.test_rollout_e2e import model, start

pytestmark = pytest.mark.slow


async def _status(s: aiohttp.ClientSession, url: str) -> dict[str, Any]:
    async with s.get(f"{url}/api/status") as r:
        doc: dict[str, Any] = await r.json()
    return doc["routes"]["m"]["rollout"]


async def test_late_labels_do_not_count_and_the_share_is_shown(
    tmp_path: Path, upstream_factory: Any, hooks: Hooks
) -> None:
    prod = await upstream_factory(model(seed=1))
    cand = await upstream_factory(model(seed=2))
    gw, _ = await start(
        tmp_path,
        prod.url,
        cand.url,
        hooks.url,
        min_samples=5000,  # no decision: this is about which labels count
        label_window="1s",
        checks=[{"metric": "accuracy"}, {"metric": "errors", "margin": 0.02}],
    )
    try:
        async with aiohttp.ClientSession() as s:

            async def request(truth: int) -> str:
                async with s.post(f"{gw.data_url}/m/predict", json={"truth": truth}) as r:
                    await r.read()
                    return r.headers["X-Request-Id"]

            async def label(rid: str, truth: int) -> None:
                body = {"request_id": rid, "label": truth}
                async with s.post(f"{gw.admin_url}/api/feedback", json=body) as r:
                    assert r.status == 200, await r.text()

            for i in range(20):  # each labelled right after its answer: well within 1 s
                await label(await request(i % 2), i % 2)
            late = [await request(i % 2) for i in range(20)]
            await asyncio.sleep(2.5)  # > the 1 s window (and its bins) of every pair
            for i, rid in enumerate(late):
                await label(rid, i % 2)
            window: dict[str, Any] = {}
            for _ in range(100):  # until every pair is evaluated and the late labels read
                rollout = await _status(s, gw.admin_url)
                window = rollout["samples"]["label_window"] or {}
                if window.get("evaluated", 0) >= 40 and window.get("late", 0) >= 20:
                    break
                await asyncio.sleep(0.1)
        assert window["window"] == pytest.approx(1.0)
        assert window["evaluated"] == 40
        assert window["labelled"] == 20 and window["late"] == 20
        assert window["labelled_share"] == pytest.approx(0.5)
        accuracy = next(c for c in rollout["checks"] if c["check"] == "accuracy")
        assert accuracy["n"] == 20  # the late labels never reached the check
        assert rollout["samples"]["labels"] == 20
    finally:
        await gw.stop()
