"""TwoSampleMeanTest: difference of two unpaired means (canary latency, conversion).

Observations arrive with a group label (0 = production, 1 = candidate) in any proportion,
which may change mid-run. The effect is ``mean_1 - mean_0`` and the test is the
normal-mixture SPRT on it, with the squared standard error ``V = s_1^2/n_1 + s_0^2/n_0``
(Welch plug-in) and a burn-in of ``burn_in`` observations per group (see
:mod:`shadowgate.stats.normal_mixture`). Use log latencies, not raw ones: the mixture relies
on the mean being close to normal.

Hypotheses, with ``d = mean_1 - mean_0``:

- ``"two-sided"``: H0 ``d == margin``.
- ``"greater"``: H0 ``d <= margin``; rejecting means the candidate is higher by more than
  ``margin`` (harm, for latency or loss).
- ``"less"``: H0 ``d >= margin``; rejecting means the candidate is higher by less than
  ``margin`` (non-inferiority pass).

Mixing rule as for PairedMeanTest: ``tau = mde`` in data units, else
``tau = 0.1 * sqrt((s_0^2 + s_1^2) / 2)`` (scale-free).

With ``variance="long-run"`` (what the canary checks use) each group's plug-in is the
long-run variance of that group's own observations in arrival order
(:mod:`shadowgate.stats.long_run`), so errors in bursts or a load that drifts make the
standard error of each mean honest; as for :class:`PairedMeanTest`, each group needs
``EFFECTIVE_N`` observations' worth of independent information before it counts.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Unpack

import numpy as np
import numpy.typing as npt

from shadowgate.stats._core import (
    FloatArray,
    as_float_row,
    evidence_where,
    finite,
)
from shadowgate.stats.long_run import (
    BASE_BLOCK,
    EFFECTIVE_N,
    MIN_BLOCKS,
    copy_state,
    long_run_var,
    new_state,
)
from shadowgate.stats.mixture_test import KernelOptions, MixtureMeanTest, MixtureParams
from shadowgate.stats.normal_mixture import (
    log_e_normal_mixture,
    mean_var,
    mixture_ratio,
    prefix_moments,
)

State = tuple[FloatArray, FloatArray, FloatArray]
VARIANCES = ("iid", "long-run")


@dataclass(frozen=True)
class TwoSampleMoments:
    """What every prefix of one batch says about both groups, whatever the hypothesis:
    each group's running count, sum and sum of squares, mean, sample variance and
    variance plug-in (before any floor), and where the dependence burn-in is met (None
    without the long-run plug-in). Tests with the same history share one of these."""

    n0: FloatArray
    s0: FloatArray
    ss0: FloatArray
    n1: FloatArray
    s1: FloatArray
    ss1: FloatArray
    mean0: FloatArray
    var0: FloatArray
    mean1: FloatArray
    var1: FloatArray
    plug0: FloatArray
    plug1: FloatArray
    dependence_ok: npt.NDArray[np.bool_] | None

    def states(self) -> tuple[State, State]:
        """Each group's (n, sum, sum_sq) after the batch, to continue from."""
        return (
            (self.n0[:, -1], self.s0[:, -1], self.ss0[:, -1]),
            (self.n1[:, -1], self.s1[:, -1], self.ss1[:, -1]),
        )


def two_sample_moments(
    x: FloatArray,
    group1: npt.NDArray[np.bool_],
    state0: State,
    state1: State,
    long_run: tuple[dict[str, Any], dict[str, Any]] | None = None,
) -> TwoSampleMoments:
    """The moments after every prefix (rows independent). With ``long_run`` (one state of
    :mod:`shadowgate.stats.long_run` per group, one row only, updated in place) the
    plug-ins are the groups' long-run variances."""
    g1 = group1.astype(np.float64)
    g0 = 1.0 - g1
    n0, s0, ss0 = _group_prefix(x, g0, state0)
    n1, s1, ss1 = _group_prefix(x, g1, state1)
    mean0, var0 = mean_var(n0, s0, ss0)
    mean1, var1 = mean_var(n1, s1, ss1)
    plug0, plug1, dep = var0, var1, None
    if long_run is not None:
        if x.shape[0] != 1:
            raise ValueError("the long-run variance follows one stream: one row only")
        plug0, dep0 = _group_long_run(x[0], ~group1[0], state0, n0, var0, long_run[0])
        plug1, dep1 = _group_long_run(x[0], group1[0], state1, n1, var1, long_run[1])
        dep = dep0 & dep1
    return TwoSampleMoments(n0, s0, ss0, n1, s1, ss1, mean0, var0, mean1, var1, plug0, plug1, dep)


