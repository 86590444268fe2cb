"""The report's figures, each returned as a base64 PNG ready for an ``<img src="data:...">``.

Figures are built with ``matplotlib.figure.Figure`` directly (no pyplot): no global state,
no display needed, safe in servers and tests.
"""

from __future__ import annotations

import base64
import io
import math
from collections.abc import Sequence
from typing import Any

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from shadowgate.config.model import RouteConfig
from shadowgate.judge.evidence import label_scores
from shadowgate.model.outcome import side_failed
from shadowgate.report.replay import Trajectory
from shadowgate.store.rows import LabeledOutcome, StoredOutcome

COLORS = {"production": "#1f77b4", "candidate": "#d62728"}
DECISION_COLOR = "#2ca02c"
BAKE_COLOR = "#ff7f0e"


def png(fig: Figure) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100, bbox_inches="tight")
    return base64.b64encode(buf.getvalue()).decode("ascii")


def _mark(ax: Axes, xs: Sequence[float], label: str = "decision") -> None:
    for i, x in enumerate(xs):
        ax.axvline(x, color=DECISION_COLOR, ls="--", lw=1.2, label=label if i == 0 else None)


def _reference(t: Trajectory) -> tuple[float, str] | None:
    """Where the margin sits on the shown scale, and what it means."""
    if t.metric == "agreement":
        return t.margin, f"minimum {t.margin:g}"
    if t.metric == "accuracy":
        return -t.margin, f"margin −{t.margin:g}"
    if t.metric == "prediction_shift":
        return t.margin, f"max_shift {t.margin:g}"
    return t.margin, f"margin +{t.margin:g}"


def y_range(t: Trajectory) -> tuple[float, float] | None:
    """The estimate panel's y-range: the later intervals (the first ones are very wide)
    and always the reference line (margin or minimum), so the line a decision is taken
    against is never off the plot."""
    lows = [x for x in t.lower if math.isfinite(x)]
    highs = [x for x in t.upper if math.isfinite(x)]
    if not (lows and highs):
        return None
    k = len(lows) // 5
    lo, hi = min(lows[k:]), max(highs[k:])
    ref = _reference(t)
    if ref is not None:
        lo, hi = min(lo, ref[0]), max(hi, ref[0])
    pad = 0.15 * max(hi - lo, 1e-3)
    return lo - pad, hi + pad


def check_figure(
    t: Trajectory, alpha_harm: float, alpha_pass: float, decisions: Sequence[float]
) -> str:
    """Estimate with its confidence sequence, and both p-values, against samples."""
    fig = Figure(figsize=(10, 3.4))
    ax1, ax2 = fig.subplots(1, 2)
    n = np.asarray(t.n, dtype=float)
    ax1.fill_between(
        n, t.lower, t.upper, color="#9ecae1", alpha=0.6, label="anytime-valid CI", step=None
    )
    ax1.plot(n, t.estimate, color="#08519c", lw=1.5, label="estimate")
    ref = _reference(t)
    if ref is not None:
        ax1.axhline(ref[0], color="#e6550d", ls=":", lw=1.2, label=ref[1])
    if t.metric != "agreement":
        ax1.axhline(0.0, color="grey", lw=0.8)
    _mark(ax1, decisions)
    ax1.set_xlabel("samples")
    ax1.set_ylabel(_unit(t.metric))
    ax1.set_title(f"{t.check}: estimate and confidence sequence")
    ax1.legend(fontsize=8, loc="best")
    ylim = y_range(t)
    if ylim is not None:
        ax1.set_ylim(*ylim)
    floor = 1e-12
    ax2.plot(n, np.maximum(t.p_harm, floor), color="#d62728", lw=1.4, label="p (harm)")
    ax2.plot(n, np.maximum(t.p_pass, floor), color="#2ca02c", lw=1.4, label="p (pass)")
    ax2.axhline(alpha_harm, color="#d62728", ls=":", lw=1, label=f"harm α = {alpha_harm:.3g}")
    ax2.axhline(alpha_pass, color="#2ca02c", ls=":", lw=1, label=f"pass α = {alpha_pass:.3g}")
    ax2.set_yscale("log")
    ax2.set_ylim(floor, 1.5)
    _mark(ax2, decisions)
    ax2.set_xlabel("samples")
    ax2.set_ylabel("always-valid p-value")
    ax2.set_title(f"{t.check}: p-values")
    ax2.legend(fontsize=8, loc="lower left")
    return png(fig)


def _unit(metric: str) -> str:
    return {
        "errors": "error-rate difference (cand − prod)",
        "latency": "relative slowdown (cand / prod − 1)",
        "agreement": "share of agreeing answers",
        "accuracy": "accuracy difference (cand − prod)",
        "loss": "loss difference (cand − prod)",
        "prediction_shift": "largest class-share shift |cand − prod|",
    }.get(metric, metric)


