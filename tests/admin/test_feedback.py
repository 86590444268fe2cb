"""POST /api/feedback against a real aiohttp app and a real SQLite store."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from shadowgate.admin.feedback import MAX_ITEMS, add_feedback_routes
from shadowgate.store import OutcomeRecord, Store

Client = TestClient[web.Request, web.Application]


@pytest.fixture
async def client(
    store: Store, aiohttp_client: Callable[[web.Application], Awaitable[Client]]
) -> Client:
    app = web.Application()
    add_feedback_routes(app, lambda: store)
    return await aiohttp_client(app)


def rec(rid: str) -> OutcomeRecord:
    return OutcomeRecord("r", "r-1", rid, 1.0, "shadow", "production")


async def post(client: Client, body: Any, status: int = 200) -> dict[str, Any]:
    resp = await client.post("/api/feedback", json=body)
    data: dict[str, Any] = await resp.json()
    assert resp.status == status, data
    return data


async def test_single_label_for_a_stored_outcome_joins(client: Client, store: Store) -> None:
    await store.insert_outcomes([rec("a")])
    data = await post(client, {"request_id": "a", "label": 1})
    assert data == {"accepted": 1, "joined": ["a"], "unknown": [], "unchanged": [], "revised": []}
    (row,) = await store.read_labeled("r")
    assert row.label == 1


async def test_unknown_ids_are_reported_and_join_later(client: Client, store: Store) -> None:
    data = await post(client, {"items": [{"request_id": "x", "label": [0, 1, None]}]})
    assert data["unknown"] == ["x"] and data["accepted"] == 1
    await store.insert_outcomes([rec("x")])
    (row,) = await store.read_labeled("r")
    assert row.label == [0, 1, None]


async def test_repeats_are_idempotent_and_changes_are_revisions(
    client: Client, store: Store
) -> None:
    await store.insert_outcomes([rec("a"), rec("b")])
    body = {"items": [{"request_id": "a", "label": "cat"}, {"request_id": "b", "label": 2.5}]}
    await post(client, body)
    again = await post(client, body)
    assert again["unchanged"] == ["a", "b"] and again["joined"] == ["a", "b"]
    changed = await post(client, {"request_id": "a", "label": "dog"})
    assert changed["revised"] == ["a"]
    assert len(await store.read_labeled("r")) == 2


@pytest.mark.parametrize(
    ("body", "status", "needle", "item", "field"),
    [
        ("{not json", 400, "not valid JSON", None, None),
        ({"label": 1}, 400, "request_id: is missing", None, "request_id"),
        ({"request_id": "a"}, 400, "label: is missing", None, "label"),
        ({"request_id": 7, "label": 1}, 400, "non-empty string", None, "request_id"),
        ({"request_id": "", "label": 1}, 400, "non-empty string", None, "request_id"),
        ({"request_id": "a", "label": None}, 400, "got null", None, "label"),
        ({"request_id": "a", "label": {"k": 1}}, 400, "got object", None, "label"),
        ({"request_id": "a", "labels": 1}, 400, "unknown field 'labels'", None, None),
        ({"items": {"request_id": "a"}}, 400, "items: must be a list", None, "items"),
        ({"items": [], "x": 1}, 400, 'only "items"', None, None),
        (
            {"items": [{"request_id": "a", "label": 1}, {"request_id": "b"}]},
            400,
            "items[1].label: is missing",
            1,
            "label",
        ),
        (
            {"items": [{"request_id": "a", "label": 1}, 5]},
            400,
            "items[1]: must be an object",
            1,
            None,
        ),
        ({"request_id": "a" * 300, "label": 1}, 400, "at most 256", None, "request_id"),
        ([1, 2], 400, "must be an object", None, None),
    ],
)
async def test_malformed_bodies_get_a_400_that_says_where(
    client: Client,
    store: Store,
    body: Any,
    status: int,
    needle: str,
    item: int | None,
    field: str | None,
) -> None:
    if isinstance(body, str):
        resp = await client.post("/api/feedback", data=body)
    else:
        resp = await client.post("/api/feedback", json=body)
    data = await resp.json()
    assert resp.status == status
    assert needle in data["error"]
    assert data.get("item") == item and data.get("field") == field
    assert await store.read_labels(["a", "b"]) == {}  # nothing of a rejected call is stored


async def test_too_many_items_is_413(
    store: Store, aiohttp_client: Callable[[web.Application], Awaitable[Client]]
) -> None:
    app = web.Application(client_max_size=10 * 1024 * 1024)
    add_feedback_routes(app, lambda: store)
    client = await aiohttp_client(app)
    items = [{"request_id": f"q{i}", "label": 0} for i in range(MAX_ITEMS + 1)]
    data = await post(client, {"items": items}, status=413)
    assert "split the batch" in data["error"]
    ok = await post(client, {"items": items[:MAX_ITEMS]})
    assert ok["accepted"] == MAX_ITEMS and len(ok["unknown"]) == MAX_ITEMS


async def test_no_store_yet_is_503(
    aiohttp_client: Callable[[web.Application], Awaitable[Client]],
) -> None:
    app = web.Application()
    add_feedback_routes(app, lambda: None)
    client = await aiohttp_client(app)
    assert "retry" in (await post(client, {"request_id": "a", "label": 1}, status=503))["error"]


async def test_a_failing_store_is_503_and_stores_nothing(client: Client, store: Store) -> None:
    await store.close()
    data = await post(client, {"request_id": "a", "label": 1}, status=503)
    assert "send them again" in data["error"]
