"""Labels that do not fit an outcome already recorded, through a real gateway: answered per
item with what was expected, counted in the metric, never judged; a corrected label posted
later joins and the accuracy check's n moves (real upstream, real SQLite store).

These are the labels a first trial sent and saw answered ``200 {"joined": [...]}`` and then
silently dropped: ``"malignant"`` and ``5`` for a two-class probability answer, and ``[0]``
for a 2-row batch.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import aiohttp

from gwhelpers import until
from labelhelpers import accuracy_gateway, truth_model
from shadowgate.gateway import Gateway

#: request i has one row, but the last two requests have two
N = 10
MISFITS: dict[int, tuple[Any, str, str]] = {
    0: ("malignant", "class", "label 'malignant' must be a class index in 0..1"),
    1: (5, "class", "label 5 must be a class index in 0..1"),
    N - 1: ([0], "rows", "a batch request of 2 rows needs a list of 2 labels, got a list of 1"),
}


async def post_labels(
    s: aiohttp.ClientSession, gw: Gateway, items: list[dict[str, Any]], status: int
) -> dict[str, Any]:
    async with s.post(f"{gw.admin_url}/api/feedback", json={"items": items}) as r:
        doc: dict[str, Any] = await r.json()
        assert r.status == status, doc
        return doc


async def route_status(s: aiohttp.ClientSession, gw: Gateway) -> dict[str, Any]:
    async with s.get(f"{gw.admin_url}/api/status") as r:
        entry: dict[str, Any] = (await r.json())["routes"]["m"]["rollout"]
        return entry


def accuracy_n(rollout: dict[str, Any]) -> int:
    return int(next(c["n"] for c in rollout["checks"] if c["check"] == "accuracy"))


def rejected_total(metrics: str, reason: str) -> float:
    series = f'shadowgate_labels_rejected_total{{reason="{reason}",route="m"}} '
    line = next((x for x in metrics.splitlines() if x.startswith(series)), None)
    return 0.0 if line is None else float(line.removeprefix(series))


async def test_a_wrong_label_is_answered_with_the_expected_form_then_corrected_and_counted(
    tmp_path: Path, upstream_factory: Any
) -> None:
    up = await upstream_factory(truth_model)
    gw, control = await accuracy_gateway(tmp_path, up.url, "20ms")
    try:
        async with aiohttp.ClientSession() as s:
            truths: list[list[int]] = []
            ids: list[str] = []
            for i in range(N):
                truth = [i % 2] if i < N - 2 else [i % 2, 1 - i % 2]
                async with s.post(f"{gw.data_url}/m/p", json={"truth": truth}) as r:
                    assert r.status == 200
                    ids.append(r.headers["X-Request-Id"])
                truths.append(truth)

            async def recorded() -> bool:
                return len(await control.store.read_outcomes("m", 0, 100)) == N

            await until(recorded, what="every outcome stored")

            # the fitting labels of the first requests, and the misfits, in one call
            first = [i for i in range(N - 2) if i not in MISFITS]
            items = [{"request_id": ids[i], "label": truths[i][0]} for i in first]
            items += [{"request_id": ids[i], "label": m[0]} for i, m in MISFITS.items()]
            answer = await post_labels(s, gw, items, 200)  # some fit: 200, per item
            assert sorted(answer["joined"]) == sorted(ids[i] for i in first)
            rejected = {x["request_id"]: x for x in answer["rejected"]}
            assert set(rejected) == {ids[i] for i in MISFITS}
            for i, (label, reason, expected) in MISFITS.items():
                item = rejected[ids[i]]
                assert item["item"] == len(first) + list(MISFITS).index(i)
                assert (item["route"], item["reason"], item["label"]) == ("m", reason, label)
                assert expected in item["expected"], item["expected"]

            # a call whose every item is wrong is refused outright
            only_wrong = [{"request_id": ids[N - 1], "label": 7}]
            refused = await post_labels(s, gw, only_wrong, 422)
            assert refused["joined"] == [] and refused["rejected"][0]["reason"] == "rows"

            async def counted(n: int) -> bool:
                return accuracy_n(await route_status(s, gw)) == n

            await until(lambda: counted(len(first)), what="the fitting labels judged")
            async with s.get(f"{gw.admin_url}/metrics") as r:
                metrics = await r.text()
            assert rejected_total(metrics, "class") == 2
            assert rejected_total(metrics, "rows") == 2  # [0], then 7, for the 2-row batch
            rollout = await route_status(s, gw)
            assert rollout["samples"]["labels"] == len(first)  # a misfit is no sample

            # corrected labels join (not "revised": the misfit never stood) and count
            fixed: list[dict[str, Any]] = [
                {"request_id": ids[i], "label": truths[i]} for i in MISFITS
            ]
            fixed += [{"request_id": ids[N - 2], "label": truths[N - 2]}]
            answer = await post_labels(s, gw, fixed, 200)
            assert sorted(answer["joined"]) == sorted(x["request_id"] for x in fixed)
            assert answer["revised"] == [] and "rejected" not in answer
            await until(lambda: counted(N), what="the corrected labels judged")
            rollout = await route_status(s, gw)
            assert rollout["samples"]["labels"] == N
            async with s.get(f"{gw.admin_url}/metrics") as r:
                metrics = await r.text()
            assert rejected_total(metrics, "class") == 2  # the corrections add nothing
            assert rejected_total(metrics, "rows") == 2
    finally:
        await gw.stop()
