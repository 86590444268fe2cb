"""Monte-Carlo check of the drift monitors, beside a fixed-window test re-run every window.

Each run draws a reference of ``reference`` rows and a stream after it from a scenario,
bins the stream on the run's own reference, and feeds it to
:class:`~shadowgate.inputs.eprocess.BinDriftEProcess` with one "feature" per run, so that
the runs are vectorised. The e-process looks after every row. The comparison is the recipe
monitoring tools apply by default: a two-sample Kolmogorov–Smirnov test (chi-squared for
categories) of every window of ``window`` rows against the reference, at the same alpha,
alarming on the first window below it.

Null scenarios report P(ever alarm) over the whole stream with its Monte-Carlo standard
error; alternatives report the detection delay (rows after the drift starts).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from scipy import signal, special, stats

from shadowgate.inputs.binning import Binning, Kind
from shadowgate.inputs.eprocess import BinDriftEProcess

FloatArray = npt.NDArray[np.float64]
Gen = Callable[[np.random.Generator, int, int], FloatArray]
CATEGORY_SHARES = (0.6, 0.25, 0.1, 0.05)


@dataclass(frozen=True)
class DriftScenario:
    name: str
    kind: Kind
    null: bool
    before: Gen  # (rng, runs, rows) -> values, the reference's distribution
    after: Gen | None = None  # the drifted distribution (alternatives)
    start: int = 0  # stream row where the drift starts
    every: int = 1  # the monitor sees every k-th row (``drift.every``), the window test all


def _normal(shift: float = 0.0, scale: float = 1.0) -> Gen:
    return lambda rng, r, n: shift + scale * rng.standard_normal((r, n))


def _heavy(rng: np.random.Generator, r: int, n: int) -> FloatArray:
    # payload-like: Student t(3) with a lognormal scale, rounded to 2 decimals (ties)
    x = rng.standard_t(3, (r, n)) * np.exp(0.5 * rng.standard_normal((r, n)))
    out: FloatArray = np.round(x, 2)
    return out


def _ar1(phi: float) -> Gen:
    def gen(rng: np.random.Generator, r: int, n: int) -> FloatArray:
        e = rng.standard_t(5, (r, n)) * math.sqrt(1 - phi * phi)
        e[:, 0] = rng.standard_t(5, r)
        out: FloatArray = signal.lfilter([1.0], [1.0, -phi], e, axis=1)
        return out

    return gen


def _categories(shares: tuple[float, ...]) -> Gen:
    cum = np.cumsum(shares)

    def gen(rng: np.random.Generator, r: int, n: int) -> FloatArray:
        out: FloatArray = np.searchsorted(cum, rng.random((r, n)) * cum[-1]).astype(np.float64)
        return out

    return gen


def scenarios(*, late_start: int = 50_000) -> list[DriftScenario]:
    return [
        DriftScenario("null: heavy-tailed, ties", "numeric", True, _heavy),
        DriftScenario("null: categorical", "categorical", True, _categories(CATEGORY_SHARES)),
        DriftScenario("null: autocorrelated AR(1) 0.3", "numeric", True, _ar1(0.3)),
        DriftScenario(
            "null: autocorrelated AR(1) 0.3, every 4th row", "numeric", True, _ar1(0.3), every=4
        ),
        DriftScenario("mean +0.25 sd", "numeric", False, _normal(), _normal(0.25)),
        DriftScenario("mean +0.5 sd", "numeric", False, _normal(), _normal(0.5)),
        DriftScenario("mean +1 sd", "numeric", False, _normal(), _normal(1.0)),
        DriftScenario("variance x1.5 (sd)", "numeric", False, _normal(), _normal(0.0, 1.5)),
        DriftScenario(
            "category shares 60/25/10/5 -> 50/30/12/8",
            "categorical",
            False,
            _categories(CATEGORY_SHARES),
            _categories((0.5, 0.3, 0.12, 0.08)),
        ),
        DriftScenario(
            f"mean +0.5 sd from row {late_start:,}",
            "numeric",
            False,
            _normal(),
            _normal(0.5),
            late_start,
        ),
        # the default drift.every: 4 (valid on the autocorrelated null above)
        DriftScenario(
            "mean +0.5 sd, watching every 4th row",
            "numeric",
            False,
            _normal(),
            _normal(0.5),
            every=4,
        ),
        DriftScenario(
            f"mean +0.5 sd from row {late_start:,}, watching every 4th row",
            "numeric",
            False,
            _normal(),
            _normal(0.5),
            late_start,
            every=4,
        ),
    ]


def _stream(
    sc: DriftScenario, rng: np.random.Generator, runs: int, ref: int, rows: int
) -> FloatArray:
    if sc.null or sc.after is None:
        return sc.before(rng, runs, ref + rows)
    if sc.start == 0:
        ref_part = sc.before(rng, runs, ref)
        return np.concatenate([ref_part, sc.after(rng, runs, rows)], axis=1)
    head = sc.before(rng, runs, ref + sc.start)
    out: FloatArray = np.concatenate([head, sc.after(rng, runs, rows - sc.start)], axis=1)
    return out


def _values(x: FloatArray, kind: Kind) -> FloatArray | list[str]:
    return [str(v) for v in x] if kind == "categorical" else x


def _window_test(ref: FloatArray, win: FloatArray, kind: Kind) -> FloatArray:
    """p-value of each window (runs, windows, w) against its run's reference (runs, N)."""
    runs, nw, w = win.shape
    n = ref.shape[1]
    if kind == "categorical":
        k = int(max(ref.max(), win.max())) + 1
        p = np.stack([(ref == c).mean(axis=1) for c in range(k)], axis=1)  # (runs, k)
        obs = np.stack([(win == c).sum(axis=2) for c in range(k)], axis=2)  # (runs, nw, k)
        exp = np.maximum(p[:, None, :] * w, 1e-9)
        chi2 = ((obs - exp) ** 2 / exp).sum(axis=2)
        out: FloatArray = stats.chi2.sf(chi2, (p > 0).sum(axis=1)[:, None] - 1)
        return out
    d = np.zeros((runs, nw))
    steps = np.arange(w)
    for i in range(runs):
        rs = np.sort(ref[i])
        ws = np.sort(win[i], axis=1)
        lo = np.searchsorted(rs, ws, side="left") / n
        hi = np.searchsorted(rs, ws, side="right") / n
        d[i] = np.maximum(np.abs(hi - (steps + 1) / w), np.abs(lo - steps / w)).max(axis=1)
    en = n * w / (n + w)
    out = special.kolmogorov(np.sqrt(en) * d)
    return out


