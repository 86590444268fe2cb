"""The judge against a real SQLite store (and PostgreSQL, where a test says so): decisions,
audit, resume after a restart, what it reads."""

from __future__ import annotations

import json
import math
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from pghelpers import drop_pg_schema, new_pg_schema, pg_unreachable, pg_url
from shadowgate.config.model import ShadowgateConfig
from shadowgate.config.reload import ConfigHolder
from shadowgate.judge.judge import Judge
from shadowgate.model.routing import Routing
from shadowgate.rollout.machine import TransitionError, from_detail
from shadowgate.store import OutcomeRecord, Store, open_store


def config(**analysis: object) -> ShadowgateConfig:
    a: dict[str, object] = {
        "min_samples": 100,
        "interval": "10ms",
        "checks": [{"metric": "errors", "margin": 0.02}, {"metric": "latency", "margin": 0.1}],
    }
    a.update(analysis)
    return ShadowgateConfig.model_validate(
        {
            "routes": [
                {
                    "name": "m",
                    "match": {"path_prefix": "/m"},
                    "production": {"url": "http://127.0.0.1:1"},
                    "candidate": {"url": "http://127.0.0.1:2", "version": "v1"},
                    "analysis": a,
                }
            ]
        }
    )


def outcomes(
    rng: np.random.Generator, rollout: str, n: int, *, slow: float = 1.0, c_err: float = 0.0
) -> list[OutcomeRecord]:
    out = []
    for i in range(n):
        p = float(rng.lognormal(math.log(0.02), 0.3))
        failed = bool(rng.random() < c_err)
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
                cand_status=500 if failed else 200,
                cand_latency=p * slow * float(rng.lognormal(0, 0.05)),
                cand_error="5xx" if failed else None,
                rows=1,
                agree=[True],
                prod_pred=[1],
                cand_pred=[1],
            )
        )
    return out


async def feed_until_decision(
    judge: Judge, store: Store, rng: np.random.Generator, **kw: float
) -> str:
    ctx = await judge.context(judge.holder.current.routes[0])
    for _ in range(100):
        await store.insert_outcomes(outcomes(rng, ctx.rollout_id, 50, **kw))
        d = await judge.look(judge.holder.current.routes[0])
        if d is not None:
            return ctx.rollout.state.value
    return ctx.rollout.state.value


async def test_slow_candidate_is_rolled_back_and_audited(store: Store) -> None:
    judge = Judge(store, ConfigHolder(config()))
    state = await feed_until_decision(judge, store, np.random.default_rng(1), slow=1.3)
    assert state == "rolled_back"
    ctx = judge.contexts["m"]
    audit = await store.read_audit("m", ctx.rollout_id)
    assert [a.decision for a in audit] == ["harm:rolled_back"]
    assert audit[0].check == "latency" and audit[0].p_value is not None
    assert audit[0].p_value <= 0.05 and audit[0].config_digest == judge.holder.current.digest()
    states = await store.read_rollout_states()
    assert states[0].state == "rolled_back"
    # the rollout state is stored once, with the split it implies, and read back whole
    rollout, routing = from_detail(states[0].detail, judge.holder.current.routes[0], "")
    assert rollout == ctx.rollout and rollout.since > 0 and rollout.reason
    assert routing == Routing("canary", 0.0, False, 100.0, ctx.rollout_id, final=True)
    saved = await store.load_judge_state("m", ctx.rollout_id)
    assert saved is not None and "rollout" not in saved.data


async def test_identical_candidate_is_promoted(store: Store) -> None:
    judge = Judge(store, ConfigHolder(config()))
    assert await feed_until_decision(judge, store, np.random.default_rng(2)) == "promoted"


async def test_restart_resumes_identical_statistics(store: Store, tmp_path: Path) -> None:
    holder = ConfigHolder(config(min_samples=10_000))
    judge = Judge(store, holder)
    rng = np.random.default_rng(3)
    ctx = await judge.context(holder.current.routes[0])
    for _ in range(5):
        await store.insert_outcomes(outcomes(rng, ctx.rollout_id, 40, slow=1.05))
        await judge.look(holder.current.routes[0])
    # outcomes that arrived after the last commit are read by the restarted judge
    await store.insert_outcomes(outcomes(rng, ctx.rollout_id, 40, slow=1.05))
    await judge.look(holder.current.routes[0])
    before = judge.status(holder.current.routes[0])
    restarted = Judge(store, holder)
    await restarted.look(holder.current.routes[0])
    after = restarted.status(holder.current.routes[0])
    assert after["samples"]["pairs"] == before["samples"]["pairs"] == 240
    assert after["checks"] == before["checks"]


