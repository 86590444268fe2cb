"""Outputs that differ in kind, through a real gateway: said in /api/status, once in the
audit, and in the reason of the decision, whether or not the two kinds could be mapped.

Production and the candidate are real aiohttp servers speaking the Open Inference Protocol
on loopback. Production answers class probabilities ``[N, 2] FP64``; the candidate answers
the same model's class labels (``[N] INT64``: mapped, so agreement compares classes and
the candidate is promoted), or probabilities of another shape or datatype, which no mapping
makes comparable (agreement compares values, and the candidate is rolled back).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
import numpy as np
import pytest
import yaml
from aiohttp import web

from conftest import UpstreamServer
from gwhelpers import config, route, until
from shadowgate.app import Control, attach_control
from shadowgate.cli import main
from shadowgate.config import ConfigHolder, parse_config
from shadowgate.gateway import Gateway

Factory = Callable[..., Awaitable[UpstreamServer]]
PROBS = "production: probabilities [N,2] FP64"


def model(answer: str) -> Callable[[web.Request], Awaitable[web.Response]]:
    """P(class 1) = sigmoid(x0 - x1) per row, answered as ``answer`` says."""

    async def handler(request: web.Request) -> web.Response:
        (x,) = (await request.json())["inputs"]
        rows = x["shape"][0]
        v = np.asarray(x["data"], dtype=np.float64).reshape(rows, 2)
        p1 = 1 / (1 + np.exp(-(v[:, 0] - v[:, 1])))
        probs = np.stack([1 - p1, p1], axis=1)
        if answer == "labels":
            out = {"datatype": "INT64", "shape": [rows], "data": probs.argmax(1).tolist()}
        elif answer == "three":  # a third class: another shape
            three = np.concatenate([probs * 0.9, np.full((rows, 1), 0.1)], axis=1)
            out = {"datatype": "FP64", "shape": [rows, 3], "data": three.ravel().tolist()}
        else:  # "fp64" or "fp32": the datatype differs, the values do not
            out = {"datatype": answer.upper(), "shape": [rows, 2], "data": probs.ravel().tolist()}
        return web.json_response({"model_name": "m", "outputs": [{"name": "p", **out}]})

    return handler


async def start(tmp_path: Path, prod: str, cand: str, **prediction: Any) -> tuple[Gateway, Control]:
    r = route(
        "m",
        "/v2/models/m",
        prod,
        cand,
        protocol="open-inference-v2",
        prediction=prediction,
        analysis={
            "min_samples": 40,
            "interval": "50ms",
            "checks": [{"metric": "agreement", "min": 0.8}],
        },
    )
    cfg = config(r)
    cfg["store"] = {"url": f"sqlite:///{tmp_path}/sg.db", "flush_interval": "20ms"}
    gw = Gateway(ConfigHolder(parse_config(yaml.safe_dump(cfg))), watch_config=False)
    control = attach_control(gw)
    await gw.start()
    return gw, control


async def drive(gw: Gateway, control: Control) -> dict[str, Any]:
    """Batches of 3 and 5 rows until the judge decides; the route's /api/status entry."""
    rng = np.random.default_rng(7)
    url = f"{gw.data_url}/v2/models/m/infer"
    async with aiohttp.ClientSession() as s:

        def shadow() -> bool:
            ctx = control.judge.contexts.get("m")
            return ctx is None or ctx.rollout.state.value == "shadow"

        async def decided() -> bool:
            for rows in (3, 5):
                if not shadow():  # a promotion serves the candidate's answers from now on
                    return True
                data = rng.normal(size=(rows, 2)).ravel().tolist()
                x = {"name": "x", "shape": [rows, 2], "datatype": "FP64", "data": data}
                async with s.post(url, json={"inputs": [x]}) as resp:
                    assert resp.status == 200
                    body = await resp.json()
                # in shadow the client is answered by production; a decision taken while
                # this request was in flight may already have handed it to the candidate
                if shadow():
                    assert body["outputs"][0]["datatype"] == "FP64"  # production's
            return not shadow()

        await until(decided, timeout=30, what="a decision", poll=0.0)
        async with s.get(f"{gw.admin_url}/api/status") as resp:
            entry: dict[str, Any] = (await resp.json())["routes"]["m"]
    return entry


