"""Route-level Monte-Carlo: the judge's own procedure (RouteAnalysis + policy) on streams.

Each run feeds one scenario's stream (``rollout.route_streams``) to a fresh
``RouteAnalysis`` in batches, asks ``policy.decide`` after every batch exactly as the judge
does, and stops at the first final decision. ``method="iid"`` runs the earlier procedure
(i.i.d. variance plug-in, empirical-Bernstein bets, α spent per phase): the negative
control that shows why the long-run variance is needed.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from shadowgate.config.model import RouteConfig
from shadowgate.rollout.analysis import RouteAnalysis
from shadowgate.rollout.checks import Method
from shadowgate.rollout.evidence import CanaryBatch, Floats, LabelBatch, PairBatch
from shadowgate.rollout.label_window import LabelWindow
from shadowgate.rollout.machine import Event, RolloutState, State
from shadowgate.rollout.policy import decide
from shadowgate.rollout.route_streams import Make

FINAL = (Event.HARM, Event.PASSED, Event.LIMIT, Event.SRM)


@dataclass(frozen=True)
class RouteScenario:
    """One row of the table: a stream, the route's checks, and the decision counted."""

    name: str
    description: str
    null: bool
    #: null: the wrong decision counted; alternative: the right one
    target: Event
    checks: tuple[dict[str, Any], ...]
    make: Make
    canary: bool = False
    #: label window in requests (label checks only)
    label_window: float = 0.0
    #: null: the share the procedure promises for ``target`` (harm or pass half of α)
    nominal: float = 0.025
    #: a pass null with the candidate well beyond the margin: rolling it back is right
    beyond: bool = False


def looks(horizon: int) -> list[int]:
    """Batch ends: every 50 pairs up to 1 000, every 100 up to 3 000, then every 500 (the
    p-values are running minima over every prefix, so a coarser look only delays a
    decision, by less than a look)."""
    out = [
        n for n in range(50, horizon + 1, 50) if n <= 1_000 or n % (100 if n <= 3_000 else 500) == 0
    ]
    if not out or out[-1] != horizon:
        out.append(horizon)
    return out


def route_for(sc: RouteScenario) -> RouteConfig:
    return RouteConfig.model_validate(
        {
            "name": "sim",
            "match": {"path_prefix": "/sim"},
            "production": {"url": "http://127.0.0.1:1"},
            "candidate": {"url": "http://127.0.0.1:2"},
            "mode": "canary" if sc.canary else "shadow",
            "canary": {"weight": 50, "steps": [50]} if sc.canary else {},
            "analysis": {"checks": list(sc.checks), "max_samples": 10**9},
        }
    )


def run_once(
    sc: RouteScenario, rng: np.random.Generator, horizon: int, method: Method
) -> tuple[Event | None, int]:
    """The first final decision and the pairs (or canary requests) it took."""
    route = route_for(sc)
    s = sc.make(rng, horizon)
    a = RouteAnalysis(route.analysis, canary_weight=50.0 if sc.canary else 0.0, method=method)
    st = RolloutState(State.CANARY) if sc.canary else RolloutState(State.SHADOW)
    label_at = s.labels.label_at
    has_labels = label_at.size > 0
    window = LabelWindow(sc.label_window)
    request_at = np.arange(horizon, dtype=np.float64)
    fed = np.zeros(horizon, dtype=bool)
    prev = 0
    for end in looks(horizon):
        cut = slice(prev, end)
        if sc.canary:
            c = s.canary
            a.add_canary(
                CanaryBatch(c.candidate[cut], c.failed[cut], c.log_latency[cut], c.assigned[cut])
            )
        else:
            p = s.pairs
            a.add_pairs(
                PairBatch(
                    p.prod_fail[cut], p.cand_fail[cut], p.log_latency_ratio[cut], p.agreement[cut]
                )
            )
        if has_labels:
            if method == "iid":  # the earlier way: labels read as they arrive
                ready = np.flatnonzero(~fed[:end] & (label_at[:end] <= end))
                ready = ready[np.argsort(label_at[ready], kind="stable")]
                fed[ready] = True
            else:
                ready = window.due(request_at[:end], label_at[:end], float(end))
            if ready.size:
                a.add_labels(_labels(s.labels, ready))
        prev = end
        d = decide(route, st, a, now=0.0, started_at=0.0, began_in_shadow=not sc.canary)
        if d is not None and d.event in FINAL:
            return d.event, end
    return None, horizon


def _labels(labels: LabelBatch, idx: np.ndarray[Any, Any]) -> LabelBatch:
    """The labels of pairs ``idx``; NaN for what the scenario does not label."""

    def at(column: Floats) -> Floats:
        return column[idx] if column.size else np.full(idx.size, np.nan)

    return LabelBatch(
        at(labels.prod_correct),
        at(labels.cand_correct),
        at(labels.prod_loss),
        at(labels.cand_loss),
        [None] * idx.size,
    )