async def test_new_candidate_version_starts_a_new_rollout(store: Store) -> None:
    holder = ConfigHolder(config())
    judge = Judge(store, holder)
    await feed_until_decision(judge, store, np.random.default_rng(4), slow=1.5)
    first = judge.contexts["m"].rollout_id
    raw = holder.current.model_dump()
    raw["routes"][0]["candidate"]["version"] = "v2"
    holder.swap(ShadowgateConfig.model_validate(raw))
    ctx = await judge.context(holder.current.routes[0])
    assert ctx.rollout_id != first and ctx.rollout.state.value == "shadow"
    assert len(await store.list_rollouts("m")) == 2
    assert [a.decision for a in await store.read_audit("m", first)] == ["harm:rolled_back"]


async def test_operator_actions_are_audited_and_validated(store: Store) -> None:
    holder = ConfigHolder(config(on_success="await_approval"))
    judge = Judge(store, holder)
    with pytest.raises(TransitionError):
        await judge.act("m", "approve")
    ctx = await judge.act("m", "pause", actor="alice")
    assert ctx.rollout.state.value == "paused"
    ctx = await judge.act("m", "resume", actor="alice")
    assert ctx.rollout.state.value == "shadow"
    assert await feed_until_decision(judge, store, np.random.default_rng(5)) == "awaiting_approval"
    ctx = await judge.act("m", "approve", actor="bob")
    assert ctx.rollout.state.value == "promoted"
    audit = await store.read_audit("m", ctx.rollout_id)
    assert [(a.decision, a.actor) for a in audit] == [
        ("pause:paused", "alice"),
        ("resume:shadow", "alice"),
        ("passed:awaiting_approval", "judge"),
        ("approve:promoted", "bob"),
    ]


async def test_incomplete_evidence_blocks_decisions(store: Store) -> None:
    holder = ConfigHolder(config())
    judge = Judge(store, holder, complete=lambda route: False)
    assert await feed_until_decision(judge, store, np.random.default_rng(6), slow=2.0) == "shadow"
    # it read and folded in all the evidence (100 looks of 50 pairs), it only did not decide
    ctx = judge.contexts["m"]
    assert ctx.analysis.pairs == 5000 and ctx.outcome_cursor > 0
    assert [a.decision for a in await store.read_audit("m", ctx.rollout_id)] == []
    # the same evidence, once complete, decides at the next look
    judge.complete = lambda route: True
    assert await judge.look(holder.current.routes[0]) is not None
    assert ctx.rollout.state.value == "rolled_back"


async def test_noise_outcomes_measure_the_floor_and_are_not_evidence(store: Store) -> None:
    from shadowgate.judge.observe import metrics_hook
    from shadowgate.metrics import Metrics

    holder = ConfigHolder(config(min_samples=10_000))
    judge = Judge(store, holder)
    metrics = Metrics()
    judge.on_look.append(metrics_hook(metrics))
    route = holder.current.routes[0]
    ctx = await judge.context(route)
    rng = np.random.default_rng(7)
    pairs = outcomes(rng, ctx.rollout_id, 50)
    noise = outcomes(rng, ctx.rollout_id, 40)
    for i, r in enumerate(noise):
        r.kind = "noise"
        r.agree = [i % 10 != 0]  # production disagrees with itself 10% of the time
    await store.insert_outcomes(pairs + noise)
    await judge.look(route)
    status = judge.status(route)
    assert status["samples"]["pairs"] == 50
    assert status["noise_floor"]["pairs"] == 40
    assert status["noise_floor"]["rate"] == pytest.approx(0.1)
    gauge = metrics.registry.get_sample_value("shadowgate_noise_disagreement_rate", {"route": "m"})
    assert gauge == pytest.approx(0.1)
    restarted = Judge(store, holder)
    await restarted.look(route)
    assert restarted.status(route)["noise_floor"] == status["noise_floor"]


