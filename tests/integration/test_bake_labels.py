"""A precision drop that only delayed labels show, during the bake, with a real
``shadowgate serve`` and real upstreams: the promoted model starts answering wrongly, its
answers look like any others (no errors, no latency change), the labels arrive later
through ``POST /api/feedback``, and the promotion is reverted on their evidence."""

from __future__ import annotations

import itertools
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from integration.test_bake import reach
from reliability.procs import Serve

pytestmark = pytest.mark.slow


def model(wrong: bool = False) -> Any:
    """Answers each request's ``truth`` (the right class), or, broken, 0 whatever the truth:
    it misses every positive (half the requests), a precision drop on that class."""

    async def handler(request: web.Request) -> web.Response:
        truth = (await request.json())["truth"]
        return web.json_response({"predictions": [0 if wrong else truth]})

    return handler


def config(prod: str, cand: str) -> dict[str, Any]:
    return {
        "store": {"url": "sqlite:///labels.db", "flush_interval": "20ms"},
        "routes": [
            {
                "name": "m",
                "match": {"path_prefix": "/m"},
                "protocol": "json",
                "prediction": {"path": "predictions"},
                "production": {"url": prod},
                "candidate": {"url": cand, "version": "v2"},
                "analysis": {
                    "min_samples": 100,
                    "interval": "100ms",
                    "checks": [{"metric": "accuracy", "margin": 0.1}],
                },
                "after_promotion": {"bake": "10m", "mirror_percent": 100, "min_samples": 50},
            }
        ],
    }


async def test_a_precision_drop_seen_only_through_delayed_labels_reverts_the_bake(
    tmp_path: Any, upstream_factory: Any
) -> None:
    prod = await upstream_factory(model())
    cand = await upstream_factory(model())
    serve = Serve(tmp_path, config(prod.url, cand.url))
    await serve.start()
    ids = itertools.count()
    try:
        async with aiohttp.ClientSession() as s:

            async def ask(label_now: bool) -> tuple[str, int]:
                n = next(ids)
                rid, truth = f"r{n}", n % 2
                headers = {"X-Request-Id": rid}
                async with s.post(f"{serve.data}/m/x", json={"truth": truth}, headers=headers) as r:
                    assert r.status == 200
                if label_now:
                    await label(rid, truth)
                return rid, truth

            async def label(rid: str, truth: int) -> None:
                body = {"request_id": rid, "label": truth}
                async with s.post(f"{serve.admin}/api/feedback", json=body) as r:
                    assert r.status == 200, await r.text()

            for _ in range(3000):  # both right, labelled at once: promoted into the bake
                await ask(label_now=True)
                if (await _state(serve)) == "baking":
                    break
            ro = await reach(serve, "baking", timeout=10)
            cand.handler = model(wrong=True)  # the promoted model breaks; nothing else shows it
            held = [await ask(label_now=False) for _ in range(200)]
            assert (await _state(serve)) == "baking"  # no label yet: no evidence of harm
            for rid, truth in held:
                await label(rid, truth)
            ro = await reach(serve, "rolled_back", timeout=30)
        assert ro["last_decision"]["reason"].startswith("regression while baking: accuracy")
    finally:
        serve.kill()


async def _state(serve: Serve) -> str:
    return str((await serve.status())["routes"]["m"]["rollout"].get("state"))