@pytest.mark.parametrize(
    ("answer", "prediction", "state", "candidate", "how"),
    [
        ("labels", {}, "promoted", "candidate: labels [N] INT64", "compared by class: argmax"),
        (
            "labels",
            {"map_kinds": False},
            "rolled_back",
            "candidate: labels [N] INT64",
            "compared value by value: prediction.map_kinds is off",
        ),
        (
            "three",
            {},
            "rolled_back",
            "candidate: probabilities [N,3] FP64",
            "compared value by value: no unambiguous mapping applies",
        ),
    ],
    ids=["labels-mapped", "labels-map-off", "shape"],
)
async def test_outputs_of_another_kind_are_said_in_status_audit_and_reason(
    tmp_path: Path,
    upstream_factory: Factory,
    capsys: pytest.CaptureFixture[str],
    answer: str,
    prediction: dict[str, Any],
    state: str,
    candidate: str,
    how: str,
) -> None:
    prod, cand = await upstream_factory(model("fp64")), await upstream_factory(model(answer))
    gw, control = await start(tmp_path, prod.url, cand.url, **prediction)
    try:
        entry = await drive(gw, control)
        ro = entry["rollout"]
        assert ro["state"] == state
        km = ro["kind_mismatch"]
        # one description for batches of 3 and of 5 rows: row counts are N
        assert km["differs"] == f"{PROBS}; {candidate}"
        assert km["kinds"] == {km["differs"]: km["pairs"]}
        assert 0 < km["pairs"] == km["compared"]  # every compared pair differs in kind
        assert km["compared"] == ro["samples"]["pairs"]  # both count what the judge read
        assert km["map_kinds"] is prediction.get("map_kinds", True)
        mapped = answer == "labels" and prediction.get("map_kinds", True)
        assert km["mapped"] == (km["pairs"] if mapped else 0)
        assert (km["mapping"] is not None) is mapped
        assert how in km["how"]

        reason = ro["last_decision"]["reason"]
        assert "agreement: " in reason  # the check's own reason comes first
        assert reason.index("agreement: ") < reason.index("Note: ")
        assert f"Note: outputs differ in kind ({PROBS}; {candidate})" in reason
        assert how in reason

        await asyncio.sleep(0.3)  # more looks, more pairs: still one audit record
        audit = await control.store.read_audit("m", ro["rollout_id"])
        noted = [a for a in audit if a.decision.startswith("kind_mismatch:")]
        assert len(noted) == 1, [a.decision for a in audit]
        (first,) = noted
        assert first.decision == "kind_mismatch:shadow" and first.actor == "judge"
        assert f"{PROBS}; {candidate}" in first.reason and how in first.reason
        assert first.n is not None and first.n > 0
        decision = next(a for a in audit if a.decision.endswith(f":{state}"))
        assert first.id < decision.id  # seen before the decision it explains
        assert decision.reason == reason

        assert await asyncio.to_thread(main, ["status", "--admin", gw.admin_url]) == 0
        out = capsys.readouterr().out
        assert f"outputs differ in kind: {PROBS}; {candidate} in " in out and how in out
    finally:
        await gw.stop()


async def test_a_datatype_difference_alone_is_said_and_values_still_agree(
    tmp_path: Path, upstream_factory: Factory
) -> None:
    prod, cand = await upstream_factory(model("fp64")), await upstream_factory(model("fp32"))
    gw, control = await start(tmp_path, prod.url, cand.url)
    try:
        entry = await drive(gw, control)
        ro = entry["rollout"]
        assert ro["state"] == "promoted"  # the same probabilities, in another datatype
        assert ro["kind_mismatch"]["differs"] == f"{PROBS}; candidate: probabilities [N,2] FP32"
        assert "outputs differ in kind" in ro["last_decision"]["reason"]
    finally:
        await gw.stop()


async def test_outputs_of_one_kind_say_nothing(tmp_path: Path, upstream_factory: Factory) -> None:
    prod, cand = await upstream_factory(model("fp64")), await upstream_factory(model("fp64"))
    gw, control = await start(tmp_path, prod.url, cand.url)
    try:
        ro = (await drive(gw, control))["rollout"]
        assert ro["state"] == "promoted" and ro["kind_mismatch"] is None
        assert "kind" not in ro["last_decision"]["reason"]
        audit = await control.store.read_audit("m", ro["rollout_id"])
        assert not [a for a in audit if a.decision.startswith("kind_mismatch:")]
    finally:
        await gw.stop()
