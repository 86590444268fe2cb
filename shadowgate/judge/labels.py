"""Labels that reach the judge without fitting their outcome, and are set aside, not lost.

``POST /api/feedback`` checks a label against its outcome when that outcome is already
stored. Under load the recorder batches its writes, so a label can arrive first: it is
stored as sent and joins when the outcome lands, unchecked. The judge checks it there
(``compare.loss.validate_label``, as the feedback endpoint would have): one that does not
fit is kept out of the label checks and of ``samples.labels``, counted by reason
(``RouteContext.labels_rejected``, ``shadowgate_labels_rejected_total``), and set aside in
the store under ``rejected:<request_id>`` with what was expected, so that a corrected label
posted later is a first label again: it joins, is read, and counts.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from shadowgate.compare.loss import LabelError, validate_label
from shadowgate.config.model import RouteConfig
from shadowgate.store.base import Store
from shadowgate.store.rows import LabeledOutcome

if TYPE_CHECKING:
    from shadowgate.judge.context import RouteContext

log = logging.getLogger("shadowgate.judge")

#: called with the route and the labels just set aside, by reason
RejectedHook = Callable[[RouteConfig, dict[str, int]], None]


def misfits(
    route: RouteConfig, rows: Sequence[LabeledOutcome]
) -> tuple[list[LabeledOutcome], dict[str, tuple[LabeledOutcome, LabelError]]]:
    """The rows whose label fits their outcome, and the others by request id."""
    fit: list[LabeledOutcome] = []
    bad: dict[str, tuple[LabeledOutcome, LabelError]] = {}
    for x in rows:
        try:
            validate_label(x.outcome.record, x.label, route.prediction.task)
        except LabelError as exc:
            bad.setdefault(x.outcome.record.request_id, (x, exc))
            continue
        fit.append(x)
    return fit, bad


def _kept(route: RouteConfig, x: LabeledOutcome, exc: LabelError) -> dict[str, Any]:
    """What is kept under ``rejected:<id>``: the feedback endpoint's form, and when."""
    return {
        "request_id": x.outcome.record.request_id,
        "route": route.name,
        "reason": exc.reason,
        "expected": str(exc),
        "label": x.label,
        "found": "by the judge: posted before its outcome was recorded",
    }


async def fitting(
    store: Store,
    route: RouteConfig,
    ctx: RouteContext,
    rows: list[LabeledOutcome],
    hooks: Sequence[RejectedHook] = (),
) -> list[LabeledOutcome]:
    """``rows`` without the labels that do not fit, which are set aside and counted."""
    fit, bad = misfits(route, rows)
    if not bad:
        return rows
    items = [(rid, x.revision, _kept(route, x, exc)) for rid, (x, exc) in bad.items()]
    aside = set(await store.set_aside_labels(items))
    # a label revised meanwhile was not set aside: the store joins it again, read next look
    counts = dict(Counter(exc.reason for rid, (_, exc) in bad.items() if rid in aside))
    for reason, n in counts.items():
        ctx.labels_rejected[reason] = ctx.labels_rejected.get(reason, 0) + n
    if counts:
        rid, (_, exc) = next((k, v) for k, v in bad.items() if k in aside)
        log.warning(
            "route %s: %d label(s) posted before their outcome do not fit it and were set "
            "aside (e.g. %s: %s); post corrected labels for those request ids",
            route.name,
            sum(counts.values()),
            rid,
            exc,
        )
        for hook in hooks:
            hook(route, counts)
    return fit
