"""The judge's in-memory picture of one route's rollout, and what a commit stores of it.

The rollout state is stored once per commit, in ``detail`` with the split it implies
(``rollout.machine.to_detail``), where every replica's state sync reads it back; ``data``
holds what only the judge reads (test states, cursors' companions, the last decision).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from shadowgate.compare.kind_tally import KindTally
from shadowgate.compare.noise import NoiseFloor
from shadowgate.config.model import RouteConfig
from shadowgate.model.routing import Routing
from shadowgate.rollout.analysis import RouteAnalysis
from shadowgate.rollout.checks import CheckResult
from shadowgate.rollout.machine import RolloutState, State, is_final, routing_of, to_detail
from shadowgate.rollout.outage import OutageGate
from shadowgate.rollout.steering import Steering
from shadowgate.store.rows import JudgeState, LabeledOutcome, StoredOutcome


@dataclass
class RouteContext:
    """The judge's in-memory picture of one route's current rollout."""

    route: str
    rollout_id: str
    rollout: RolloutState
    analysis: RouteAnalysis
    started_at: float
    began_in_shadow: bool
    outcome_cursor: int = 0
    label_cursor: int = 0
    version: int = 0
    last_decision: dict[str, Any] | None = None
    pending_event: str | None = None  # e.g. waiting for confirm_promotion
    noise: NoiseFloor = field(default_factory=NoiseFloor)
    #: pairs whose outputs differ in kind (labels vs probabilities, shape, datatype)
    kinds: KindTally = field(default_factory=KindTally)
    #: labels that joined without fitting their outcome (posted before it), by reason
    labels_rejected: dict[str, int] = field(default_factory=dict)
    #: production failures: left out of the checks, and decisions paused while they last
    outage: OutageGate = field(default_factory=OutageGate)
    #: the split last committed (what every data plane applies); None before any commit
    committed: Routing | None = None
    #: the file's steering keys as last applied (an edit differs from them)
    steering: Steering | None = None
    #: canary outcomes with ``ts`` in this window are kept out of the sample-ratio check
    settle: tuple[float, float] | None = None
    #: the bake's own tests (reverse-shadow pairs since the promotion); kept when an edit
    #: pulls the promotion back, for the next bake of the rollout
    bake: RouteAnalysis | None = None
    #: seconds of the current bake during which the reference was failing (clock stopped)
    bake_stopped: float = 0.0
    #: the drift alarm last said while baking (``judge.baking``)
    bake_note: str | None = None
    #: when the current (or last) bake began: ``rollout.since`` is the next transition's
    #: time once the bake has ended
    bake_since: float | None = None

    @property
    def baking(self) -> bool:
        return self.rollout.state is State.BAKING

    def pair_targets(
        self, rows: Sequence[StoredOutcome]
    ) -> list[tuple[RouteAnalysis, Sequence[StoredOutcome]]]:
        """Which tests each outcome feeds: while baking, the bake's for outcomes recorded
        since it began (the reverse-shadow pairs), the rollout's for those recorded before
        the promotion and read after it; else the rollout's. The same rule as labels'
        (``label_targets``) and as the report's replay (``report.replay``)."""
        if self.bake is None or not self.baking:
            return [(self.analysis, rows)]
        since = self.rollout.since
        before = [o for o in rows if o.record.ts < since]
        return [(self.analysis, before), (self.bake, [o for o in rows if o.record.ts >= since])]

    @property
    def bake_evidence(self) -> bool:
        """Whether the bake's tests are the rollout's evidence now: while baking, and once a
        rollout has ended from its bake (reverted, made final, or by an operator)."""
        return self.bake is not None and (
            self.baking or ended_from_bake(self.rollout.state, self.last_decision)
        )

    def routing(self, route: RouteConfig) -> Routing:
        """The split this rollout's state implies under the route's config."""
        return routing_of(self.rollout, route, self.rollout_id)

    def results(self) -> list[CheckResult]:
        """Shadow results, plus canary results once the canary has data."""
        out = self.analysis.results("shadow")
        if self.analysis.canary != [0, 0]:
            out += self.analysis.results("canary")
        return out

    def to_state(self, route: RouteConfig, now: float) -> JudgeState:
        return JudgeState(
            state=self.rollout.state.value,
            data={
                "analysis": self.analysis.to_dict(),
                "started_at": self.started_at,
                "began_in_shadow": self.began_in_shadow,
                "last_decision": self.last_decision,
                # what holds a decision, for the status of processes whose judge does not act
                "pending": self.pending_event,
                "results": [r.to_dict() for r in self.results()],
                "noise": self.noise.to_dict(),
                "kinds": self.kinds.to_dict(),
                "labels_rejected": dict(self.labels_rejected),
                "outage": self.outage.to_dict(),
                "steering": self.steering.to_dict() if self.steering else None,
                "settle": list(self.settle) if self.settle else None,
                "bake": self.bake.to_dict() if self.bake is not None else None,
                "bake_stopped": self.bake_stopped,
                "bake_note": self.bake_note,
                "bake_since": self.bake_since,
            },
            detail=to_detail(self.rollout, self.routing(route)),
            outcome_cursor=self.outcome_cursor,
            label_cursor=self.label_cursor,
            version=self.version,
            updated_at=now,
        )

    def label_targets(
        self, rows: Sequence[LabeledOutcome]
    ) -> list[tuple[RouteAnalysis, Sequence[LabeledOutcome]]]:
        """Which tests each label feeds: while baking, the bake's for outcomes served since it
        began (``ts`` is among the identifying fields every read returns,
        ``codec.ALWAYS_READ``); else the rollout's (a pulled-back bake's late labels too:
        they are paired outcomes of the same two models)."""
        if self.bake is None or not self.baking:
            return [(self.analysis, rows)]
        since = self.rollout.since
        return [
            (self.analysis, [x for x in rows if x.outcome.record.ts < since]),
            (self.bake, [x for x in rows if x.outcome.record.ts >= since]),
        ]

    def release_labels(self, now: float) -> int:
        """Labels whose window has passed reach the checks (``analysis.label_window``)."""
        return sum(a.release_labels(now) for a in (self.analysis, self.bake) if a is not None)

    def status(self, route: RouteConfig) -> dict[str, Any]:
        """The route's decision status for /api/status."""
        ctx = self
        phase = "canary" if ctx.rollout.state is State.CANARY else "shadow"
        results = ctx.results()
        routing = ctx.routing(route)
        return {
            "rollout_id": ctx.rollout_id,
            "state": ctx.rollout.state.value,
            "step": ctx.rollout.step if ctx.rollout.state is State.CANARY else None,
            "phase": phase,
            "effective": {"mode": routing.mode, "weight": routing.weight, "mirror": routing.mirror},
            "samples": {
                "pairs": ctx.analysis.pairs,
                "labels": ctx.analysis.labels,
                "canary_production": ctx.analysis.canary[0],
                "canary_candidate": ctx.analysis.canary[1],
                "canary_labels": ctx.analysis.canary_labels,
                "label_window": ctx.analysis.label_window_status(),
                "labels_rejected": dict(ctx.labels_rejected),
            },
            "checks": [r.to_dict() for r in results],
            "srm_p_value": ctx.analysis.srm_p_value(),
            "noise_floor": ctx.noise.to_dict() if ctx.noise.pairs else None,
            "kind_mismatch": ctx.kinds.status(route.prediction.map_kinds),
            **ctx.outage.status(),
            "last_decision": ctx.last_decision,
            "pending": ctx.pending_event,
            "started_at": ctx.started_at,
            "bake": self._bake_status(route),
        }

    def _bake_status(self, route: RouteConfig) -> dict[str, Any] | None:
        if self.bake is None or not self.bake_evidence:
            return None
        outage_since = self.outage.since if self.outage.active and self.baking else None
        return bake_doc(
            route, self.rollout, self.bake, self.bake_since, self.bake_stopped, outage_since,
            self.bake_note,
        )  # fmt: skip


