"""Production outages: which pairs are not evidence, and when the judge must stop deciding.

:class:`OutageGate` watches the share of production's infrastructure failures (it could
not be reached, timed out, reset the connection or answered 5xx) over the last ``window``
seconds of request time (the outcomes' own timestamps, so the verdict does not depend on
when the judge looks). Above ``max_error_rate`` it is *active*: the judge makes no
decision, because the traffic left to judge on is whatever production happened to
survive. It becomes inactive again once the share is back at or below the resume rate.

During an outage, a pair whose production side failed tells nothing about the candidate
(the comparison it would add is "candidate vs a dead server", which favours any
candidate): such pairs are left out of the checks and counted apart
(``excluded["production_failed"]``). Outside outages production's sporadic failures stay
in: leaving out every pair production failed while keeping every pair the candidate
failed would charge an identical candidate with its own share of independent failures.
(Latency, agreement and label checks never use a pair with a failed side anyway: only
the errors check is changed by the exclusion.) Pure: no clock, no I/O.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from shadowgate.config.outage import ProductionOutageConfig

#: the error classes of a side that are the infrastructure's, not the model's
INFRA_ERRORS = frozenset({"connect", "timeout", "reset", "5xx"})
#: the reason pairs are excluded for, in status and in ``shadowgate_pairs_excluded_total``
PRODUCTION_FAILED = "production_failed"
#: buckets per window: the window slides in steps of window / BUCKETS
BUCKETS = 20


def production_failed(error: str | None, status: int | None) -> bool:
    """True when production's answer was an infrastructure failure (see the module doc)."""
    if error is not None:
        return error in INFRA_ERRORS
    return status is not None and status >= 500


@dataclass(frozen=True)
class OutageChange:
    """The gate switched: ``paused`` (production failing) or ``resumed`` (recovered)."""

    event: str  # "paused" | "resumed"
    reason: str
    error_rate: float
    pairs: int