async def test_history_endpoint_lists_every_rollout_with_its_audit(tmp_path: Path) -> None:
    import aiohttp
    import yaml

    from shadowgate.app import attach_control
    from shadowgate.config import parse_config
    from shadowgate.gateway import Gateway

    raw = config().model_dump(mode="json")
    raw["server"].update({"listen": "127.0.0.1:0", "admin_listen": "127.0.0.1:0"})
    raw["store"] = {"url": f"sqlite:///{tmp_path}/h.db"}
    gw = Gateway(ConfigHolder(parse_config(yaml.safe_dump(raw))), watch_config=False)
    control = attach_control(gw)
    await gw.start()
    try:
        async with aiohttp.ClientSession() as s:
            async with s.post(f"{gw.admin_url}/api/routes/m/rollback") as r:
                assert r.status == 200
            raw["routes"][0]["candidate"]["version"] = "v2"  # a new candidate: a new rollout
            gw.holder.swap(parse_config(yaml.safe_dump(raw)))
            await control.judge.context(gw.holder.current.routes[0])
            async with s.get(f"{gw.admin_url}/api/routes/m/rollouts") as r:
                doc = await r.json()
            async with s.get(f"{gw.admin_url}/api/routes/nope/rollouts") as r:
                assert r.status == 404
    finally:
        await gw.stop()
    first, second = doc["rollouts"][1], doc["rollouts"][0]
    assert [x["rollout_id"] for x in doc["rollouts"]] == ["m-2", "m-1"]
    assert first["state"] == "rolled_back" and first["candidate"].endswith("#v1")
    assert [a["decision"] for a in first["audit"]] == ["rollback:rolled_back"]
    assert second["candidate"].endswith("#v2") and second["audit"] == []


def test_forced_canary_requests_stay_out_of_the_sample_ratio_check() -> None:
    from shadowgate.compare.outcome import build_outcome
    from shadowgate.judge.evidence import canary_from
    from shadowgate.model.exchange import Exchange, Side
    from shadowgate.store import StoredOutcome

    route = config().routes[0]
    records = []
    for i, forced in enumerate((True, False)):
        ex = Exchange(
            "m",
            f"r{i}",
            1.0,
            "canary",
            "candidate",
            "POST",
            "/m",
            b"{}",
            None,
            None,
            None,
            Side(200, 0.01, b'{"predictions": [1]}'),
            forced=forced,
        )
        records.append(StoredOutcome(i + 1, build_outcome(ex, route, "m-1")))
    assert records[0].record.extra.get("forced") is True
    assert "forced" not in records[1].record.extra
    assert canary_from(records).assigned.tolist() == [False, True]


