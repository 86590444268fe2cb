"""``drift.on_drift: block_promotion``: a passing rollout is held while inputs drift, and
the judge says why; with ``alert`` the same rollout promotes."""

from __future__ import annotations

import json

import numpy as np
import pytest

from shadowgate.config.model import ShadowgateConfig
from shadowgate.config.reload import ConfigHolder
from shadowgate.inputs import ModelSchema
from shadowgate.judge.judge import Judge
from shadowgate.model.exchange import Exchange, Side
from shadowgate.recording.inputs_watch import InputWatch
from shadowgate.store import OutcomeRecord, Store

SCHEMA = ModelSchema.from_metadata(
    {"inputs": [{"name": "x", "datatype": "FP32", "shape": [-1, 2]}]}
)


def config(on_drift: str) -> ShadowgateConfig:
    return ShadowgateConfig.model_validate(
        {
            "routes": [
                {
                    "name": "m",
                    "match": {"path_prefix": "/v2/models/m"},
                    "production": {"url": "http://127.0.0.1:1"},
                    "candidate": {"url": "http://127.0.0.1:2", "version": "v1"},
                    "protocol": "open-inference-v2",
                    "validation": {"schema": "auto"},
                    "drift": {
                        "reference": 320,
                        "on_drift": on_drift,
                        "predictions": False,
                        "every": 1,
                    },
                    "analysis": {
                        "min_samples": 100,
                        "interval": "10ms",
                        "checks": [{"metric": "errors", "margin": 0.02}],
                    },
                }
            ]
        }
    )


def exchange(x: np.ndarray, i: int) -> Exchange:
    doc = {
        "inputs": [
            {"name": "x", "datatype": "FP32", "shape": list(x.shape), "data": x.ravel().tolist()}
        ]
    }
    ok = Side(status=200, latency=0.01, body=b'{"outputs": []}')
    return Exchange(
        route="m",
        request_id=f"r{i}",
        ts=1000.0 + i,
        kind="shadow",
        variant="production",
        method="POST",
        path="/v2/models/m/infer",
        request_body=json.dumps(doc).encode(),
        request_content_type="application/json",
        segment=None,
        production=ok,
        candidate=ok,
    )


def outcomes(rng: np.random.Generator, rollout: str, n: int) -> list[OutcomeRecord]:
    """Identical models: same status, latency within noise (a rollout that passes)."""
    out = []
    for i in range(n):
        p = float(rng.lognormal(np.log(0.02), 0.3))
        out.append(
            OutcomeRecord(
                route="m",
                rollout_id=rollout,
                request_id=f"r{rng.integers(1 << 62)}-{i}",
                ts=1000.0 + i,
                kind="shadow",
                variant="production",
                prod_status=200,
                prod_latency=p,
                cand_status=200,
                cand_latency=p * float(rng.lognormal(0, 0.05)),
                rows=1,
                agree=[True],
                prod_pred=[1],
                cand_pred=[1],
            )
        )
    return out


def drifting_watch(cfg: ShadowgateConfig) -> InputWatch:
    watch = InputWatch()
    watch.configure(cfg)
    watch.set_schemas("m", SCHEMA, SCHEMA)
    rng = np.random.default_rng(0)
    for i in range(40):
        x = rng.standard_normal((32, 2))
        if i >= 10:
            x[:, 0] += 2.0
        watch.observe(exchange(x, i))
    return watch


@pytest.mark.parametrize("on_drift", ["block_promotion", "alert"])
async def test_drift_holds_a_passing_rollout_only_when_asked(store: Store, on_drift: str) -> None:
    cfg = config(on_drift)
    watch = drifting_watch(cfg)
    st = watch.status("m")
    assert st is not None and [a["feature"] for a in st["inputs"]["drift"]["alarms"]] == ["x[0]"]
    judge = Judge(store, ConfigHolder(cfg))
    judge.holds.append(lambda route: watch.drifting(route.name))
    route = cfg.routes[0]
    ctx = await judge.context(route)
    rng = np.random.default_rng(1)
    for _ in range(60):
        await store.insert_outcomes(outcomes(rng, ctx.rollout_id, 50))
        if await judge.look(route) is not None:
            break
    if on_drift == "block_promotion":
        assert ctx.rollout.state.value == "shadow"
        assert ctx.pending_event is not None and "inputs drift (x[0])" in ctx.pending_event
    else:
        assert ctx.rollout.state.value == "promoted"


@pytest.mark.parametrize("on_drift", ["block_promotion", "alert"])
def test_an_alarm_is_a_hold_or_a_notice_as_on_drift_says(on_drift: str) -> None:
    watch = drifting_watch(config(on_drift))
    held, notice = watch.drifting("m"), watch.drift_notice("m")
    if on_drift == "block_promotion":
        assert held is not None and notice is None
    else:
        assert held is None
        assert (
            notice == "inputs drift (x[0]); drift.on_drift is alert, so the promotion is not held"
        )
    quiet = InputWatch()
    quiet.configure(config(on_drift))
    assert quiet.drifting("m") is None and quiet.drift_notice("m") is None


def test_switching_to_block_promotion_keeps_the_monitors_and_their_alarm() -> None:
    """on_drift and save_interval do not make the monitors: an edit of them keeps the alarm
    (switching to block_promotion after an alarm holds at once); an edit of what does make
    them (here the reference size) starts over."""
    watch = drifting_watch(config("alert"))
    assert watch.drifting("m") is None  # alerting only
    edited = config("block_promotion").routes[0]
    drift = edited.drift
    assert drift is not None
    edited = edited.model_copy(update={"drift": drift.model_copy(update={"save_interval": 0})})
    watch.configure(ShadowgateConfig(routes=(edited,)))
    held = watch.drifting("m")
    assert held is not None and "inputs drift (x[0])" in held
    other = edited.model_copy(update={"drift": drift.model_copy(update={"reference": 640})})
    watch.configure(ShadowgateConfig(routes=(other,)))
    assert watch.drifting("m") is None
