"""Labels posted before their outcome is recorded: those that fit join when it lands and
count; those that do not are set aside, counted and shown, and a corrected label posted
later joins and counts (a real gateway, real upstreams, a real SQLite store).

Under load the recorder batches its writes, so a client that posts its label as soon as
it has the answer can be first. Here the writer's flush interval is long and the batch is
written on purpose once every label has been posted, so each label is early.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import aiohttp

from gwhelpers import until
from labelhelpers import accuracy_gateway, truth_model
from shadowgate.admin.actions import status_provider
from shadowgate.app import Control
from shadowgate.gateway import Gateway
from shadowgate.judge.judge import Judge

N = 20
#: every 4th request gets a label that does not fit its 2-row probability answer
MISFITS: list[tuple[Any, str]] = [
    (["malignant", 0], "class"),
    ([5, 0], "class"),
    ([0], "rows"),
    (1, "rows"),
    ([0, "x"], "class"),
]


async def feedback(s: aiohttp.ClientSession, gw: Gateway, body: Any) -> dict[str, Any]:
    async with s.post(f"{gw.admin_url}/api/feedback", json=body) as r:
        assert r.status == 200, await r.text()
        doc: dict[str, Any] = await r.json()
        return doc


def accuracy_n(control: Control, gw: Gateway) -> int:
    status = control.judge.status(gw.holder.current.routes[0])
    return int(next(c["n"] for c in status["checks"] if c["check"] == "accuracy"))


async def test_early_labels_join_and_misfits_are_set_aside_then_corrected(
    tmp_path: Path, upstream_factory: Any
) -> None:
    up = await upstream_factory(truth_model)
    gw, control = await accuracy_gateway(tmp_path, up.url, "60s")
    try:
        async with aiohttp.ClientSession() as s:
            sent: list[tuple[str, Any]] = []

            async def client(k: int) -> None:  # 4 clients, each labels at once
                for i in range(k, N, 4):
                    truth = [i % 2, 1 - i % 2]
                    async with s.post(f"{gw.data_url}/m/p", json={"truth": truth}) as r:
                        assert r.status == 200
                        rid = r.headers["X-Request-Id"]
                    label = MISFITS[i // 4][0] if i % 4 == 3 else truth
                    answer = await feedback(s, gw, {"request_id": rid, "label": label})
                    assert answer["unknown"] == [rid]  # before its outcome: nothing to check
                    sent.append((rid, label))

            await asyncio.gather(*(client(k) for k in range(4)))
            await until(lambda: control.writer.pending == N, what="every outcome buffered")
            assert await control.writer.flush(5)

            fits = N - len(MISFITS)
            await until(lambda: accuracy_n(control, gw) == fits, what="the fitting labels")
            await asyncio.sleep(0.2)  # more looks: nothing else counts
            st = control.judge.status(gw.holder.current.routes[0])
            assert accuracy_n(control, gw) == fits
            assert st["samples"]["labels"] == fits  # a label set aside is not a sample
            assert st["samples"]["labels_rejected"] == {"class": 3, "rows": 2}
            async with s.get(f"{gw.admin_url}/metrics") as r:
                text = await r.text()
            assert 'shadowgate_labels_rejected_total{reason="class",route="m"} 3.0' in text
            assert 'shadowgate_labels_rejected_total{reason="rows",route="m"} 2.0' in text
            async with s.get(f"{gw.admin_url}/api/status") as r:
                shown = (await r.json())["routes"]["m"]["rollout"]["samples"]
            assert shown["labels_rejected"] == {"class": 3, "rows": 2}
            # as committed, for the processes that are not the acting judge
            other = Judge(control.store, gw.holder, is_leader=lambda: False)
            stored = (await status_provider(other, None)("m"))["rollout"]
            assert stored["samples"]["labels_rejected"] == {"class": 3, "rows": 2}

            bad = [(rid, label) for rid, label in sent if label in [m for m, _ in MISFITS]]
            assert len(bad) == len(MISFITS)
            kept = await control.store.read_labels([f"rejected:{rid}" for rid, _ in bad])
            for rid, label in bad:
                record = kept[f"rejected:{rid}"].label
                assert record["label"] == label and record["route"] == "m"
                assert record["reason"] in ("class", "rows") and record["expected"]

            # corrected labels now meet their outcomes: checked at once, joined, counted
            fixed = await feedback(
                s, gw, {"items": [{"request_id": r, "label": [0, 1]} for r, _ in bad]}
            )
            assert sorted(fixed["joined"]) == sorted(r for r, _ in bad)
            assert fixed["revised"] == [] and "rejected" not in fixed
            await until(lambda: accuracy_n(control, gw) == N, what="the corrected labels")
            st = control.judge.status(gw.holder.current.routes[0])
            assert st["samples"]["labels"] == N
            assert st["samples"]["labels_rejected"] == {"class": 3, "rows": 2}  # unchanged
    finally:
        await gw.stop()