class OutageGate:
    """Sliding-window share of production failures, with pause/resume hysteresis.

    Example::

        gate = OutageGate(ProductionOutageConfig(max_error_rate=0.2, window=10))
        gate.observe(ts, failed)          # arrays: request time, production failed
        change = gate.evaluate(now)       # OutageChange when it switched, else None
        if gate.active: ...               # make no decision
    """

    def __init__(self, config: ProductionOutageConfig | None = None) -> None:
        config = config if config is not None else ProductionOutageConfig()
        self.config = config
        self.width = config.window / BUCKETS
        self.buckets: dict[int, list[int]] = {}  # bucket index → [pairs, failed]
        self.latest: float | None = None  # newest request time seen
        self.active = False
        self.since: float | None = None
        self.reason: str | None = None
        self.excluded: dict[str, int] = {}
        #: what of ``excluded`` this process has reported (e.g. to a counter metric)
        self.reported: dict[str, int] = {}
        self.pauses = 0

    # --- feeding --------------------------------------------------------------------

    def observe(
        self, ts: npt.NDArray[np.float64], failed: npt.NDArray[np.bool_], shadow_failed: int = 0
    ) -> bool:
        """Outcomes production answered (any order): request times, whether it failed, and
        how many are shadow pairs it failed. True when they fall in an outage (the gate is
        active, or this batch takes the window over the threshold): then those
        ``shadow_failed`` pairs are to be left out of the checks, and are counted."""
        if len(ts):
            self._add(ts, failed)
        during = self.config.enabled and (self.active or self._over())
        if during:
            self.exclude(PRODUCTION_FAILED, shadow_failed)
        return during

    def _add(self, ts: npt.NDArray[np.float64], failed: npt.NDArray[np.bool_]) -> None:
        idx = np.floor(ts / self.width).astype(np.int64)
        keys, inverse = np.unique(idx, return_inverse=True)
        pairs = np.bincount(inverse, minlength=len(keys))
        fails = np.bincount(inverse, weights=failed.astype(np.float64), minlength=len(keys))
        for k, p, f in zip(keys.tolist(), pairs.tolist(), fails.tolist(), strict=True):
            b = self.buckets.setdefault(k, [0, 0])
            b[0] += int(p)
            b[1] += round(f)
        newest = float(np.max(ts))
        self.latest = newest if self.latest is None else max(self.latest, newest)
        self._trim()

    def _over(self) -> bool:
        pairs, failed = self.window_counts()
        return pairs >= self.config.min_pairs and failed / pairs > self.config.max_error_rate

    def exclude(self, reason: str, n: int) -> None:
        """Count ``n`` pairs left out of the checks for ``reason``."""
        if n:
            self.excluded[reason] = self.excluded.get(reason, 0) + n

    def _trim(self) -> None:
        if self.latest is None:
            return
        oldest = math.floor((self.latest - self.config.window) / self.width)
        for k in [k for k in self.buckets if k <= oldest]:
            del self.buckets[k]

    # --- reading --------------------------------------------------------------------

    def window_counts(self) -> tuple[int, int]:
        """(pairs, production failures) in the current window."""
        pairs = sum(b[0] for b in self.buckets.values())
        failed = sum(b[1] for b in self.buckets.values())
        return pairs, failed

    def unreported(self) -> dict[str, int]:
        """Exclusions since the last call (for counters that must not count twice)."""
        new = {k: v - self.reported.get(k, 0) for k, v in self.excluded.items()}
        self.reported = dict(self.excluded)
        return {k: v for k, v in new.items() if v > 0}

    def evaluate(self, now: float) -> OutageChange | None:
        """Switch on or off from the current window; the change when it switched."""
        cfg = self.config
        pairs, failed = self.window_counts()
        if not cfg.enabled:
            if self.active:
                return self._switch(False, now, 0.0, pairs, "production_outage is disabled")
            return None
        if pairs < cfg.min_pairs:
            return None  # too little traffic to tell either way: keep the current state
        rate = failed / pairs
        window = f"{cfg.window:g}s"
        if not self.active and rate > cfg.max_error_rate:
            why = (
                f"production failing: {rate:.0%} of the last {pairs} pairs ({window}) failed "
                f"with connect, timeout or 5xx errors (threshold {cfg.max_error_rate:.0%}); "
                "decisions paused until it recovers; its failed pairs are not evidence"
            )
            return self._switch(True, now, rate, pairs, why)
        if self.active and rate <= cfg.effective_resume_rate:
            why = (
                f"production recovered: {rate:.0%} of the last {pairs} pairs ({window}) "
                f"failed (resume at {cfg.effective_resume_rate:.0%}); decisions resumed"
            )
            return self._switch(False, now, rate, pairs, why)
        return None

    def _switch(self, on: bool, now: float, rate: float, pairs: int, why: str) -> OutageChange:
        self.active = on
        self.since = now
        self.reason = why
        if on:
            self.pauses += 1
        return OutageChange("paused" if on else "resumed", why, rate, pairs)

    def status(self) -> dict[str, Any]:
        """``outage`` (the gate now) and ``excluded`` (pairs left out, by reason)."""
        pairs, failed = self.window_counts()
        return {
            "excluded": {PRODUCTION_FAILED: 0, **self.excluded},
            "outage": self._now(pairs, failed),
        }

    def _now(self, pairs: int, failed: int) -> dict[str, Any]:
        return {
            "active": self.active,
            "since": self.since,
            "reason": self.reason,
            "window_pairs": pairs,
            "window_production_failed": failed,
            "error_rate": failed / pairs if pairs else None,
            "max_error_rate": self.config.max_error_rate,
            "pauses": self.pauses,
        }

    # --- persistence ----------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        return {
            "buckets": [[k, v[0], v[1]] for k, v in sorted(self.buckets.items())],
            "width": self.width,
            "latest": self.latest,
            "active": self.active,
            "since": self.since,
            "reason": self.reason,
            "excluded": dict(self.excluded),
            "pauses": self.pauses,
        }

    @classmethod
    def from_dict(cls, config: ProductionOutageConfig, d: dict[str, Any]) -> OutageGate:
        self = cls(config)
        if float(d.get("width", self.width)) == self.width:  # a resized window starts afresh
            self.buckets = {int(k): [int(p), int(f)] for k, p, f in d.get("buckets", [])}
        latest = d.get("latest")
        self.latest = float(latest) if latest is not None else None
        self.active = bool(d.get("active", False))
        since = d.get("since")
        self.since = float(since) if since is not None else None
        self.reason = d.get("reason")
        self.excluded = {str(k): int(v) for k, v in (d.get("excluded") or {}).items()}
        self.reported = dict(self.excluded)  # counted by whichever process counted them
        self.pauses = int(d.get("pauses", 0))
        self._trim()
        return self