def ended_from_bake(state: State, last_decision: dict[str, Any] | None) -> bool:
    """Whether a rollout in ``state`` ended from its bake (its last transition left it)."""
    return is_final(state) and (last_decision or {}).get("from") == State.BAKING.value


def bake_doc(
    route: RouteConfig,
    rollout: RolloutState,
    bake: RouteAnalysis,
    since: float | None,
    stopped: float,
    outage_since: float | None,
    note: str | None,
) -> dict[str, Any]:
    """The bake's part of a route's status: its clock, its samples and its checks (each
    with phase ``bake``), while baking and once the rollout has ended from the bake."""
    cfg = route.after_promotion
    active = rollout.state is State.BAKING
    began = rollout.since if active or since is None else since
    return {
        "active": active,
        "since": began,
        # later by the seconds the reference was failing: the bake's clock stops then
        "ends_at": began + cfg.bake + stopped if cfg else None,
        "ended_at": None if active else rollout.since,
        "clock_stopped_seconds": stopped,
        "clock_stopped_since": outage_since,
        "min_samples": cfg.min_samples if cfg else None,
        "pairs": bake.pairs,
        "answered": bake.answered,
        "labels": bake.labels,
        "drift": note,
        "samples": {
            "pairs": bake.pairs,
            "answered": bake.answered,
            "labels": bake.labels,
            "label_window": bake.label_window_status(),
        },
        "checks": [{**r.to_dict(), "phase": "bake"} for r in bake.results("shadow")],
    }


def stored_bake(route: RouteConfig, saved: JudgeState) -> dict[str, Any] | None:
    """``bake_doc`` from a committed judge state (what a replica that does not judge shows)."""
    d = saved.data
    rollout_d = saved.detail.get("rollout") or d.get("rollout")
    if not d.get("bake") or not isinstance(rollout_d, dict):
        return None
    rollout = RolloutState.from_dict(rollout_d)
    if rollout.state is not State.BAKING and not ended_from_bake(
        rollout.state, d.get("last_decision")
    ):
        return None
    bake = RouteAnalysis.from_dict(route.analysis, d["bake"])
    since = d.get("bake_since")
    outage = OutageGate.from_dict(route.analysis.production_outage, d.get("outage") or {})
    outage_since = outage.since if outage.active and rollout.state is State.BAKING else None
    return bake_doc(
        route, rollout, bake, None if since is None else float(since),
        float(d.get("bake_stopped") or 0.0), outage_since, d.get("bake_note"),
    )  # fmt: skip
