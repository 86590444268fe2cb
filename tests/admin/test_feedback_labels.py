"""Labels that don't fit their outcome are answered with what was expected, kept apart,
counted, and a corrected label joins and counts (real aiohttp app, real SQLite store)."""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from gwhelpers import config, route
from shadowgate.admin.feedback import add_feedback_routes
from shadowgate.config.model import ShadowgateConfig
from shadowgate.judge.evidence import labels_from
from shadowgate.metrics import Metrics
from shadowgate.store import OutcomeRecord, Store

Client = TestClient[web.Request, web.Application]
CONFIG = ShadowgateConfig.model_validate(
    config(
        route(
            "cancer",
            "/v2/models/cancer",
            "http://127.0.0.1:1",
            "http://127.0.0.1:2",
            protocol="open-inference-v2",
        ),
        route(
            "names",
            "/v2/models/names",
            "http://127.0.0.1:1",
            "http://127.0.0.1:2",
            protocol="open-inference-v2",
        ),
    )
)


@pytest.fixture
def metrics() -> Metrics:
    return Metrics()


@pytest.fixture
async def client(
    store: Store,
    metrics: Metrics,
    aiohttp_client: Callable[[web.Application], Awaitable[Client]],
) -> Client:
    app = web.Application()
    add_feedback_routes(app, lambda: store, config_getter=lambda: CONFIG, metrics=metrics)
    return await aiohttp_client(app)


def probabilities(rid: str, rows: list[list[float]]) -> OutcomeRecord:
    return OutcomeRecord(
        "cancer", "cancer-1", rid, 1.0, "shadow", "production",
        rows=len(rows), prod_pred=rows, cand_pred=rows, agree=[True] * len(rows),
    )  # fmt: skip


async def post(client: Client, body: Any, status: int) -> dict[str, Any]:
    resp = await client.post("/api/feedback", json=body)
    data: dict[str, Any] = await resp.json()
    assert resp.status == status, data
    return data


def rejected_count(metrics: Metrics, route: str, reason: str) -> float:
    labels = {"route": route, "reason": reason}
    value = metrics.registry.get_sample_value("shadowgate_labels_rejected_total", labels)
    return 0.0 if value is None else value


@pytest.mark.parametrize(
    ("label", "reason", "expected"),
    [
        (["malignant", 0], "class", "row 0: label 'malignant' must be a class index in 0..1"),
        ([5, 0], "class", "row 0: label 5 must be a class index in 0..1"),
        ([0], "rows", "a batch request of 2 rows needs a list of 2 labels, got a list of 1"),
    ],
)
async def test_a_label_that_does_not_fit_is_rejected_then_a_corrected_one_counts(
    client: Client,
    store: Store,
    metrics: Metrics,
    label: Any,
    reason: str,
    expected: str,
) -> None:
    await store.insert_outcomes([probabilities("a", [[0.9, 0.1], [0.2, 0.8]])])
    data = await post(client, {"request_id": "a", "label": label}, 422)
    (item,) = data["rejected"]
    assert (item["item"], item["request_id"], item["reason"]) == (0, "a", reason)
    assert expected in item["expected"]
    assert data["accepted"] == 0 and data["joined"] == []
    assert rejected_count(metrics, "cancer", reason) == 1
    assert await store.read_labeled("cancer") == []  # never joined, so never judged
    kept = await store.read_labels(["rejected:a"])
    assert kept["rejected:a"].label["label"] == label

    data = await post(client, {"request_id": "a", "label": [0, 1]}, 200)
    assert data["joined"] == ["a"] and "rejected" not in data
    rows = await store.read_labeled("cancer")
    assert [r.label for r in rows] == [[0, 1]]
    batch = labels_from(CONFIG.routes[0], rows)
    assert len(batch) == 1 and batch.prod_correct.tolist() == [1.0]  # the label counts


async def test_a_batch_answers_per_item(client: Client, store: Store) -> None:
    names = OutcomeRecord(
        "names", "names-1", "n", 1.0, "shadow", "production",
        rows=1, prod_pred=["benign"], cand_pred=["benign"],
    )  # fmt: skip
    await store.insert_outcomes([probabilities("p", [[0.3, 0.7]]), names])
    items = [
        {"request_id": "p", "label": 1},
        {"request_id": "n", "label": 5},
        {"request_id": "later", "label": "anything"},  # no outcome yet: nothing to check
    ]
    data = await post(client, {"items": items}, 200)
    assert data["joined"] == ["p"] and data["unknown"] == ["later"]
    (item,) = data["rejected"]
    assert (item["item"], item["route"], item["reason"]) == (1, "names", "type")
    assert "expected a string label" in item["expected"]
    assert "'benign'" in item["expected"]


async def test_null_entries_mark_unlabelled_rows_and_are_not_rejected(
    client: Client, store: Store
) -> None:
    await store.insert_outcomes([probabilities("a", [[0.9, 0.1], [0.2, 0.8]])])
    data = await post(client, {"request_id": "a", "label": [None, 1]}, 200)
    assert data["joined"] == ["a"]
    batch = labels_from(CONFIG.routes[0], await store.read_labeled("cancer"))
    assert batch.prod_correct.tolist() == [1.0]
    assert not math.isnan(batch.prod_loss[0])