def run_rng(seed: int, name: str, i: int) -> np.random.Generator:
    """Run ``i`` of scenario ``name``'s own random stream: runs can be split across
    processes in any way and give the same results (both procedures see the same data)."""
    return np.random.default_rng(np.random.SeedSequence([seed, _stable(name), i]))


def run_range(
    sc: RouteScenario, start: int, stop: int, horizon: int, seed: int, method: Method
) -> list[tuple[str, int]]:
    """Runs ``start`` to ``stop - 1``: each one's final event (``"none"``) and samples."""
    out: list[tuple[str, int]] = []
    for i in range(start, stop):
        ev, n = run_once(sc, run_rng(seed, sc.name, i), horizon, method)
        out.append(("none" if ev is None else ev.value, n))
    return out


def run_many(
    sc: RouteScenario,
    runs: int,
    horizon: int,
    seed: int,
    method: Method,
    progress: Callable[[int], None] | None = None,
) -> dict[str, Any]:
    """``runs`` runs of one scenario; the rate of its target decision with its MC error."""
    outcomes: list[tuple[str, int]] = []
    for start in range(0, runs, 10):
        got = run_range(sc, start, min(start + 10, runs), horizon, seed, method)
        outcomes += got
        if progress is not None:
            progress(len(got))
    return summarise(sc, outcomes, horizon, method)


def summarise(
    sc: RouteScenario, outcomes: list[tuple[str, int]], horizon: int, method: Method
) -> dict[str, Any]:
    """One row of the table from every run's (event, samples), in run order."""
    runs = len(outcomes)
    events: dict[str, int] = {}
    for key, _ in outcomes:
        events[key] = events.get(key, 0) + 1
    hits = [n for key, n in outcomes if key == sc.target.value]
    k = len(hits)
    rate = k / runs
    arr = np.asarray(hits, dtype=np.float64)
    return with_other(
        sc,
        {
            "name": sc.name,
            "description": sc.description,
            "null": sc.null,
            "target": sc.target.value,
            "method": method,
            "runs": runs,
            "horizon": horizon,
            "rate": rate,
            "se": math.sqrt(max(rate * (1 - rate), 1.0 / runs) / runs),
            "nominal": sc.nominal if sc.null else None,
            "median_n": float(np.median(arr)) if k else None,
            "p90_n": float(np.percentile(arr, 90)) if k else None,
            "events": events,
        },
    )


def holds(r: dict[str, Any]) -> bool:
    """A null row holds when its rate is at most nominal + 2.5 Monte-Carlo SE, and so does
    the other wrong decision of the row, where it has one (``other_wrong``)."""
    if r["null"] and r["rate"] > r["nominal"] + 2.5 * r["se"]:
        return False
    o = r.get("other")
    return bool(o is None or o["rate"] <= o["bound"] + 2.5 * o["se"])


def other_wrong(sc: RouteScenario, method: Method = "long-run") -> tuple[Event, float] | None:
    """The row's other wrong decision and the share the procedure promises for it.

    At a margin both questions' nulls hold (the candidate is exactly as bad as allowed),
    so a rollback is as wrong as a promotion; a candidate worse than the margin must not
    pass, and an identical one must not be rolled back. The harm bound is the sum of the
    harm shares of the tests the row's phase runs (the others are never asked).
    A/A rows have none: promoting an identical candidate is right; nor do rows whose
    candidate is well beyond the margin (``beyond``): rolling it back is right.
    """
    if sc.null and (sc.target is Event.HARM or sc.beyond):
        return None
    if not sc.null and sc.target is Event.HARM:
        return Event.PASSED, route_for(sc).analysis.alpha / 2
    route = route_for(sc)
    a = RouteAnalysis(route.analysis, canary_weight=50.0 if sc.canary else 0.0, method=method)
    return Event.HARM, a.alpha_harm_each * len(a.checks["canary" if sc.canary else "shadow"])


def with_other(sc: RouteScenario, r: dict[str, Any]) -> dict[str, Any]:
    """``r`` with its ``other`` wrong decision's rate, SE and bound, from its event counts."""
    other = other_wrong(sc, r["method"])
    if other is None:
        return {**r, "other": None}
    event, bound = other
    rate = r["events"].get(event.value, 0) / r["runs"]
    se = math.sqrt(max(rate * (1 - rate), 1.0 / r["runs"]) / r["runs"])
    return {**r, "other": {"target": event.value, "rate": rate, "se": se, "bound": bound}}


def _stable(text: str) -> int:
    return int.from_bytes(text.encode()[:8].ljust(8, b"\0"), "little") ^ len(text)
