"""``POST /api/feedback``: ground-truth labels, joined to outcomes by request id.

Body: ``{"request_id": "...", "label": <value>}`` or ``{"items": [{...}, ...]}``. A label
is a number, string or boolean, or a list of them with one entry per row of a batch
request (``null`` entries mark rows without a label). Every label is stored, even when
no outcome with its id has been recorded yet: it joins when the outcome is flushed, and
the response lists such ids under ``unknown`` so the sender knows. Repeating a label is a
no-op; a different label for the same id replaces it (``revised``).

A label for an outcome already recorded is checked against it first
(:func:`~shadowgate.compare.loss.validate_label`: one label per row, a class the model can
output, the right type). One that does not fit is answered under ``rejected`` with what was
expected, counted in ``shadowgate_labels_rejected_total{route,reason}``, and kept apart
under the id ``rejected:<request_id>`` so it never joins; a corrected label posted later
joins and counts as if it were the first. When every item is rejected the status is 422.
A label that arrives before its outcome is checked by the judge when the outcome lands
(``judge.labels``) and, if it does not fit, set aside the same way.

Mount it on the admin app with ``add_feedback_routes(app, store_getter)``. Mutations on
the admin API are guarded by the admin app's token check, which covers this route too.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from aiohttp import web

from shadowgate.compare.loss import LabelError, validate_label
from shadowgate.config.model import ShadowgateConfig
from shadowgate.errors import BadRequestError, StoreError
from shadowgate.metrics import Metrics
from shadowgate.store.base import Store
from shadowgate.store.rows import REJECTED_PREFIX

#: most labels accepted in one call; more gets 413 (split the batch)
MAX_ITEMS = 10_000
#: longest request id accepted (ids we generate are far shorter)
MAX_ID_LENGTH = 256

StoreGetter = Callable[[], Store | None]
STORE_GETTER: web.AppKey[StoreGetter] = web.AppKey("shadowgate_feedback_store")
ConfigGetter = Callable[[], ShadowgateConfig | None]
CONFIG_GETTER: web.AppKey[ConfigGetter] = web.AppKey("shadowgate_feedback_config")
METRICS: web.AppKey[Metrics | None] = web.AppKey("shadowgate_feedback_metrics")

#: the outcome fields a label is checked against
_CHECK_FIELDS = ("route", "prod_pred", "cand_pred")

_FIELDS = ("request_id", "label")


class FeedbackError(BadRequestError):
    """A malformed feedback body; ``item`` and ``field`` say where, when known."""

    def __init__(
        self, message: str, *, item: int | None = None, field: str | None = None, status: int = 400
    ) -> None:
        self.item = item
        self.field = field
        where = f"items[{item}]" if item is not None else ""
        if field:
            where = f"{where}.{field}" if where else field
        super().__init__(f"{where}: {message}" if where else message, status)

    def body(self) -> dict[str, Any]:
        out: dict[str, Any] = {"error": str(self)}
        if self.item is not None:
            out["item"] = self.item
        if self.field is not None:
            out["field"] = self.field
        return out


def _check_label(value: Any, item: int | None, depth: int = 0) -> None:
    if isinstance(value, bool | int | float | str):
        return
    if value is None and depth > 0:
        return
    if isinstance(value, list) and depth < 2:
        for v in value:
            _check_label(v, item, depth + 1)
        return
    kind = "null" if value is None else type(value).__name__.replace("dict", "object")
    raise FeedbackError(
        f"must be a number, string or boolean, or a list of them with one entry per row "
        f"of a batch request (got {kind})",
        item=item,
        field="label",
    )


def _parse_item(obj: Any, item: int | None) -> tuple[str, Any]:
    if not isinstance(obj, dict):
        raise FeedbackError('must be an object like {"request_id": "...", "label": ...}', item=item)
    unknown = sorted(set(obj) - set(_FIELDS))
    if unknown:
        raise FeedbackError(
            f"unknown field {unknown[0]!r}: an item has only request_id and label", item=item
        )
    for name in _FIELDS:
        if name not in obj:
            raise FeedbackError("is missing", item=item, field=name)
    rid = obj["request_id"]
    if not isinstance(rid, str) or not rid:
        raise FeedbackError(
            "must be a non-empty string (the X-Request-Id the proxy returned)",
            item=item,
            field="request_id",
        )
    if len(rid) > MAX_ID_LENGTH:
        raise FeedbackError(
            f"is {len(rid)} characters long; at most {MAX_ID_LENGTH} are allowed",
            item=item,
            field="request_id",
        )
    _check_label(obj["label"], item)
    return rid, obj["label"]


def parse_feedback(payload: Any, max_items: int = MAX_ITEMS) -> list[tuple[str, Any]]:
    """The ``(request_id, label)`` pairs of a decoded body, or ``FeedbackError`` saying why not."""
    if isinstance(payload, dict) and "items" in payload:
        if set(payload) != {"items"}:
            raise FeedbackError('a batch body has only "items": put request_id/label in each item')
        items = payload["items"]
        if not isinstance(items, list):
            raise FeedbackError("must be a list of {request_id, label} objects", field="items")
        if len(items) > max_items:
            raise FeedbackError(
                f"has {len(items)} entries; at most {max_items} per call: split the batch",
                field="items",
                status=413,
            )
        return [_parse_item(obj, i) for i, obj in enumerate(items)]
    return [_parse_item(payload, None)]


async def handle_feedback(request: web.Request) -> web.Response:
    """Store the posted labels; answer which joined an outcome and which are unknown."""
    store = request.app[STORE_GETTER]()
    if store is None:
        return web.json_response({"error": "the store is not open yet; retry shortly"}, status=503)
    raw = await request.read()
    try:
        payload = json.loads(raw)
    except UnicodeDecodeError:
        return web.json_response({"error": "body is not UTF-8 JSON"}, status=400)
    except RecursionError:
        return web.json_response({"error": "body is not valid JSON: nested too deeply"}, status=400)
    except json.JSONDecodeError as exc:
        return web.json_response(
            {"error": f"body is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"},
            status=400,
        )
    try:
        items = parse_feedback(payload)
    except FeedbackError as exc:
        return web.json_response(exc.body(), status=exc.status)
    try:
        rejected = await _rejections(request.app, store, items)
        kept = [x for i, x in enumerate(items) if i not in rejected]
        apart = [(REJECTED_PREFIX + items[i][0], r) for i, r in rejected.items()]
        result = await store.add_labels(kept + apart)
    except StoreError as exc:
        return web.json_response(
            {"error": f"labels not stored, send them again: {exc}"}, status=503
        )
    metrics = request.app.get(METRICS)
    if metrics is not None:
        for r in rejected.values():
            metrics.labels_rejected_total.labels(route=r["route"], reason=r["reason"]).inc()
    apart_ids = {rid for rid, _ in apart}
    body = {
        "accepted": len([x for x in result.accepted if x not in apart_ids]),
        "joined": [x for x in result.joined if x not in apart_ids],
        "unknown": [x for x in result.unknown if x not in apart_ids],
        "unchanged": [x for x in result.unchanged if x not in apart_ids],
        "revised": [x for x in result.revised if x not in apart_ids],
    }
    if rejected:
        body["rejected"] = [{"item": i, **r} for i, r in rejected.items()]
    everything_rejected = bool(rejected) and len(rejected) == len(items)
    return web.json_response(body, status=422 if everything_rejected else 200)


async def _rejections(
    app: web.Application, store: Store, items: list[tuple[str, Any]]
) -> dict[int, dict[str, Any]]:
    """Items whose label does not fit an outcome already recorded, by item index."""
    get_config = app.get(CONFIG_GETTER)
    config = get_config() if get_config is not None else None
    outcomes = await store.read_outcomes_by_request([rid for rid, _ in items], fields=_CHECK_FIELDS)
    by_id: dict[str, list[Any]] = {}
    for o in outcomes:
        by_id.setdefault(o.record.request_id, []).append(o.record)
    out: dict[int, dict[str, Any]] = {}
    for i, (rid, label) in enumerate(items):
        for rec in by_id.get(rid, ()):
            route = config.route(rec.route) if config is not None else None
            task = route.prediction.task if route is not None else "auto"
            try:
                validate_label(rec, label, task)
            except LabelError as exc:
                out[i] = {
                    "request_id": rid,
                    "route": rec.route,
                    "reason": exc.reason,
                    "expected": str(exc),
                    "label": label,
                }
                break
    return out


def add_feedback_routes(
    app: web.Application,
    store_getter: StoreGetter,
    *,
    config_getter: ConfigGetter | None = None,
    metrics: Metrics | None = None,
) -> None:
    """Mount ``POST /api/feedback`` on ``app``; ``store_getter()`` returns the open store.

    The getter is called per request so the store can be opened (or swapped) after the
    app is built; returning None answers 503. ``config_getter()`` gives each route's
    ``prediction.task`` for checking labels (``auto`` without it); rejected labels are
    counted in ``metrics`` when given.
    """
    app[STORE_GETTER] = store_getter
    if config_getter is not None:
        app[CONFIG_GETTER] = config_getter
    app[METRICS] = metrics
    app.router.add_post("/api/feedback", handle_feedback)