async def test_reading_in_chunks_gives_the_same_statistics(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The judge folds a page into its tests in chunks (yielding to the loop in between);
    the result must not depend on the chunk size."""
    import shadowgate.judge.walk as walk_module

    statuses = []
    for chunk in (walk_module.PAGE, 7):
        monkeypatch.setattr(walk_module, "CHUNK", chunk)
        s = open_store(f"sqlite:///{tmp_path}/chunk{chunk}.db")
        await s.open()
        try:
            holder = ConfigHolder(config(min_samples=10_000))
            judge = Judge(s, holder)
            route = holder.current.routes[0]
            ctx = await judge.context(route)
            await s.insert_outcomes(outcomes(np.random.default_rng(9), ctx.rollout_id, 300))
            await judge.look(route)
            statuses.append(judge.status(route))
        finally:
            await s.close()
    assert statuses[0]["samples"]["pairs"] == statuses[1]["samples"]["pairs"] == 300
    assert statuses[0]["checks"] == statuses[1]["checks"]


@pytest.fixture(params=["sqlite", "postgres"])
async def store_urls(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[list[str]]:
    """Three empty stores of one backend (a SQLite file or a PostgreSQL schema each)."""
    if request.param == "sqlite":
        yield [f"sqlite:///{tmp_path}/s{i}.db" for i in range(3)]
        return
    reason = pg_unreachable()
    if reason:
        pytest.skip(reason)
    schemas = [new_pg_schema() for _ in range(3)]
    yield [pg_url(s) for s in schemas]
    for s in schemas:
        await drop_pg_schema(s)


def mixed_outcomes(rollout: str, n: int) -> tuple[list[OutcomeRecord], list[tuple[str, Any]]]:
    """Shadow, noise and canary outcomes using every field the judge could look at (errors
    of each class, latencies, agreement, predictions, segments, forced canary requests),
    plus labels for a third of them, some of which do not fit their predictions."""
    rng = np.random.default_rng(11)
    records, labels = [], []
    for i in range(n):
        kind = ("shadow", "shadow", "shadow", "noise", "canary")[i % 5]
        width = int(rng.integers(1, 4))
        prod_pred = [int(x) for x in rng.integers(0, 3, width)]
        cand_pred = [p if rng.random() < 0.8 else (p + 1) % 3 for p in prod_pred]
        p_err = ("5xx", "timeout", "client_closed", None, None, None)[int(rng.integers(6))]
        c_err = ("5xx", "reset", None, None, None)[int(rng.integers(5))]
        variant = "candidate" if kind == "canary" and rng.random() < 0.3 else "production"
        r = OutcomeRecord(
            route="m",
            rollout_id=rollout,
            request_id=f"q{i}",
            ts=1000.0 + i,
            kind=kind,
            variant=variant,
            prod_status=500 if p_err == "5xx" else None if p_err else 200,
            prod_latency=float(rng.lognormal(math.log(0.02), 0.3)),
            prod_error=p_err,
            cand_status=500 if c_err == "5xx" else None if c_err else 200,
            cand_latency=float(rng.lognormal(math.log(0.021), 0.3)),
            cand_error=c_err,
            rows=width,
            agree=[a == b for a, b in zip(prod_pred, cand_pred, strict=True)],
            prod_pred=prod_pred,
            cand_pred=cand_pred,
            prob_gap=[float(x) for x in rng.random(width)],
            segment=("eu", "us", None)[i % 3],
            request_body=b'{"x": %d}' % i,
        )
        if kind == "canary" and i % 3 == 0:
            r.extra["forced"] = True
        if i % 7 == 0:
            r.extra["invalid"] = {"candidate": "returned 2 predictions for a request of 1 rows"}
        records.append(r)
        if i % 3 == 0:
            fits = rng.random() < 0.9
            labels.append((r.request_id, prod_pred if fits else [*prod_pred, 0]))
    return records, labels


def mixed_config() -> ShadowgateConfig:
    """A canary route with segments, whose checks use errors, latencies, agreement, labels."""
    checks = [
        {"metric": "errors", "margin": 0.02, "per_segment": True},
        {"metric": "latency", "margin": 0.1},
        {"metric": "agreement", "min": 0.5},
        {"metric": "accuracy", "per_segment": True},
    ]
    return ShadowgateConfig.model_validate(
        {
            "routes": [
                {
                    "name": "m",
                    "match": {"path_prefix": "/m"},
                    "production": {"url": "http://127.0.0.1:1"},
                    "candidate": {"url": "http://127.0.0.1:2", "version": "v1"},
                    "mode": "canary",
                    "canary": {"weight": 20},
                    "segment": {"header": "x-region"},
                    "analysis": {"min_samples": 100_000, "interval": "10ms", "checks": checks},
                }
            ]
        }
    )


async def test_the_judge_reads_only_what_its_checks_use_and_decides_the_same(
    store_urls: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The judge reads only ``evidence.OUTCOME_FIELDS`` / ``LABEL_FIELDS`` of each outcome;
    its statistics must be exactly those of a judge reading whole rows, on each backend.
    A read that leaves out fields the checks do use must show (else this test proves
    nothing)."""
    from shadowgate.judge import evidence

    holder = ConfigHolder(mixed_config())
    route = holder.current.routes[0]
    reads = [
        (evidence.OUTCOME_FIELDS, evidence.LABEL_FIELDS),  # what the judge reads
        (None, None),  # whole rows
        (("kind", "variant"), ("kind", "variant")),  # too little
    ]
    pictures = []
    for url, (outcome_fields, label_fields) in zip(store_urls, reads, strict=True):
        monkeypatch.setattr(evidence, "OUTCOME_FIELDS", outcome_fields)
        monkeypatch.setattr(evidence, "LABEL_FIELDS", label_fields)
        store = open_store(url)
        await store.open()
        try:
            judge = Judge(store, holder, clock=lambda: 5000.0)
            ctx = await judge.context(route)
            records, labels = mixed_outcomes(ctx.rollout_id, 600)
            for i in range(0, len(records), 150):
                await store.insert_outcomes(records[i : i + 150])
                await store.add_labels(labels[i // 3 : (i + 150) // 3], now=1.0)
                assert await judge.look(route) is None
            ctx = judge.contexts["m"]
            state = ctx.to_state(route, 5000.0)
            pictures.append(json.dumps([state.data, judge.status(route)], default=repr))
        finally:
            await store.close()
    lean, full, too_lean = pictures
    assert '"labels": 0' not in full and '"canary_labels": 0' not in full
    assert lean == full
    assert too_lean != full
