"""The drift monitors' snapshots: saved when due and changed, offered back to a new
watcher (which resumes them at once when it knows the features), and a failing store that
costs only the snapshot."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import pytest

from shadowgate.config.model import ShadowgateConfig
from shadowgate.inputs import ModelSchema
from shadowgate.model.exchange import Exchange, Side
from shadowgate.recording.inputs_watch import InputWatch
from shadowgate.recording.monitor_store import MonitorSaver, StoredAlarms
from shadowgate.store import Store, open_store

SCHEMA = ModelSchema.from_metadata(
    {"inputs": [{"name": "x", "datatype": "FP32", "shape": [-1, 2]}]}
)


def config(on_drift: str, reference: int = 320) -> ShadowgateConfig:
    drift = {"reference": reference, "on_drift": on_drift, "predictions": False, "every": 1}
    r = {
        "name": "m",
        "match": {"path_prefix": "/v2/models/m"},
        "production": {"url": "http://127.0.0.1:1"},
        "protocol": "open-inference-v2",
        "validation": {"schema": "auto"},
        "drift": drift,
    }
    return ShadowgateConfig.model_validate({"routes": [r]})


def exchange(x: np.ndarray, i: int) -> Exchange:
    doc = {"inputs": [{"name": "x", "datatype": "FP32", "shape": list(x.shape),
                       "data": x.ravel().tolist()}]}  # fmt: skip
    ok = Side(status=200, latency=0.01, body=b'{"outputs": []}')
    return Exchange(
        "m", f"r{i}", 1000.0 + i, "shadow", "production", "POST", "/v2/models/m/infer",
        json.dumps(doc).encode(), "application/json", None, ok, ok,
    )  # fmt: skip


def watch_of(cfg: ShadowgateConfig, requests: int, start: int = 0) -> InputWatch:
    watch = InputWatch()
    watch.configure(cfg)
    watch.set_schemas("m", SCHEMA, SCHEMA)
    feed(watch, requests, start)
    return watch


def feed(watch: InputWatch, requests: int, start: int = 0) -> None:
    rng = np.random.default_rng(start)
    for i in range(start, start + requests):
        x = rng.standard_normal((32, 2))
        x[:, 0] += 2.0 if i >= 10 else 0.0
        watch.observe(exchange(x, i))


def drift(watch: InputWatch) -> dict[str, object]:
    status = watch.status("m")
    assert status is not None
    doc: dict[str, object] = status["inputs"]["drift"]
    return doc


async def test_saved_when_due_and_changed_and_resumed_by_a_new_watcher(store: Store) -> None:
    cfg = config("block_promotion")  # 320 reference rows, then x[0] moves
    now = [1000.0]
    watch = watch_of(cfg, 5)  # 160 rows: the reference is not complete, nothing to keep
    saver = MonitorSaver(watch, store, "host/0", clock=lambda: now[0])
    assert await saver.save() == 0
    feed(watch, 35, start=5)
    assert await saver.save() == 1
    assert await saver.save(force=True) == 0  # nothing new
    feed(watch, 1, start=40)
    assert await saver.save() == 0  # save_interval (10 s) not passed
    now[0] += 10.0
    assert await saver.save() == 1
    before = drift(watch)
    assert before["saved"] == {"at": 1010.0, "rows": 41 * 32 - 320}

    again = InputWatch()  # a restarted process: the same config, the schema known
    again.configure(cfg)
    again.set_schemas("m", SCHEMA, SCHEMA)
    await MonitorSaver(again, store, "host/0").restore()
    after = drift(again)
    assert after["restored"] == {"saved_at": 1010.0, "rows": before["rows"]}
    for key in ("ready", "rows", "features", "alarms"):
        assert after[key] == before[key], key
    assert again.drifting("m") is not None  # the promotion hold is back before any request
    assert await MonitorSaver(again, store, "host/0").save(force=True) == 0  # unchanged

    other = InputWatch()  # another process's name: its own snapshots only
    other.configure(cfg)
    other.set_schemas("m", SCHEMA, SCHEMA)
    await MonitorSaver(other, store, "host/1").restore()
    assert drift(other)["restored"] is None and other.drifting("m") is None


async def test_a_failing_store_costs_only_the_snapshot(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    watch = watch_of(config("alert"), 40)
    broken = open_store(f"sqlite:///{tmp_path}/gone.db")  # never opened: every call fails
    saver = MonitorSaver(watch, broken, "host/0")
    with caplog.at_level(logging.WARNING):
        assert await saver.save() == 0
        assert await saver.save(force=True) == 0
    saver_log = [r.getMessage() for r in caplog.records if r.name.endswith("monitor_store")]
    assert len(saver_log) == 1 and saver_log[0].startswith("drift monitors not saved (will")
    assert drift(watch)["saved"] is None
    feed(watch, 2, start=40)  # monitoring goes on
    assert drift(watch)["rows"] == 42 * 32 - 320


async def test_a_judge_that_sees_no_traffic_reads_the_workers_alarms(store: Store) -> None:
    """``serve --judge-process``: the judge's own watch has no monitors; the alarms come
    from the workers' snapshots, for the route's current drift config only."""
    cfg = config("block_promotion")
    workers = [watch_of(cfg, 40), watch_of(cfg, 10)]  # only the first one sees the shift
    assert drift(workers[0]).get("alarms") and not drift(workers[1]).get("alarms")
    for i, w in enumerate(workers):
        assert await MonitorSaver(w, store, f"host/{i}").save(force=True) == 1
    judge = InputWatch()
    judge.configure(cfg)
    assert judge.drifting("m") is None
    stored = StoredAlarms(judge, store)
    judge.elsewhere = stored.alarmed
    await stored.refresh()
    assert stored.alarmed("m") == ["x[0]"]
    assert judge.drifting("m") == (
        "promotion held: inputs drift (x[0]); drift.on_drift is block_promotion"
    )
    # another drift config: the saved monitors are not about it
    judge.configure(config("block_promotion", reference=640))
    await stored.refresh()
    assert stored.alarmed("m") == [] and judge.drifting("m") is None