def two_sample_log_e_from(mo: TwoSampleMoments, **options: Unpack[KernelOptions]) -> FloatArray:
    """Log e-value after every prefix, from the moments, for one hypothesis.

    Each group's variance plug-in is never below ``min_variance`` (a floor for 0/1 data,
    where both groups may be constant: a candidate failing every request).
    """
    margin, mde, min_variance = options["margin"], options["mde"], options.get("min_variance", 0.0)
    var0, var1, plug0, plug1 = mo.var0, mo.var1, mo.plug0, mo.plug1
    if min_variance > 0.0:
        var0, var1 = np.maximum(var0, min_variance), np.maximum(var1, min_variance)
        plug0, plug1 = np.maximum(plug0, min_variance), np.maximum(plug1, min_variance)
    n0, n1 = mo.n0, mo.n1
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        var_of_diff = plug0 / n0 + plug1 / n1
        delta = mo.mean1 - mo.mean0 - margin
        m = mixture_ratio(var_of_diff, 0.5 * (var0 + var1), mde)
        z = delta / np.sqrt(np.maximum(var_of_diff, 1e-300))
        log_e = log_e_normal_mixture(z, m, options["alternative"])
    # the common offset cancels in the difference of means
    # a zero variance says nothing about how far the means may wander: no evidence
    ok = (np.minimum(n0, n1) >= options["burn_in"]) & np.isfinite(var_of_diff) & (var_of_diff > 0.0)
    if mo.dependence_ok is not None:
        ok &= mo.dependence_ok
    out: FloatArray = evidence_where(ok, log_e)
    return out


def two_sample_log_e(
    x: FloatArray,
    group1: npt.NDArray[np.bool_],
    state0: State,
    state1: State,
    long_run: tuple[dict[str, Any], dict[str, Any]] | None = None,
    **options: Unpack[KernelOptions],
) -> tuple[FloatArray, State, State]:
    """Log e-value after every prefix; ``state`` = (n, sum, sum_sq) per group, rows independent."""
    mo = two_sample_moments(x, group1, state0, state1, long_run)
    s0, s1 = mo.states()
    return two_sample_log_e_from(mo, **options), s0, s1


def update_together(
    tests: Sequence[TwoSampleMeanTest], values: npt.ArrayLike, groups: npt.ArrayLike
) -> None:
    """Add the same observations to several tests, as ``t.update(values, groups)`` for each.

    Tests with the same history (per-group sums, offset and long-run states: the harm,
    pass and display tests of one canary check) compute the moments and the long-run
    variances once; every result is bit-identical to updating each test on its own.
    """
    x = as_float_row(values, "values")
    g = np.asarray(groups).reshape(1, -1)
    if g.shape != x.shape:
        raise ValueError(f"values and groups differ in length: {x.shape[1]} != {g.shape[1]}")
    if x.shape[1] == 0:
        return
    if not np.all((g == 0) | (g == 1)):
        raise ValueError("groups must be 0 (production) or 1 (candidate)")
    alike: list[list[TwoSampleMeanTest]] = []
    for t in tests:
        for a in alike:
            if a[0]._same_history(t):
                a.append(t)
                break
        else:
            alike.append([t])
    for a in alike:
        lead = a[0]
        offset = float(x[0, 0]) if lead._offset is None else lead._offset
        st = [tuple(np.array([v]) for v in lead._stats[i]) for i in (0, 1)]
        lr = None if lead._long_run is None else (lead._long_run[0], lead._long_run[1])
        mo = two_sample_moments(x - offset, g == 1, st[0], st[1], lr)  # type: ignore[arg-type]
        s0, s1 = mo.states()
        for t in a:
            if t is not lead and lead._long_run is not None:
                t._long_run = [copy_state(s) for s in lead._long_run]
            t._offset = offset
            t._stats = [[float(v[0]) for v in s0], [float(v[0]) for v in s1]]
            t._advance(two_sample_log_e_from(mo, **t._kernel_options(offset)))


def _group_long_run(
    x: FloatArray,
    mine: npt.NDArray[np.bool_],
    before: State,
    n: FloatArray,
    var: FloatArray,
    st: dict[str, Any],
) -> tuple[FloatArray, npt.NDArray[np.bool_]]:
    """One group's long-run variance at every prefix of the batch, and where its
    dependence burn-in is met. The group's values go through the long-run state in their
    own order; positions before its first value in the batch hold the value before it."""
    held = float(st["lrv_now"])
    sub = x[mine]
    lrv = np.full(x.shape[0], held)
    if sub.size:
        ns, ss_, sqs = prefix_moments(sub[None, :], before[0], before[1], before[2])
        _, var_sub = mean_var(ns, ss_, sqs)
        own = long_run_var(sub, ns[0], ss_[0], sqs[0], finite(var_sub[0]), st)
        at = np.cumsum(mine) - 1  # the group's last value at or before each position
        lrv = np.where(at >= 0, own[np.maximum(at, 0)], held)
    plug = np.maximum(lrv, np.where(np.isfinite(var[0]), var[0], 0.0))[None, :]
    with np.errstate(invalid="ignore"):
        dep = (n >= MIN_BLOCKS * BASE_BLOCK) & ~(n * var < EFFECTIVE_N * plug)
    return plug, dep


