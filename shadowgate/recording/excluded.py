"""Count recorded pairs that are not evidence, by reason (``shadowgate_pairs_excluded_total``).

Counted as records go to the store, in every process (the counters add up over workers and
replicas), with the same rule the judge applies when it leaves them out of the checks.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable

from shadowgate.metrics import Metrics
from shadowgate.model.outcome import OutcomeRecord
from shadowgate.rollout.outage import PRODUCTION_FAILED, production_failed

WriteFn = Callable[[list[OutcomeRecord]], object]


def excluded_reason(record: OutcomeRecord) -> str | None:
    """Why a record is left out of the checks, or None when it is evidence."""
    if record.kind == "shadow" and production_failed(record.prod_error, record.prod_status):
        return PRODUCTION_FAILED
    return None


def counting_excluded(metrics: Metrics, write: WriteFn) -> WriteFn:
    """``write``, counting the excluded records of each batch on the way."""
    counter = metrics.pairs_excluded_total

    def put(records: list[OutcomeRecord]) -> object:
        counts = Counter((r.route, why) for r in records if (why := excluded_reason(r)) is not None)
        for (route, why), n in counts.items():
            counter.labels(route=route, reason=why).inc(n)
        return write(records)

    return put
