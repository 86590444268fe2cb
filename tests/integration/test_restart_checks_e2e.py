"""End to end: restarting a check's evidence through the judge (real gateway, SQLite).

- a canary paused on a real sample-ratio mismatch and resumed by an operator: the split
  check starts again on new evidence (no re-pause on a correct split), and the audit says
  what was discarded;
- a check's margin edited in the config file while the gateway runs: that check starts
  fresh tests, the audit records it, and a new gateway on the same store keeps the new
  margin and its evidence.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from gwhelpers import config, route, write_config
from integration.test_rollout_e2e import model
from shadowgate.app import Control, attach_control
from shadowgate.config import ConfigHolder, load_config
from shadowgate.gateway import Gateway

pytestmark = pytest.mark.slow


def route_config(tmp_path: Path, prod: str, cand: str, **extra: Any) -> dict[str, Any]:
    analysis: dict[str, Any] = {"min_samples": 50_000, "max_samples": 100_000, "interval": "50ms"}
    analysis.update(extra.pop("analysis", {}))
    r = route("m", "/m", prod, cand, protocol="json", prediction={"path": "predictions"})
    r.update(extra, analysis=analysis)
    cfg = config(r)
    cfg["store"] = {"url": f"sqlite:///{tmp_path}/sg.db", "flush_interval": "20ms"}
    return cfg


async def start(path: Path, cfg: dict[str, Any]) -> tuple[Gateway, Control]:
    write_config(path, cfg)
    holder = ConfigHolder(load_config(path), path)
    gw = Gateway(holder, watch_poll=0.05)
    control = attach_control(gw)
    await gw.start()
    return gw, control


async def send(s: aiohttp.ClientSession, gw: Gateway, n: int, user: Callable[[int], str]) -> None:
    for i in range(n):
        headers = {"x-user": user(i)}
        async with s.post(f"{gw.data_url}/m/predict", json={"truth": 1}, headers=headers) as r:
            await r.read()


async def until(cond: Callable[[], bool], seconds: float = 20.0) -> None:
    for _ in range(int(seconds / 0.05)):
        if cond():
            return
        await asyncio.sleep(0.05)
    raise AssertionError("condition not reached in time")


async def quiet_srm_count(judge: Any, quiet: float = 0.5) -> int:
    """The split check's count once it has not changed for `quiet` seconds."""

    def count() -> int:
        srm = judge.contexts["m"].analysis.srm
        return 0 if srm is None else int(srm.n)

    last, since = count(), time.monotonic()
    deadline = since + 20.0
    while time.monotonic() - since < quiet:
        if time.monotonic() > deadline:
            raise AssertionError("the split check's count kept changing")
        await asyncio.sleep(0.05)
        now = count()
        if now != last:
            last, since = now, time.monotonic()
    return last


async def test_resume_after_a_sample_ratio_mismatch_restarts_the_split_check(
    tmp_path: Path, upstream_factory: Any
) -> None:
    prod = await upstream_factory(model(seed=1))
    cand = await upstream_factory(model(seed=2))
    cfg = route_config(
        tmp_path,
        prod.url,
        cand.url,
        mode="canary",
        canary={"weight": 50, "sticky": "header:x-user", "step_min_samples": 50_000},
        analysis={"checks": [{"metric": "errors", "margin": 0.5}]},
    )
    gw, control = await start(tmp_path / "sg.yaml", cfg)
    try:
        judge = control.judge

        def state() -> str | None:
            ctx = judge.contexts.get("m")
            return None if ctx is None else ctx.rollout.state.value

        async with aiohttp.ClientSession() as s:
            # one user for everyone: sticky assignment sends all of them to one variant
            await send(s, gw, 60, lambda i: "the-same-user")
            await until(lambda: state() == "paused")
            ctx = judge.contexts["m"]
            assert ctx.last_decision is not None
            assert "sample-ratio mismatch" in ctx.last_decision["reason"]
            # the pause can come before every request sent is recorded and looked at:
            # the count discarded on resume is the one once the split check is quiet
            discarded = await quiet_srm_count(judge)
            assert discarded >= 20
            async with s.post(f"{gw.admin_url}/api/routes/m/resume") as r:
                assert r.status == 200, await r.text()
            assert state() == "canary"
            # requests served while replicas switch split belong to neither split and are
            # kept out of the split check: start the new evidence after that window
            settle = judge.contexts["m"].settle
            if settle is not None:
                await asyncio.sleep(max(0.0, settle[1] - time.time()) + 0.1)
            # a correct split from now on: many users, hashed half and half
            await send(s, gw, 300, lambda i: f"user-{uuid.uuid4()}")
            await until(
                lambda: (
                    judge.contexts["m"].analysis.canary[0] + judge.contexts["m"].analysis.canary[1]
                    >= 360
                )
            )
            await asyncio.sleep(0.3)  # a few more looks at the new evidence
        assert state() == "canary"  # not paused again
        ctx = judge.contexts["m"]
        assert ctx.analysis.srm is not None and ctx.analysis.srm.n >= 250
        assert ctx.analysis.srm_p_value() > ctx.analysis.alpha_srm
        audit = await control.store.read_audit("m", ctx.rollout_id)
        resumed = [a for a in audit if a.decision.startswith("resume")]
        assert len(resumed) == 1
        assert f"split check restarted: {discarded} requests discarded" in (resumed[0].reason or "")
        assert sum(a.decision.startswith("srm") for a in audit) == 1
    finally:
        await gw.stop()


