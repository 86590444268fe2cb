"""The demo's live view of one route: traffic, each check's evidence, the rollout state.

It renders a ``/api/status`` document (plus the traffic generator's own counters) either
as a rich table that redraws in place (a terminal) or as one plain line per refresh
(CI logs, pipes), so the demo is readable in both.
"""

from __future__ import annotations

import math
import sys
from dataclasses import dataclass
from typing import Any, TextIO

from rich.console import Console, Group
from rich.live import Live
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from shadowgate.demo.traffic import TrafficStats

_STATE_STYLE = {
    "shadow": "cyan",
    "canary": "cyan",
    "awaiting_approval": "yellow",
    "baking": "green",
    "promoted": "bold green",
    "rolled_back": "bold red",
    "paused": "yellow",
    "inconclusive": "magenta",
}
_VERDICT_STYLE = {"passed": "green", "harm": "bold red", "pending": "dim", "n/a": "dim"}


@dataclass
class Snapshot:
    """Everything one refresh shows."""

    route: str
    elapsed: float
    status: dict[str, Any]  # the route's entry of /api/status ({} before the first answer)
    traffic: TrafficStats
    scenario: str = ""

    @property
    def rollout(self) -> dict[str, Any]:
        r = self.status.get("rollout")
        return r if isinstance(r, dict) else {}

    @property
    def state(self) -> str:
        return str(self.rollout.get("state") or "starting")

    @property
    def counts(self) -> dict[str, Any]:
        c = self.status.get("counts")
        return c if isinstance(c, dict) else {}


def fmt(x: Any, digits: int = 3, signed: bool = True) -> str:
    """A number for the table: fixed width, '—' when missing; differences carry a sign,
    levels (agreement is a share of rows, not a difference) do not."""
    if x is None or (isinstance(x, float) and not math.isfinite(x)):
        return "—"
    if isinstance(x, float):
        if abs(x) >= 1000:
            return f"{x:.3g}"
        return f"{x:+.{digits}f}" if signed else f"{x:.{digits}f}"
    return str(x)


def fmt_p(p: Any) -> str:
    if not isinstance(p, int | float) or not math.isfinite(p):
        return "—"
    return f"{p:.2g}" if p < 0.01 else f"{p:.3f}"


def fmt_ci(ci: Any, signed: bool = True) -> str:
    if not isinstance(ci, list | tuple) or len(ci) != 2:
        return "—"
    return f"[{fmt(ci[0], signed=signed)}, {fmt(ci[1], signed=signed)}]"


def is_difference(check: dict[str, Any]) -> bool:
    """Whether a check's estimate is candidate − production (agreement is a level)."""
    return str(check.get("metric", check.get("check"))) != "agreement"


def bake_of(snap: Snapshot) -> dict[str, Any] | None:
    """The bake's status while baking and once the rollout has ended from it, else None."""
    bake = snap.rollout.get("bake")
    return bake if isinstance(bake, dict) else None


def checks_of(snap: Snapshot) -> list[dict[str, Any]]:
    """The checks that decide now: the bake's own once the promoted model is baking (the
    shadow phase's are frozen at the promotion), else the rollout's."""
    bake = bake_of(snap)
    checks = (bake or snap.rollout).get("checks")
    return [c for c in checks if isinstance(c, dict)] if isinstance(checks, list) else []


def samples_of(snap: Snapshot) -> tuple[str, Any, Any]:
    """What the pair counts shown count ("" or "bake "), and the pairs and labelled pairs."""
    bake = bake_of(snap)
    samples = (bake or {}).get("samples") or snap.rollout.get("samples") or {}
    return ("bake " if bake else ""), samples.get("pairs", 0), samples.get("labels", 0)


def bake_text(bake: dict[str, Any]) -> str:
    """One line on the bake: the promoted model serves, the former production is mirrored."""
    head = "bake: the promoted candidate serves, the former production is mirrored"
    if not bake.get("active", True):
        head = "bake ended"
    return (
        f"{head}; {bake.get('answered', 0)} pairs answered by the former production (it needs "
        f"{bake.get('min_samples')}), {bake.get('pairs', 0)} mirrored"
    )


