"""PairedMeanTest: is the mean of paired differences above, below or away from a margin?

Data are per-request differences ``candidate - production`` (for latency, the log-ratio
``log(candidate / production)``; for a loss, the loss difference). The test is the
normal-mixture SPRT of Johari, Pekelis and Walsh (2017) with a plug-in variance and a
burn-in (see :mod:`shadowgate.stats.normal_mixture`). The plug-in is the i.i.d. sample
variance (``variance="iid"``, the default) or the dependence-robust long-run variance
(``variance="long-run"``, :mod:`shadowgate.stats.long_run`, what the rollout checks use:
per-request latencies are autocorrelated in production). A zero plug-in carries no
evidence; ``min_variance`` sets a floor for streams where a constant value is meaningful.

Hypotheses, with ``mu`` the mean difference:

- ``alternative="two-sided"``: H0 ``mu == margin``; rejecting means ``mu != margin``.
- ``alternative="greater"``: H0 ``mu <= margin``; rejecting means the candidate is
  **higher** than production by more than ``margin`` (for latency or loss: worse; use it
  as the *harm* test with ``margin`` = the tolerated degradation, often 0).
- ``alternative="less"``: H0 ``mu >= margin``; rejecting means the candidate is higher
  by **less** than ``margin`` (non-inferiority: the *pass* test, e.g.
  ``PairedMeanTest(margin=log(1.10), alternative="less")`` on latency log-ratios proves
  "less than 10 % slower").

Mixing rule: ``mde`` is the smallest effect (in data units) worth detecting; the prior
scale is ``tau = mde``, which makes the test sharpest near the fixed-horizon sample size
for that effect (m = tau^2 n / sigma^2 ~ 8 there, the optimum of the rejection boundary).
Without ``mde`` the prior scale follows the data, ``tau = 0.1 * sigma_hat``, which is
scale-free (works on milliseconds, seconds or log-ratios alike).
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

VARIANCES = ("iid", "long-run")


@dataclass(frozen=True)
class PairedMoments:
    """What every prefix of one batch says about the stream, whatever the hypothesis.

    Running count, sum and sum of squares (to continue from), mean, sample variance, the
    variance plug-in before any floor and, with the long-run plug-in, where the dependence
    burn-in is met (None without it). Tests of the same stream with the same history
    (the harm, pass and display tests of a check) share one of these.
    """

    n: FloatArray
    s: FloatArray
    ss: FloatArray
    mean: FloatArray
    var: FloatArray
    lrv: FloatArray
    dependence_ok: npt.NDArray[np.bool_] | None


def paired_moments(
    x: FloatArray,
    n0: FloatArray,
    s0: FloatArray,
    ss0: FloatArray,
    long_run: dict[str, Any] | None = None,
) -> PairedMoments:
    """The moments after every prefix of ``x`` (rows independent; offset as in the sums).

    With ``long_run`` (the state of :mod:`shadowgate.stats.long_run`, one row only, updated
    in place) the plug-in is the long-run variance.
    """
    n, s, ss = prefix_moments(x, n0, s0, ss0)
    mean, var = mean_var(n, s, ss)
    if long_run is None:
        return PairedMoments(n, s, ss, mean, var, var, None)
    lrv = long_run_var(x[0], n[0], s[0], ss[0], finite(var[0]), long_run)[None, :]
    # dependence burn-in: at least EFFECTIVE_N observations' worth of independent
    # information, n / tau_hat with tau_hat = long-run / i.i.d. variance
    with np.errstate(invalid="ignore", divide="ignore"):
        dep = (n >= MIN_BLOCKS * BASE_BLOCK) & ~(n * var < EFFECTIVE_N * lrv)
    return PairedMoments(n, s, ss, mean, var, lrv, dep)


def paired_log_e_from(mo: PairedMoments, **options: Unpack[KernelOptions]) -> FloatArray:
    """Log e-value after every prefix, from the moments, for one hypothesis.

    The variance plug-in is never below ``min_variance``. A prefix whose variance is zero
    carries no evidence (a constant stream cannot say how far its mean may wander), so it
    never yields a p-value of 0.
    """
    margin, mde, min_variance = options["margin"], options["mde"], options.get("min_variance", 0.0)
    ok = (mo.n >= options["burn_in"]) & np.isfinite(mo.var)
    if mo.dependence_ok is not None:
        ok &= mo.dependence_ok
    lrv = np.maximum(mo.lrv, min_variance)
    ok &= lrv > 0.0
    var_of_mean = lrv / mo.n
    delta = mo.mean + options["offset"] - margin
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        m = mixture_ratio(var_of_mean, np.maximum(mo.var, min_variance), mde)
        z = delta / np.sqrt(np.maximum(var_of_mean, 1e-300))
        log_e = log_e_normal_mixture(z, m, options["alternative"])
    out: FloatArray = evidence_where(ok, log_e)
    return out


def paired_log_e(
    x: FloatArray,
    n0: FloatArray,
    s0: FloatArray,
    ss0: FloatArray,
    *,
    long_run: dict[str, Any] | None = None,
    **options: Unpack[KernelOptions],
) -> tuple[FloatArray, FloatArray, FloatArray, FloatArray]:
    """Log e-value after every prefix of ``x`` (rows are independent streams).

    ``x`` holds observations minus ``offset`` (a constant per row that keeps the sum of
    squares well conditioned); returns ``(log_e, n, sum, sum_sq)``, the last three being
    the running sums to continue from. See :func:`paired_moments` and
    :func:`paired_log_e_from`, the two halves.
    """
    mo = paired_moments(x, n0, s0, ss0, long_run)
    log_e = paired_log_e_from(mo, **options)
    return log_e, mo.n, mo.s, mo.ss


def update_together(tests: Sequence[PairedMeanTest], differences: npt.ArrayLike) -> None:
    """Add the same differences to several tests, as ``t.update(differences)`` for each.

    Tests with the same history (count, offset, sums and long-run state: the harm, pass
    and display tests of one check) compute the moments and the long-run variance once;
    every result is bit-identical to updating each test on its own.
    """
    x = as_float_row(differences, "differences")
    if x.shape[1] == 0:
        return
    groups: list[list[PairedMeanTest]] = []
    for t in tests:
        for g in groups:
            if g[0]._same_history(t):
                g.append(t)
                break
        else:
            groups.append([t])
    for g in groups:
        lead = g[0]
        offset = float(x[0, 0]) if lead._n == 0 else lead._offset
        mo = paired_moments(
            x - offset,
            np.array([float(lead._n)]),
            np.array([lead._sum]),
            np.array([lead._sum_sq]),
            lead._long_run,
        )
        for t in g:
            if t is not lead and lead._long_run is not None:
                t._long_run = copy_state(lead._long_run)
            t._offset = offset
            t._take(mo, paired_log_e_from(mo, **t._kernel_options(offset)))


class PairedMeanTest(MixtureMeanTest):
    """Anytime-valid test and confidence sequence for the mean of paired differences.

    >>> t = PairedMeanTest(margin=0.0, alternative="greater")
    >>> t.update([0.1, -0.2, 0.3])
    >>> t.n, t.p_value
    (3, 1.0)
    """

    kind = "paired_mean"
    params = ("mde", "margin", "alternative", "burn_in", "variance", "min_variance")
    older_defaults = (("variance", "iid"), ("min_variance", 0.0))

    burn_in_unit = "(a variance needs 2 values)"

    def __init__(self, *, variance: str = "iid", **mixture: Unpack[MixtureParams]) -> None:
        super().__init__(**mixture)
        if variance not in VARIANCES:
            raise ValueError(f"variance must be one of {', '.join(VARIANCES)}; got {variance!r}")
        self.variance = variance
        self._long_run: dict[str, Any] | None = new_state() if variance == "long-run" else None
        self._n = 0
        self._offset = 0.0
        self._sum = 0.0
        self._sum_sq = 0.0

    def update(self, differences: npt.ArrayLike) -> None:
        """Add paired differences (candidate minus production) in arrival order."""
        update_together((self,), differences)

    def _same_history(self, other: PairedMeanTest) -> bool:
        """Whether ``other`` has seen exactly what this test has (so moments can be shared)."""
        return (
            self.variance == other.variance
            and self._n == other._n
            and self._offset == other._offset
            and self._sum == other._sum
            and self._sum_sq == other._sum_sq
            and self._long_run == other._long_run
        )

    def _take(self, mo: PairedMoments, log_e: FloatArray) -> None:
        self._n = int(mo.n[0, -1])
        self._sum = float(mo.s[0, -1])
        self._sum_sq = float(mo.ss[0, -1])
        self._advance(log_e)

    @property
    def n(self) -> int:
        return self._n

    @property
    def estimate(self) -> float:
        """Mean difference (NaN before data)."""
        if self._n == 0:
            return math.nan
        return self._offset + self._sum / self._n

    def _var(self) -> float:
        if self._n < 2:
            return math.nan
        mean = self._sum / self._n
        return max(self._sum_sq - self._sum * mean, 0.0) / (self._n - 1)

    def long_run_variance(self) -> float:
        """The variance plug-in per observation now (the sample variance for ``"iid"``)."""
        own = self._var() if self._long_run is None else float(self._long_run["lrv_now"])
        return max(own, self.min_variance)

    def confidence_interval(self, alpha: float = 0.05) -> tuple[float, float]:
        """Two-sided confidence sequence for the mean: covers it at every n w.p. >= 1 - alpha."""
        if self._n < self.burn_in:
            return (-math.inf, math.inf)
        var = self._var()
        var_of_mean = self.long_run_variance() / self._n
        return self._interval(self.estimate, var_of_mean, max(var, self.min_variance), alpha)

    def _dump_state(self) -> dict[str, Any]:
        return {
            "long_run": None if self._long_run is None else copy_state(self._long_run),
            "n": self._n,
            "offset": self._offset,
            "sum": self._sum,
            "sum_sq": self._sum_sq,
        }

    def _load_state(self, d: Mapping[str, Any]) -> None:
        if d.get("long_run") is not None:
            self._long_run = copy_state(d["long_run"])
        self._n = int(d["n"])
        self._offset = float(d["offset"])
        self._sum = float(d["sum"])
        self._sum_sq = float(d["sum_sq"])
