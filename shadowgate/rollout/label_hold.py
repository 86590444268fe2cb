"""Labels held back until their pair's label window has passed (``analysis.label_window``).

The judge reads labels as they arrive; when a label's delay depends on its value (a
fraud is confirmed later than a legitimate payment), feeding them to the checks at once
shows the analysis one class first. A :class:`LabelHold` instead evaluates every pair
once, ``window`` after its request, in request order: a label counts if it arrived
within the window (else it is *late* and never counts), and a pair without one is
counted as unlabelled, so the labelled share can be shown next to the window. This is
``rollout.label_window.LabelWindow`` (the simulation's) for a stream read in pages.

Pairs are counted per bin of request time (``window / BINS`` wide) so the state stays
small at any traffic rate; a pair is due once its whole bin is older than the window.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, fields
from typing import Any, Generic, TypeVar

import numpy as np

from shadowgate.rollout.evidence import CanaryLabelBatch, Floats, LabelBatch

B = TypeVar("B", LabelBatch, CanaryLabelBatch)
BINS = 32


def _take(batch: B, keep: Any) -> B:
    """The rows of ``batch`` at ``keep`` (a boolean mask or indices), in that order."""
    out: dict[str, Any] = {}
    for f in fields(batch):
        col = getattr(batch, f.name)
        out[f.name] = (
            [col[i] for i in np.arange(len(batch))[keep]] if isinstance(col, list) else col[keep]
        )
    return type(batch)(**out)


def _concat(a: B, b: B) -> B:
    out: dict[str, Any] = {}
    for f in fields(a):
        x, y = getattr(a, f.name), getattr(b, f.name)
        out[f.name] = x + y if isinstance(x, list) else np.concatenate([x, y])
    return type(a)(**out)


@dataclass
class LabelHold(Generic[B]):
    """One phase's labels waiting for their window, and what has been evaluated."""

    window: float
    empty: B
    held: B | None = None
    #: request-time bin → pairs seen there and not yet evaluated
    pairs: dict[int, int] = field(default_factory=dict)
    #: bins up to this one have been evaluated
    done: float = -math.inf
    evaluated: int = 0
    labelled: int = 0
    late: int = 0

    @property
    def width(self) -> float:
        return self.window / BINS

    def _bin(self, t: Floats) -> Any:
        return np.floor(t / self.width).astype(np.int64)

    def observe(self, request_at: Floats) -> None:
        """Pairs that can be labelled (shadow pairs, or canary requests) by request time."""
        if request_at.size == 0:
            return
        bins, counts = np.unique(self._bin(request_at), return_counts=True)
        for b, c in zip(bins.tolist(), counts.tolist(), strict=True):
            if b <= self.done:  # read after its bin was due: evaluated now, unlabelled
                self.evaluated += c
            else:
                self.pairs[b] = self.pairs.get(b, 0) + c

    def add(self, batch: B) -> None:
        """Labels read from the store; those already too late are counted and dropped."""
        if len(batch) == 0:
            return
        in_time = batch.label_at <= batch.request_at + self.window
        open_ = self._bin(batch.request_at) > self.done
        keep = in_time & open_
        self.late += int(np.count_nonzero(~keep))
        kept = _take(batch, keep)
        self.held = kept if self.held is None else _concat(self.held, kept)

    def release(self, now: float) -> B:
        """The labels whose pairs are due at ``now``, in request order."""
        # whole bins older than the window (now = inf: everything, when the window is removed)
        due = math.inf if math.isinf(now) else math.floor((now - self.window) / self.width) - 1
        if due <= self.done:
            return self.empty
        self.done = due
        for b in [b for b in self.pairs if b <= due]:
            self.evaluated += self.pairs.pop(b)
        if self.held is None or len(self.held) == 0:
            return self.empty
        ripe = self._bin(self.held.request_at) <= due
        out = _take(
            self.held, np.flatnonzero(ripe)[np.argsort(self.held.request_at[ripe], kind="stable")]
        )
        self.held = _take(self.held, ~ripe)
        self.labelled += len(out)
        return out

    def rewindow(self, window: float) -> None:
        """Follow an edited window: pending bins are re-binned at the new width."""
        scale = self.window / window
        self.pairs = self._rebin(self.pairs, scale)
        self.done = self.done if self.done == -math.inf else math.floor(self.done * scale)
        self.window = window

    @staticmethod
    def _rebin(pairs: dict[int, int], scale: float) -> dict[int, int]:
        out: dict[int, int] = {}
        for b, c in pairs.items():
            k = math.floor(b * scale)
            out[k] = out.get(k, 0) + c
        return out

    def status(self) -> dict[str, Any]:
        share = self.labelled / self.evaluated if self.evaluated else None
        waiting = 0 if self.held is None else len(self.held)
        return {
            "window": self.window,
            "evaluated": self.evaluated,
            "labelled": self.labelled,
            "labelled_share": share,
            "late": self.late,
            "waiting": waiting,
        }

    def to_dict(self) -> dict[str, Any]:
        held = self.held if self.held is not None else self.empty
        cols = {
            f.name: (v if isinstance(v := getattr(held, f.name), list) else v.tolist())
            for f in fields(held)
        }
        return {
            "window": self.window,
            "held": cols,
            "pairs": [[b, c] for b, c in self.pairs.items()],
            "done": None if self.done == -math.inf else self.done,
            "evaluated": self.evaluated,
            "labelled": self.labelled,
            "late": self.late,
        }

    @classmethod
    def from_dict(cls, window: float, empty: B, d: dict[str, Any]) -> LabelHold[B]:
        """Restore; bins stored under another window (edited while down) are re-binned."""
        cols: dict[str, Any] = {}
        for f in fields(empty):
            proto = getattr(empty, f.name)
            raw = d["held"].get(f.name, [])
            cols[f.name] = list(raw) if isinstance(proto, list) else np.asarray(raw, proto.dtype)
        hold = cls(
            float(d.get("window", window)),
            empty,
            type(empty)(**cols),
            {int(b): int(c) for b, c in d.get("pairs", [])},
            -math.inf if d.get("done") is None else float(d["done"]),
            int(d.get("evaluated", 0)),
            int(d.get("labelled", 0)),
            int(d.get("late", 0)),
        )
        if hold.window != window:
            hold.rewindow(window)
        return hold