def decision_text(snap: Snapshot) -> str:
    d = snap.rollout.get("last_decision")
    if not isinstance(d, dict):
        return "none yet"
    return f"{d.get('from')} → {d.get('to')}: {d.get('reason')}"


def render(snap: Snapshot) -> Group:
    """The rich renderable of one snapshot."""
    t = snap.traffic
    counts = snap.counts
    requests = counts.get("requests", {}) if isinstance(counts.get("requests"), dict) else {}
    what, pairs, labels = samples_of(snap)
    head = Table.grid(padding=(0, 2))
    head.add_row(
        Text(f"route {snap.route}", style="bold"),
        Text(f"scenario {snap.scenario}") if snap.scenario else Text(""),
        Text(f"{snap.elapsed:5.0f}s"),
        Text(snap.state, style=_STATE_STYLE.get(snap.state, "white")),
    )
    traffic = Table.grid(padding=(0, 2))
    traffic.add_row(
        f"{t.rate():5.1f} req/s",
        f"sent {t.sent}",
        f"failed {t.failed}",
        f"labels {t.labels_sent}",
    )
    traffic.add_row(
        f"production served {requests.get('production', 0)}",
        f"candidate served {requests.get('candidate', 0)}",
        f"mirrored {counts.get('mirrored', 0)}",
        f"mirror drops {counts.get('mirror_dropped', 0)}",
    )
    traffic.add_row(f"{what}pairs {pairs}", f"{what}labelled pairs {labels}", "", "")
    table = Table(expand=False, header_style="bold")
    for col in ("check", "n", "estimate", "anytime-valid CI", "p-value", "verdict"):
        table.add_column(col, justify="left" if col in ("check", "verdict") else "right")
    for c in checks_of(snap):
        name = str(c.get("check"))
        if c.get("phase") in ("canary", "bake"):
            name += f" ({c['phase']})"
        if c.get("segment") is not None:
            name += f" [{c['segment']}]"
        verdict = str(c.get("verdict"))
        table.add_row(
            name,
            str(c.get("n", 0)),
            fmt(c.get("estimate"), signed=is_difference(c)),
            fmt_ci(c.get("ci"), signed=is_difference(c)),
            fmt_p(c.get("p_value")),
            Text(verdict, style=_VERDICT_STYLE.get(verdict, "white")),
        )
    last = Text("last decision: " + decision_text(snap), overflow="fold")
    bake = bake_of(snap)
    if bake is None:
        return Group(head, traffic, table, last)
    return Group(head, traffic, Text(bake_text(bake), overflow="fold"), table, last)


def plain_line(snap: Snapshot) -> str:
    """One log line per refresh, for output that is not a terminal."""
    what, pairs, labels = samples_of(snap)
    parts = [
        f"[{snap.elapsed:5.0f}s]",
        snap.state,
        f"{snap.traffic.rate():.0f} req/s",
        f"{what}pairs {pairs}",
        f"{what}labels {labels}",
    ]
    for c in checks_of(snap):
        tag = " (bake)" if c.get("phase") == "bake" else ""
        parts.append(
            f"{c.get('check')}{tag}: {fmt(c.get('estimate'), signed=is_difference(c))} "
            f"{fmt_ci(c.get('ci'), signed=is_difference(c))} "
            f"p={fmt_p(c.get('p_value'))} {c.get('verdict')}"
        )
    return " | ".join(parts)


class View:
    """Shows snapshots live on a terminal, or as plain lines every ``every`` seconds."""

    def __init__(self, *, live: bool | None = None, every: float = 5.0, out: TextIO | None = None):
        self.out = out or sys.stdout
        self.console = Console(file=self.out)
        self.live_mode = self.console.is_terminal if live is None else live
        self.every = every
        self._live: Live | None = None
        self._last_plain = -math.inf

    def __enter__(self) -> View:
        if self.live_mode:
            self._live = Live(console=self.console, refresh_per_second=4, transient=False)
            self._live.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._live is not None:
            self._live.__exit__(None, None, None)
            self._live = None

    def update(self, snap: Snapshot, *, force: bool = False) -> None:
        if self._live is not None:
            self._live.update(Panel(render(snap), title="shadowgate demo", expand=False))
            return
        if force or snap.elapsed - self._last_plain >= self.every:
            self._last_plain = snap.elapsed
            print(plain_line(snap), file=self.out, flush=True)