def run_drift_scenario(
    sc: DriftScenario,
    runs: int,
    seed: int,
    *,
    rows: int = 100_000,
    reference: int = 10_000,
    alpha: float = 0.01,
    window: int = 1000,
    chunk: int = 250,
    max_bins: int = 10,
    progress: Callable[[int], None] | None = None,
) -> dict[str, object]:
    """Alarm rates (and delays) of the monitor and of the re-run window test."""
    rng = np.random.default_rng(seed)
    level = math.log(1 / alpha)
    alarm = np.full(runs, -1, dtype=np.int64)
    ks_alarm = np.full(runs, -1, dtype=np.int64)
    for lo in range(0, runs, chunk):
        r = min(chunk, runs - lo)
        data = _stream(sc, rng, r, reference, rows)
        ref, live = data[:, :reference], data[:, reference:]
        seen = live[:, :: sc.every]
        binnings = [
            Binning.from_reference(
                _values(ref[i], sc.kind), sc.kind, rng.random(reference), max_bins=max_bins
            )
            for i in range(r)
        ]
        bins = np.stack(
            [
                b.assign(b.encode(_values(seen[i], sc.kind)), rng.random(int(seen.shape[1])))
                for i, b in enumerate(binnings)
            ]
        )
        proc = BinDriftEProcess([b.sizes.tolist() for b in binnings], level=level)
        mask = np.ones((r, 1000), dtype=bool)
        for s in range(0, bins.shape[1], 1000):
            part = bins[:, s : s + 1000]
            proc.update(part, mask[:, : part.shape[1]])
        alarm[lo : lo + r] = np.where(proc.alarm_row >= 0, proc.alarm_row * sc.every, -1)
        nw = rows // window
        p = _window_test(ref, live[:, : nw * window].reshape(r, nw, window), sc.kind)
        hit = p <= alpha
        first = np.where(hit.any(axis=1), hit.argmax(axis=1), -1)
        ks_alarm[lo : lo + r] = np.where(first >= 0, (first + 1) * window - 1, -1)
        if progress is not None:
            progress(r)
    return _summary(sc, runs, alpha, rows, window, alarm, ks_alarm)


def _rate(hits: int, runs: int) -> dict[str, float]:
    p = hits / runs
    return {"rate": p, "se": math.sqrt(max(p * (1 - p), 1e-12) / runs)}


def _delays(alarm: npt.NDArray[np.int64], start: int) -> dict[str, float | None]:
    d = np.where(alarm >= start, alarm - start + 1, np.inf).astype(np.float64)
    early = int(((alarm >= 0) & (alarm < start)).sum())
    med, p90 = np.quantile(d, [0.5, 0.9])
    return {
        "detected": float(np.isfinite(d).mean()),
        "median_rows": None if not math.isfinite(med) else float(med),
        "p90_rows": None if not math.isfinite(p90) else float(p90),
        "alarm_before_start": early / len(alarm),
    }


def _summary(
    sc: DriftScenario,
    runs: int,
    alpha: float,
    rows: int,
    window: int,
    alarm: npt.NDArray[np.int64],
    ks_alarm: npt.NDArray[np.int64],
) -> dict[str, object]:
    out: dict[str, object] = {
        "name": sc.name,
        "kind": sc.kind,
        "null": sc.null,
        "runs": runs,
        "rows": rows,
        "alpha": alpha,
        "window": window,
    }
    if sc.null:
        out["monitor"] = _rate(int((alarm >= 0).sum()), runs)
        out["window_test"] = _rate(int((ks_alarm >= 0).sum()), runs)
        m = out["monitor"]
        assert isinstance(m, dict)
        out["ok"] = bool(m["rate"] <= alpha + 2.5 * m["se"])
    else:
        out["start"] = sc.start
        out["monitor"] = _delays(alarm, sc.start)
        out["window_test"] = _delays(ks_alarm, sc.start)
    return out
