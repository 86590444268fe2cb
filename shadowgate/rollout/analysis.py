"""All the evidence of one rollout: every check's tests in both phases, plus counters.

Updated incrementally with each batch the judge reads (never recomputed from scratch),
serialised whole with ``to_dict`` so a restarted judge resumes with identical statistics.

α is spent once per rollout, whatever its phases: the harm half ``α/2`` is split equally
over every harm test the rollout can run (each check in shadow, each observable check in
canary, and the sample-ratio guard); the pass half goes to the pass tests (a route passes
only when all of them reject, so each may use all of it). A check's tests are keyed by the
fingerprint of its hypothesis (metric, margin, minimum, goal): evidence gathered under one
margin is never read under another.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from shadowgate.config.model import AnalysisConfig, CheckConfig
from shadowgate.rollout.checks import (
    CheckResult,
    CheckState,
    Method,
    Phase,
    spec_for,
)
from shadowgate.rollout.evidence import CanaryBatch, CanaryLabelBatch, LabelBatch, PairBatch
from shadowgate.rollout.extract import (
    clipped,
    values_for_canary,
    values_for_canary_labels,
    values_for_labels,
    values_for_pairs,
)
from shadowgate.rollout.label_hold import LabelHold
from shadowgate.stats import CountShareTest


class RouteAnalysis:
    """Tests for every check of a route, α split as described in ``rollout.checks``."""

    def __init__(
        self, analysis: AnalysisConfig, canary_weight: float = 0.0, method: Method = "long-run"
    ) -> None:
        self.config = analysis
        self.method: Method = method
        alpha = analysis.alpha
        observable = [
            (phase, check)
            for phase in ("shadow", "canary")
            for check in analysis.checks
            if spec_for(check, phase) is not None
        ]
        if method == "iid":  # the earlier split, kept for the simulation's negative control
            self.alpha_harm_each = alpha / 2 / (max(1, len(analysis.checks)) + 1)
        else:  # one harm share per test the rollout can run, plus the SRM guard
            self.alpha_harm_each = alpha / 2 / (len(observable) + 1)
        self.alpha_srm = self.alpha_harm_each
        self.alpha_pass = alpha / 2
        self.checks: dict[Phase, dict[str, CheckState]] = {"shadow": {}, "canary": {}}
        for phase, check in observable:
            self.checks[phase][check.label] = self._new_state(check, phase)  # type: ignore[index,arg-type]
        self.notes: list[str] = []  # what was restarted and why, for the audit log
        self.unaudited: list[str] = []  # of those, not yet written to the audit log
        w = min(max(canary_weight, 0.0), 100.0) / 100.0
        self.srm = CountShareTest(shares=(1.0 - w, w)) if 0 < w < 1 else None
        self.srm_weight = canary_weight
        self.pairs = 0
        #: pairs whose production side answered (a bake counts only these: a pair with a
        #: failed reference is no evidence about the candidate)
        self.answered = 0
        #: pairs since the shadow stage last began (an edit back to shadow begins it again)
        self.stage_pairs = 0
        self.labels = 0
        self.canary = [0, 0]  # outcomes per variant (production, candidate), whole rollout
        self.step_counts = [0, 0]  # per variant since the current canary step began
        self.canary_labels = 0
        self._hold_labels(analysis.label_window)

    def _hold_labels(self, window: float | None) -> None:
        """With ``label_window``: labels wait for their pair's window (``rollout.label_hold``)."""
        self.hold: LabelHold[LabelBatch] | None = None
        self.canary_hold: LabelHold[CanaryLabelBatch] | None = None
        if window is not None:
            self.hold = LabelHold(window, LabelBatch())
            self.canary_hold = LabelHold(window, CanaryLabelBatch())

    def _new_state(self, check: CheckConfig, phase: Phase) -> CheckState:
        return CheckState(check, phase, self.alpha_harm_each, self.alpha_pass, self.method)

    # --- restarting -------------------------------------------------------------------

    def reconfigure(self, analysis: AnalysisConfig) -> list[str]:
        """Follow an edited config: a check whose hypothesis changed gets fresh tests.

        Checks with an unchanged fingerprint keep their evidence; the returned notes (also
        kept in ``notes``) say which checks were restarted, for the audit log.
        """
        fresh = RouteAnalysis(analysis, self.srm_weight, self.method)
        said: list[str] = []
        for phase, states in fresh.checks.items():
            for label, st in states.items():
                prev = self.checks[phase].get(label)
                was = None if prev is None else fingerprint(prev.check, phase)
                if prev is not None and was == fingerprint(st.check, phase):
                    # same hypothesis: keep the evidence, at the new config's shares
                    prev.check = st.check
                    prev.alpha_harm, prev.alpha_segments = st.alpha_harm, st.alpha_segments
                    prev.alpha_pass = st.alpha_pass
                    states[label] = prev
                elif prev is not None:
                    said.append(
                        f"{phase} check {label!r} restarted: hypothesis changed from "
                        f"{was} to {fingerprint(st.check, phase)}; "
                        f"{prev.n} observations discarded"
                    )
        if analysis.label_window != self.config.label_window:
            said.append(self._rewindow(analysis.label_window))
        self.config = analysis
        self.checks = fresh.checks
        self.alpha_harm_each, self.alpha_srm = fresh.alpha_harm_each, fresh.alpha_srm
        self.notes.extend(said)
        self.unaudited.extend(said)
        return said

    def take_notes(self) -> list[str]:
        """Restart notes not yet in the audit log (the judge writes them with its commit)."""
        out, self.unaudited = self.unaudited, []
        return out

    def _rewindow(self, window: float | None) -> str:
        """A new ``label_window``: held labels keep waiting under it (or count now, if off)."""
        was = self.config.label_window
        if self.hold is not None and self.canary_hold is not None and window is not None:
            self.hold.rewindow(window)
            self.canary_hold.rewindow(window)
            return f"label window changed from {was:g}s to {window:g}s"
        flush = self.release_labels(math.inf) if window is None else 0
        self._hold_labels(window)
        if window is None:
            return f"label window {was:g}s removed: {flush} held labels counted at once"
        return f"label window of {window:g}s set: labels arriving from now on wait for it"

    def restart_split(self) -> str:
        """Start the sample-ratio check again on new evidence (after ``resume`` from SRM).

        Its p-value is a running minimum, so without a restart the next look would pause
        the rollout again however well the split now behaves.
        """
        old = self.srm
        w = min(max(self.srm_weight, 0.0), 100.0) / 100.0
        self.srm = CountShareTest(shares=(1.0 - w, w)) if 0 < w < 1 else None
        n = 0 if old is None else old.n
        p = 1.0 if old is None else old.p_value
        note = f"split check restarted: {n} requests discarded (their p-value was {p:.3g})"
        self.notes.append(note)
        return note

    # --- feeding ----------------------------------------------------------------------

    def restart_stage(self) -> None:
        """The shadow stage begins again (a file edit moved the rollout back to shadow): it
        passes only once ``min_samples`` new pairs are in. The tests keep their evidence."""
        self.stage_pairs = 0

    def add_pairs(self, b: PairBatch) -> None:
        self.pairs += len(b)
        self.stage_pairs += len(b)
        self.answered += len(b) - int(np.count_nonzero(b.prod_fail))
        if self.hold is not None:
            self.hold.observe(b.request_at)
        for state in self.checks["shadow"].values():
            got = values_for_pairs(state.check.metric, b)
            if got is not None:
                state.update(*got)

    def add_labels(self, b: LabelBatch) -> None:
        if self.hold is not None:
            self.hold.add(b)
        else:
            self._feed_labels(b)

    def add_canary_labels(self, b: CanaryLabelBatch) -> None:
        if self.canary_hold is not None:
            self.canary_hold.add(b)
        else:
            self._feed_canary_labels(b)

    def release_labels(self, now: float) -> int:
        """Feed the checks the labels whose pairs' window has passed at ``now``."""
        if self.hold is None or self.canary_hold is None:
            return 0
        shadow, canary = self.hold.release(now), self.canary_hold.release(now)
        self._feed_labels(shadow)
        self._feed_canary_labels(canary)
        return len(shadow) + len(canary)

    def label_window_status(self) -> dict[str, Any] | None:
        """The window and the labelled share of the pairs it has evaluated, per phase."""
        if self.hold is None or self.canary_hold is None:
            return None
        return {**self.hold.status(), "canary": self.canary_hold.status()}

    def _feed_labels(self, b: LabelBatch) -> None:
        self.labels += len(b)
        for state in self.checks["shadow"].values():
            bound = state.check.bound
            got = values_for_labels(state.check.metric, b, bound)
            if state.check.metric == "loss":
                state.clipped += clipped(b.prod_loss, bound) + clipped(b.cand_loss, bound)
            if got is not None:
                state.update(*got)

    def add_canary(self, b: CanaryBatch) -> None:
        if len(b) == 0:
            return
        cand = int(np.count_nonzero(b.candidate))
        self.canary[0] += len(b) - cand
        self.canary[1] += cand
        self.step_counts[0] += len(b) - cand
        self.step_counts[1] += cand
        if self.canary_hold is not None:
            self.canary_hold.observe(b.request_at)
        if self.srm is not None:
            assigned = b.assigned if len(b.assigned) == len(b) else np.ones(len(b), bool)
            self.srm.update(b.candidate[assigned].astype(np.int64))
        for state in self.checks["canary"].values():
            got = values_for_canary(state.check.metric, b)
            if got is not None:
                state.update(*got)

    def _feed_canary_labels(self, b: CanaryLabelBatch) -> None:
        self.canary_labels += len(b)
        for state in self.checks["canary"].values():
            bound = state.check.bound
            got = values_for_canary_labels(state.check.metric, b, bound)
            if state.check.metric == "loss":
                state.clipped += clipped(b.loss, bound)
            if got is not None:
                state.update(*got)

    def set_canary_weight(self, weight: float) -> None:
        """A new canary step: the SRM check follows the new split; step counters restart."""
        self.step_counts = [0, 0]
        w = min(max(weight, 0.0), 100.0) / 100.0
        self.srm_weight = weight
        if not 0 < w < 1:
            self.srm = None
        elif self.srm is None:
            self.srm = CountShareTest(shares=(1.0 - w, w))
        else:
            self.srm.set_shares((1.0 - w, w))

    # --- reading ----------------------------------------------------------------------

    def results(self, phase: Phase) -> list[CheckResult]:
        out: list[CheckResult] = []
        for state in self.checks[phase].values():
            out.extend(state.results(self.config.alpha))
        return out

    def srm_rejected(self) -> bool:
        return self.srm is not None and self.srm.p_value <= self.alpha_srm

    def srm_p_value(self) -> float:
        return 1.0 if self.srm is None else float(self.srm.p_value)

    def to_dict(self) -> dict[str, Any]:
        return {
            "method": self.method,
            "fingerprints": {
                phase: {k: fingerprint(v.check, phase) for k, v in states.items()}
                for phase, states in self.checks.items()
            },
            "notes": list(self.notes),
            "unaudited": list(self.unaudited),
            "checks": {
                phase: {k: v.to_dict() for k, v in states.items()}
                for phase, states in self.checks.items()
            },
            "srm": self.srm.to_dict() if self.srm is not None else None,
            "srm_weight": self.srm_weight,
            "pairs": self.pairs,
            "answered": self.answered,
            "stage_pairs": self.stage_pairs,
            "labels": self.labels,
            "canary": list(self.canary),
            "step_counts": list(self.step_counts),
            "canary_labels": self.canary_labels,
            "label_hold": None if self.hold is None else self.hold.to_dict(),
            "canary_label_hold": None if self.canary_hold is None else self.canary_hold.to_dict(),
        }

    @classmethod
    def from_dict(cls, analysis: AnalysisConfig, d: dict[str, Any]) -> RouteAnalysis:
        method = d.get("method", "long-run")
        self = cls(analysis, canary_weight=float(d.get("srm_weight", 0.0)), method=method)
        self.notes = [str(x) for x in d.get("notes", [])]
        self.unaudited = [str(x) for x in d.get("unaudited", [])]
        prints = d.get("fingerprints", {})
        for phase, states in d.get("checks", {}).items():
            for label, sd in states.items():
                st = self.checks[phase].get(label)
                if st is None:
                    continue
                was = prints.get(phase, {}).get(label)
                if was is not None and was != fingerprint(st.check, phase):
                    note = (
                        f"{phase} check {label!r} restarted: hypothesis changed from {was} "
                        f"to {fingerprint(st.check, phase)} while the judge was down"
                    )
                    self.notes.append(note)
                    self.unaudited.append(note)
                    continue
                st.restore(sd)
        self.srm = CountShareTest.from_dict(d["srm"]) if d.get("srm") else None
        self.pairs = int(d.get("pairs", 0))
        self.answered = int(d.get("answered", self.pairs))
        self.stage_pairs = int(d.get("stage_pairs", self.pairs))
        self.labels = int(d.get("labels", 0))
        self.canary = [int(x) for x in d.get("canary", [0, 0])]
        self.step_counts = [int(x) for x in d.get("step_counts", [0, 0])]
        self.canary_labels = int(d.get("canary_labels", 0))
        w = analysis.label_window
        if w is not None and d.get("label_hold") and d.get("canary_label_hold"):
            self.hold = LabelHold.from_dict(w, LabelBatch(), d["label_hold"])
            self.canary_hold = LabelHold.from_dict(w, CanaryLabelBatch(), d["canary_label_hold"])
        elif w is None and d.get("label_hold"):  # the window was removed while the judge was down
            held = LabelHold.from_dict(1.0, LabelBatch(), d["label_hold"]).held
            cheld = LabelHold.from_dict(1.0, CanaryLabelBatch(), d["canary_label_hold"]).held
            if held is not None:
                self._feed_labels(held)
            if cheld is not None:
                self._feed_canary_labels(cheld)
        return self


def fingerprint(check: CheckConfig, phase: str = "shadow") -> str:
    """The hypothesis a check's tests are about; evidence is kept only while it is unchanged.

    ``burst`` shapes the pass tests of both phases, so it is part of the fingerprint.
    (Canary tests saved while ``burst`` shaped the shadow ones only were stored without
    it: they are restarted on restore, with the audit note, since their pass test was the
    plug-in one that bursts defeat.) ``phase`` is kept for callers."""
    goal = check.goal
    if check.metric == "agreement":
        return f"{check.metric} min={check.effective_min:g} goal={goal}"
    bound = "" if check.bound is None else f" bound={check.bound:g}"
    burst = "" if check.burst == 1 else f" burst={check.burst}"
    return f"{check.metric} margin={check.effective_margin:g}{bound}{burst} goal={goal}"