def latency_figure(lat: dict[str, np.ndarray[Any, Any]]) -> str:
    """Latency distributions per variant (log-spaced histogram, milliseconds)."""
    fig = Figure(figsize=(10, 3.2))
    ax = fig.subplots()
    values = [v for v in lat.values() if len(v)]
    if values:
        allv = np.concatenate(values) * 1000
        lo, hi = max(allv.min(), 1e-3), max(allv.max(), 1e-2)
        bins = np.logspace(math.log10(lo), math.log10(hi), 60).tolist()
        for variant, v in lat.items():
            if len(v):
                ms = v * 1000
                p50, p99 = np.percentile(ms, [50, 99])
                ax.hist(
                    ms, bins=bins, alpha=0.55, color=COLORS[variant],
                    label=f"{variant}: p50 {p50:.1f} ms, p99 {p99:.1f} ms (n={len(v)})",
                )  # fmt: skip
        ax.set_xscale("log")
    ax.set_xlabel("upstream latency (ms)")
    ax.set_ylabel("requests")
    ax.set_title("latency per variant")
    ax.legend(fontsize=8)
    return png(fig)


def _rolling(x: np.ndarray[Any, Any], window: int) -> np.ndarray[Any, Any]:
    ok = np.isfinite(x)
    num = np.convolve(np.where(ok, x, 0.0), np.ones(window), "same")
    den = np.convolve(ok.astype(float), np.ones(window), "same")
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, num / np.maximum(den, 1), np.nan)


def disagreement_figure(
    outcomes: Sequence[StoredOutcome],
    t0: float,
    decisions: Sequence[float],
    bakes: Sequence[tuple[float, float]] = (),
) -> str:
    """Rolling share of disagreeing answers and of failures per variant, over time; the
    spans of a bake (``bakes``, seconds since ``t0``) are shaded."""
    fig = Figure(figsize=(10, 3.2))
    ax = fig.subplots()
    last = max((o.record.ts - t0 for o in outcomes), default=0.0)
    for i, (a, b) in enumerate(bakes):
        end = b if math.isfinite(b) else last
        ax.axvspan(a, end, color=BAKE_COLOR, alpha=0.15, label="baking" if i == 0 else None)
    rows = [o.record for o in outcomes if o.record.kind == "shadow"]
    if rows:
        ts = np.asarray([r.ts - t0 for r in rows])
        dis = np.asarray([1.0 - sum(r.agree) / len(r.agree) if r.agree else math.nan for r in rows])
        pf = np.asarray([float(side_failed(r.prod_error, r.prod_status)) for r in rows])
        cf = np.asarray([float(side_failed(r.cand_error, r.cand_status)) for r in rows])
        w = max(20, len(rows) // 40)
        ax.plot(
            ts, _rolling(dis, w), color="#6a3d9a", lw=1.4, label=f"disagreement ({w}-pair mean)"
        )
        ax.plot(ts, _rolling(pf, w), color=COLORS["production"], lw=1, label="production failures")
        ax.plot(ts, _rolling(cf, w), color=COLORS["candidate"], lw=1, label="candidate failures")
    _mark(ax, decisions)
    ax.set_xlabel("seconds since the rollout started")
    ax.set_ylabel("share of pairs")
    ax.set_title("disagreement and failures over time")
    ax.legend(fontsize=8)
    return png(fig)


def accuracy_figure(
    route: RouteConfig, labeled: Sequence[LabeledOutcome], decisions: Sequence[float]
) -> str:
    """Cumulative label-based accuracy of each variant against labelled pairs."""
    fig = Figure(figsize=(10, 3.2))
    ax = fig.subplots()
    scores = [label_scores(route, lo.outcome.record, lo.label) for lo in labeled]
    for variant, key in (("production", "prod_correct"), ("candidate", "cand_correct")):
        x = np.asarray([s.get(key, math.nan) for s in scores], dtype=float)
        ok = np.isfinite(x)
        if ok.any():
            cum = np.cumsum(np.where(ok, x, 0.0)) / np.maximum(np.cumsum(ok), 1)
            n = np.arange(1, len(x) + 1)
            ax.plot(n[ok], cum[ok], color=COLORS[variant], lw=1.5,
                    label=f"{variant}: {cum[ok][-1]:.3f}")  # fmt: skip
    _mark(ax, decisions)
    ax.set_xlabel("labelled pairs")
    ax.set_ylabel("cumulative accuracy")
    ax.set_title("accuracy on labels")
    if scores:
        ax.legend(fontsize=8)
    else:
        ax.text(0.5, 0.5, "no labels were recorded", ha="center", transform=ax.transAxes)
    return png(fig)