async def test_a_margin_edited_live_restarts_that_check_and_survives_a_restart(
    tmp_path: Path, upstream_factory: Any
) -> None:
    prod = await upstream_factory(model(seed=1))
    cand = await upstream_factory(model(seed=2))
    checks = [{"metric": "errors", "margin": 0.5}, {"metric": "latency", "margin": "10%"}]
    path = tmp_path / "sg.yaml"
    cfg = route_config(tmp_path, prod.url, cand.url, analysis={"checks": checks})
    gw, control = await start(path, cfg)

    def n(c: Control, check: str) -> int:
        st = c.judge.contexts["m"].analysis.checks["shadow"][check]
        return st.n

    try:
        async with aiohttp.ClientSession() as s:
            await send(s, gw, 120, lambda i: "u")
            await until(lambda: "m" in control.judge.contexts and n(control, "latency") >= 120)
            edited = [checks[0], {"metric": "latency", "margin": "50%"}]
            cfg["routes"][0]["analysis"]["checks"] = edited
            write_config(path, cfg)  # the gateway's watcher reloads it
            await until(lambda: gw.holder.current.routes[0].analysis.checks[1].margin == 0.5)
            await send(s, gw, 40, lambda i: "u")
            await until(lambda: n(control, "errors") >= 160)
            await asyncio.sleep(0.2)
            before = n(control, "latency")
            assert 0 < before <= 40  # only the evidence since the edit
            assert n(control, "errors") >= 160  # an unchanged check keeps its evidence
            async with s.get(f"{gw.admin_url}/api/status") as r:
                status = await r.json()
        latency = next(
            c for c in status["routes"]["m"]["rollout"]["checks"] if c["check"] == "latency"
        )
        assert latency["margin"] == 0.5 and latency["n"] == before
        rollout_id = control.judge.contexts["m"].rollout_id
        audit = await control.store.read_audit("m", rollout_id)
        notes = [a for a in audit if a.decision.startswith("restarted")]
        assert {a.check for a in notes} == {"latency"} and {a.actor for a in notes} == {"config"}
        # the shadow tests (and the canary ones, not yet fed) of the latency check
        (note,) = [a for a in notes if (a.reason or "").startswith("shadow check")]
        assert len(notes) == 2
        assert "margin=0.1 " in (note.reason or "") and "margin=0.5 " in (note.reason or "")
        assert "120 observations discarded" in (note.reason or "")
    finally:
        await gw.stop()

    # a new gateway on the same SQLite file and the edited config
    gw2, control2 = await start(path, cfg)
    try:
        await until(lambda: "m" in control2.judge.contexts)
        assert n(control2, "latency") == before  # the new margin's tests, not the old ones
        assert n(control2, "errors") >= 160
        st = control2.judge.contexts["m"].analysis.checks["shadow"]["latency"]
        assert st.check.margin == 0.5
        assert st.harm.to_dict()["margin"] == pytest.approx(0.4054651, rel=1e-6)  # log 1.5
        audit = await control2.store.read_audit("m", control2.judge.contexts["m"].rollout_id)
        assert sum(a.decision.startswith("restarted") for a in audit) == 2  # not again
    finally:
        await gw2.stop()
