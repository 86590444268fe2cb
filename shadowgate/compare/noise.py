"""The noise floor: how often production disagrees with itself (after Twitter's Diffy).

Some models are not deterministic (sampling, GPU kernels, time features), and some
responses carry fields that change on every call. Mirroring a share of requests to
production itself (``kind="noise"`` outcomes) measures that floor, so a candidate's
disagreement can be read against it: 3% disagreement means little if production disagrees
with itself 2.5% of the time. :class:`NoiseFloor` is a small pure accumulator of such
outcomes; it persists with ``to_dict``/``from_dict``.

The same pairs measure the proxy's own **latency bias**: both answers come from the same
server, one on the client's path and one on the mirror's, so any difference in their
measured latencies is the measurement's, not a model's. ``latency_bias`` is
``exp(mean log(lat_mirror / lat_primary)) − 1``, the same scale as the latency check.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from shadowgate.model.outcome import OutcomeRecord, side_failed


@dataclass(slots=True)
class NoiseFloor:
    """Counts of production-vs-production comparisons: rows, disagreeing rows, error splits.

    ``error_mismatches`` counts noise pairs where exactly one of the two production answers
    failed (flakiness of production itself); such pairs have no rows to compare.
    """

    pairs: int = 0
    rows: int = 0
    disagreements: int = 0
    error_mismatches: int = 0
    #: noise pairs with both latencies, and the sums of their log latency ratios
    latency_pairs: int = 0
    log_ratio_sum: float = 0.0
    log_ratio_sumsq: float = 0.0

    def add(self, record: OutcomeRecord) -> None:
        """Count one outcome; outcomes that are not ``kind="noise"`` are ignored."""
        if record.kind != "noise":
            return
        self.pairs += 1
        prod_failed = side_failed(record.prod_error, record.prod_status)
        cand_failed = side_failed(record.cand_error, record.cand_status)
        if prod_failed != cand_failed:
            self.error_mismatches += 1
        if record.agree is not None:
            self.add_rows(record.agree)
        a, b = record.prod_latency, record.cand_latency
        if a and b and a > 0 and b > 0 and not prod_failed and not cand_failed:
            x = math.log(b / a)
            self.latency_pairs += 1
            self.log_ratio_sum += x
            self.log_ratio_sumsq += x * x

    def add_rows(self, agree: Iterable[bool]) -> None:
        """Count per-row agreement verdicts of production compared with itself."""
        flags = list(agree)
        self.rows += len(flags)
        self.disagreements += sum(1 for a in flags if not a)

    def update(self, records: Iterable[OutcomeRecord]) -> NoiseFloor:
        for r in records:
            self.add(r)
        return self

    @property
    def rate(self) -> float | None:
        """Share of compared rows where production disagreed with itself (None before data)."""
        return self.disagreements / self.rows if self.rows else None

    @property
    def latency_bias(self) -> float | None:
        """The mirror path's relative latency over the client's path (None before data)."""
        if not self.latency_pairs:
            return None
        return math.expm1(self.log_ratio_sum / self.latency_pairs)

    def latency_bias_interval(self, z: float = 1.96) -> tuple[float, float] | None:
        """A fixed-sample normal interval for ``latency_bias`` (a summary, not a test)."""
        n = self.latency_pairs
        if n < 2:
            return None
        mean = self.log_ratio_sum / n
        var = max(0.0, (self.log_ratio_sumsq - n * mean * mean) / (n - 1))
        h = z * math.sqrt(var / n)
        return (math.expm1(mean - h), math.expm1(mean + h))

    def upper_bound(self, z: float = 1.96) -> float | None:
        """Wilson score upper bound of the disagreement rate (a fixed-sample summary).

        Shown next to the rate so that "0 disagreements in 20 rows" is not read as "none".
        """
        if not self.rows:
            return None
        n, p = self.rows, self.disagreements / self.rows
        centre = p + z * z / (2 * n)
        spread = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
        return min(1.0, (centre + spread) / (1 + z * z / n))

    def merge(self, other: NoiseFloor) -> NoiseFloor:
        return NoiseFloor(
            self.pairs + other.pairs,
            self.rows + other.rows,
            self.disagreements + other.disagreements,
            self.error_mismatches + other.error_mismatches,
            self.latency_pairs + other.latency_pairs,
            self.log_ratio_sum + other.log_ratio_sum,
            self.log_ratio_sumsq + other.log_ratio_sumsq,
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "pairs": self.pairs,
            "rows": self.rows,
            "disagreements": self.disagreements,
            "error_mismatches": self.error_mismatches,
            "rate": self.rate,
            "latency_pairs": self.latency_pairs,
            "log_ratio_sum": self.log_ratio_sum,
            "log_ratio_sumsq": self.log_ratio_sumsq,
            "latency_bias": self.latency_bias,
            "latency_bias_ci": self.latency_bias_interval(),
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> NoiseFloor:
        return cls(
            int(d.get("pairs", 0)),
            int(d.get("rows", 0)),
            int(d.get("disagreements", 0)),
            int(d.get("error_mismatches", 0)),
            int(d.get("latency_pairs", 0)),
            float(d.get("log_ratio_sum", 0.0)),
            float(d.get("log_ratio_sumsq", 0.0)),
        )