def _group_prefix(x: FloatArray, w: FloatArray, state: State) -> State:
    n_prev, s_prev, ss_prev = state
    _, s, ss = prefix_moments(x * w, np.zeros_like(n_prev), s_prev, ss_prev)
    # prefix_moments squares x*w; w is 0/1 so (x*w)^2 == x^2 * w
    n = n_prev[:, None] + np.cumsum(w, axis=1)
    return n, s, ss


class TwoSampleMeanTest(MixtureMeanTest):
    """Anytime-valid test and confidence sequence for ``mean(candidate) - mean(production)``."""

    kind = "two_sample_mean"
    params = ("mde", "margin", "alternative", "burn_in", "min_variance", "variance")
    older_defaults = (("min_variance", 0.0), ("variance", "iid"))

    burn_in_unit = "per group"

    def __init__(self, *, variance: str = "iid", **mixture: Unpack[MixtureParams]) -> None:
        super().__init__(**mixture)
        if variance not in VARIANCES:
            raise ValueError(f"variance must be one of {', '.join(VARIANCES)}; got {variance!r}")
        self.variance = variance
        self._long_run: list[dict[str, Any]] | None = (
            [new_state(), new_state()] if variance == "long-run" else None
        )
        self._offset: float | None = None
        self._stats = [[0.0, 0.0, 0.0], [0.0, 0.0, 0.0]]  # per group: n, sum, sum_sq

    def update(self, values: npt.ArrayLike, groups: npt.ArrayLike) -> None:
        """Add observations with their groups (0 = production, 1 = candidate)."""
        update_together((self,), values, groups)

    def _same_history(self, other: TwoSampleMeanTest) -> bool:
        """Whether ``other`` has seen exactly what this test has (so moments can be shared)."""
        return (
            self.variance == other.variance
            and self._offset == other._offset
            and self._stats == other._stats
            and self._long_run == other._long_run
        )

    @property
    def n(self) -> int:
        return int(self._stats[0][0] + self._stats[1][0])

    @property
    def n_per_group(self) -> tuple[int, int]:
        return int(self._stats[0][0]), int(self._stats[1][0])

    def _moments(self, i: int) -> tuple[float, float]:
        n, s, ss = self._stats[i]
        if n == 0:
            return math.nan, math.nan
        mean = s / n
        var = max(ss - s * mean, 0.0) / (n - 1) if n >= 2 else math.nan
        return mean, var

    @property
    def estimate(self) -> float:
        """mean(candidate) - mean(production) (NaN until both groups have data)."""
        return self._moments(1)[0] - self._moments(0)[0]

    def confidence_interval(self, alpha: float = 0.05) -> tuple[float, float]:
        """Two-sided confidence sequence for the difference of means."""
        if min(self.n_per_group) < self.burn_in:
            return (-math.inf, math.inf)
        (_, v0), (_, v1) = self._moments(0), self._moments(1)
        p0, p1 = self.plug_in(0), self.plug_in(1)
        var_of_diff = p0 / self._stats[0][0] + p1 / self._stats[1][0]
        return self._interval(self.estimate, var_of_diff, 0.5 * (v0 + v1), alpha)

    def plug_in(self, group: int) -> float:
        """The variance plug-in of one group now (its sample variance for ``"iid"``)."""
        var = self._moments(group)[1]
        if self._long_run is None or math.isnan(var):
            return var
        return max(var, float(self._long_run[group]["lrv_now"]))

    def to_dict(self) -> dict[str, Any]:
        d = super().to_dict()
        if self._long_run is None:  # the i.i.d. state keeps the format it had before
            del d["variance"]
        return d

    def _dump_state(self) -> dict[str, Any]:
        d: dict[str, Any] = {"offset": self._offset, "groups": [list(s) for s in self._stats]}
        if self._long_run is not None:
            d["long_run"] = [copy_state(s) for s in self._long_run]
        return d

    def _load_state(self, d: Mapping[str, Any]) -> None:
        if d.get("long_run") is not None:
            self._long_run = [copy_state(s) for s in d["long_run"]]
        self._offset = None if d["offset"] is None else float(d["offset"])
        self._stats = [[float(v) for v in s] for s in d["groups"]]
