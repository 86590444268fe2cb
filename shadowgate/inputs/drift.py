"""DriftMonitor: per-feature drift alarms for a route's inputs and predictions.

Rows arrive as columns (feature name -> one value per row). The first ``reference`` rows
are the reference (or a sample given up front, e.g. from the training set); from then on
every row feeds one :class:`~shadowgate.inputs.eprocess.BinDriftEProcess` over all
features. alpha is split evenly over the features (Bonferroni, valid for e-processes),
so the chance that *any* feature ever raises a false alarm is at most alpha.

An alarm (:class:`FeatureAlarm`) names the feature, the row (and time) it was raised, the
row since which the data moved (the start whose term dominated the e-value), the e-value,
and the bins that moved most (observed vs expected share since then).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from shadowgate.inputs.binning import Binning, Kind
from shadowgate.inputs.eprocess import BinDriftEProcess

MAX_BINS_REPORTED = 3


@dataclass(frozen=True)
class FeatureAlarm:
    """A drift alarm on one feature."""

    feature: str
    row: int
    since_row: int
    e_value: float
    bins: tuple[dict[str, Any], ...]
    at: float | None = None
    since: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "feature": self.feature,
            "row": self.row,
            "since_row": self.since_row,
            "at": self.at,
            "since": self.since,
            "e_value": self.e_value,
            "bins": list(self.bins),
        }

    def __str__(self) -> str:
        moved = "; ".join(
            f"{b['bin']}: {b['observed']:.1%} vs {b['expected']:.1%}" for b in self.bins
        )
        return (
            f"drift in {self.feature!r} since row {self.since_row} (alarm at row {self.row}, "
            f"e-value {self.e_value:.3g}): {moved}"
        )


@dataclass
class _Reference:
    rows: int = 0
    columns: dict[str, list[Any]] = field(default_factory=dict)


def _length(values: Any) -> int:
    """Rows in one column: values of a flat list or array, or of whatever nests them."""
    if values is None:
        return 0
    if isinstance(values, np.ndarray):
        return int(values.size)
    if isinstance(values, list) and not any(isinstance(v, list | tuple) for v in values[:1]):
        return len(values)
    return len(np.ravel(values))


def _assign(
    codes: npt.NDArray[np.float64],
    u: npt.NDArray[np.float64],
    edge_values: npt.NDArray[np.float64],
    edge_u: npt.NDArray[np.float64],
) -> npt.NDArray[np.int64]:
    """Every feature's bins at once, (F, n): how many of its edges each row lies above, its
    tie-break key deciding at an equal value. One (F, n) comparison per edge column: a few
    times faster than comparing a (F, n, edges) broadcast."""
    bins = np.zeros(codes.shape, dtype=np.int64)
    for e in range(edge_values.shape[1]):
        ev, eu = edge_values[:, e : e + 1], edge_u[:, e : e + 1]
        bins += (codes > ev) | ((codes == ev) & (u > eu))
    return bins


class DriftMonitor:
    """Anytime-valid drift monitors for ``features`` (name -> ``numeric``/``categorical``)."""

    def __init__(
        self,
        features: Mapping[str, Kind],
        *,
        reference: int | Mapping[str, Sequence[Any]] = 10_000,
        alpha: float = 0.01,
        max_bins: int = 10,
        block: int = 1000,
        max_starts: int = 8,
        every: int = 1,
        seed: int = 0,
    ) -> None:
        if not features:
            raise ValueError("a drift monitor needs at least one feature")
        if not 0.0 < alpha < 1.0:
            raise ValueError(f"alpha must be in (0, 1); got {alpha!r}")
        self.features = dict(features)
        self.names = list(self.features)
        self.alpha = float(alpha)
        self.max_bins, self.block, self.max_starts = int(max_bins), int(block), int(max_starts)
        if every < 1:
            raise ValueError(f"every must be at least 1; got {every}")
        self.every = int(every)
        self.seen = 0  # rows offered, before thinning
        self.rng = np.random.default_rng(seed)
        self.binnings: list[Binning] = []
        self._ev = self._eu = np.zeros((0, 0))
        self.process: BinDriftEProcess | None = None
        self._ref = _Reference()
        if isinstance(reference, int):
            if reference < max_bins:
                raise ValueError(f"reference must be at least {max_bins} rows; got {reference}")
            self.reference_rows = reference
        else:
            missing = [n for n in self.names if n not in reference]
            if missing:
                raise ValueError(f"the reference has no column for {', '.join(missing)}")
            self.reference_rows = 0
            self._build({n: list(reference[n]) for n in self.names})

    @property
    def level(self) -> float:
        """log e-value of an alarm: log(F / alpha)."""
        return math.log(len(self.names) / self.alpha)

    @property
    def ready(self) -> bool:
        return self.process is not None

    def _build(self, columns: Mapping[str, Sequence[Any]]) -> None:
        binnings = []
        for name in self.names:
            col = columns[name]
            u = self.rng.random(len(col))
            try:
                b = Binning.from_reference(col, self.features[name], u, max_bins=self.max_bins)
            except ValueError as e:
                raise ValueError(f"drift reference for {name!r}: {e}") from e
            binnings.append(b)
        self._build_from(binnings)

    def _build_from(self, binnings: list[Binning]) -> None:
        self.binnings = binnings
        # all features' edges stacked, padded with +inf (never exceeded), for one comparison
        width = max(len(b.edge_values) for b in self.binnings)
        self._ev = np.full((len(self.binnings), width), np.inf)
        self._eu = np.ones((len(self.binnings), width))
        for i, b in enumerate(self.binnings):
            self._ev[i, : len(b.edge_values)] = b.edge_values
            self._eu[i, : len(b.edge_u)] = b.edge_u
        sizes = [b.sizes.tolist() for b in self.binnings]
        self.process = BinDriftEProcess(
            sizes, block=self.block, max_starts=self.max_starts, level=self.level
        )

    def observe(self, columns: Mapping[str, Any], now: float | None = None) -> list[FeatureAlarm]:
        """Add one batch of rows; return the alarms this batch raised."""
        n = max(_length(v) for v in columns.values())
        if n == 0:
            return []
        if self.every > 1:  # every k-th row of the stream, counted across batches
            first = (-self.seen) % self.every
            self.seen += n
            columns = {
                k: (None if v is None else np.ravel(v)[first :: self.every])
                for k, v in columns.items()
            }
            n = len(range(first, n, self.every))
            if n == 0:
                return []
        if self.process is None:
            take = min(n, self.reference_rows - self._ref.rows)
            for name in self.names:
                col = columns.get(name)
                vals = [None] * take if col is None else np.ravel(col)[:take].tolist()
                self._ref.columns.setdefault(name, []).extend(vals)
            self._ref.rows += take
            if self._ref.rows < self.reference_rows:
                return []
            self._build(self._ref.columns)
            self._ref = _Reference()
            columns = {k: (None if v is None else np.ravel(v)[take:]) for k, v in columns.items()}
            n -= take
            if n == 0:
                return []
        assert self.process is not None
        before = self.process.alarm_row.copy()
        codes = np.full((len(self.names), n), np.nan)
        for i, (name, b) in enumerate(zip(self.names, self.binnings, strict=True)):
            col = columns.get(name)
            if col is None:
                continue
            if b.kind == "numeric":
                col = np.asarray(col, dtype=np.float64).reshape(-1)
            else:
                col = b.encode(col)
            if len(col) == n:
                codes[i] = col
        u = self.rng.random(codes.shape)
        mask = np.isfinite(codes)
        bins = _assign(np.where(mask, codes, -np.inf), u, self._ev, self._eu)
        self.process.update(bins, mask, now)
        new = np.flatnonzero((before < 0) & (self.process.alarm_row >= 0))
        return [self._alarm(int(j), now) for j in new]

    def _alarm(self, j: int, now: float | None) -> FeatureAlarm:
        p = self.process
        assert p is not None
        b = self.binnings[j]
        counts = p.alarm_counts[j, : b.bins]
        total = max(float(counts.sum()), 1.0)
        expected = p.expected_shares()[j, : b.bins]
        observed = counts / total
        z = (observed - expected) / np.sqrt(expected * (1 - expected) / total + 1e-12)
        top = np.argsort(-np.abs(z))[:MAX_BINS_REPORTED]
        moved = tuple(
            {
                "bin": b.labels[int(i)],
                "observed": float(observed[i]),
                "expected": float(expected[i]),
            }
            for i in top
        )
        start = int(p.alarm_start[j])
        since_ts = None
        if start in p.start_b.tolist():
            since_ts = p.start_ts[p.start_b.tolist().index(start)]
        return FeatureAlarm(
            feature=self.names[j],
            row=int(p.alarm_row[j]),
            since_row=start * self.block,
            e_value=math.exp(min(float(p.max_log_e[j]), 700.0)),
            bins=moved,
            at=now,
            since=since_ts,
        )

    def alarms(self) -> list[FeatureAlarm]:
        """Every feature in alarm (alarms latch until :meth:`reset`)."""
        if self.process is None:
            return []
        return [self._alarm(int(j), None) for j in np.flatnonzero(self.process.alarm_row >= 0)]

    def e_values(self) -> dict[str, float]:
        if self.process is None:
            return {n: 1.0 for n in self.names}
        return {
            n: math.exp(min(float(v), 700.0))
            for n, v in zip(self.names, self.process.log_e, strict=True)
        }

    def p_values(self) -> dict[str, float]:
        """Always-valid p-value per feature (compare with alpha / number of features)."""
        if self.process is None:
            return {n: 1.0 for n in self.names}
        return {
            n: min(1.0, math.exp(-float(v)))
            for n, v in zip(self.names, self.process.max_log_e, strict=True)
        }

    def status(self) -> dict[str, Any]:
        p = self.process
        return {
            "ready": p is not None,
            "reference_rows": self.reference_rows if p is None else None,
            "reference_seen": self._ref.rows,
            "rows": 0 if p is None else p.rows,
            "alpha": self.alpha,
            "alpha_per_feature": self.alpha / len(self.names),
            "features": [
                {"feature": n, "e_value": e, "p_value": self.p_values()[n]}
                for n, e in self.e_values().items()
            ],
            "alarms": [a.to_dict() for a in self.alarms()],
        }

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": "drift_monitor",
            # pairs, in order: the arrays below follow it, and stores sort an object's keys
            "features": [[name, kind] for name, kind in self.features.items()],
            "alpha": self.alpha,
            "max_bins": self.max_bins,
            "block": self.block,
            "max_starts": self.max_starts,
            "every": self.every,
            "seen": self.seen,
            "reference_rows": self.reference_rows,
            "reference": {"rows": self._ref.rows, "columns": self._ref.columns},
            "rng": self.rng.bit_generator.state,
            "binnings": [b.to_dict() for b in self.binnings],
            "process": None if self.process is None else self.process.to_dict(),
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> DriftMonitor:
        if d.get("kind") != "drift_monitor":
            raise ValueError(f"state is for {d.get('kind')!r}, not 'drift_monitor'")
        features = d["features"]
        m = cls(
            dict(features) if isinstance(features, Mapping) else {n: k for n, k in features},
            reference=max(int(d["reference_rows"]), int(d["max_bins"])),
            alpha=d["alpha"],
            max_bins=d["max_bins"],
            block=d["block"],
            max_starts=d["max_starts"],
            every=d["every"],
        )
        m.seen = int(d["seen"])
        m.reference_rows = int(d["reference_rows"])
        m._ref = _Reference(int(d["reference"]["rows"]), dict(d["reference"]["columns"]))
        m.rng.bit_generator.state = d["rng"]
        if d["process"] is not None:
            m._build_from([Binning.from_dict(b) for b in d["binnings"]])
            m.process = BinDriftEProcess.from_dict(d["process"])
        return m
