"""BoundedMeanCS: confidence sequence for the mean of values in [0, 1], with a threshold test.

For agreement rates, accuracies, or any per-request score in [0, 1]. The method is the
predictable-plug-in empirical-Bernstein (PrPl-EB) confidence sequence of Waudby-Smith &
Ramdas (2023, JRSS-B, Theorem 2): for every candidate mean ``m``,

    M_t(m) = exp( sum_i lambda_i (X_i - m) - sum_i v_i psi_E(lambda_i) ),
    v_i = 4 (X_i - mu_hat_{i-1})^2,   psi_E(l) = (-log(1 - l) - l) / 4,

is a nonnegative supermartingale when the true mean is ``m``, for any predictable bets
``lambda_i`` in [0, 1). The bets follow the paper's tuning
``lambda_t = min(sqrt(2 log(2/alpha) / (sigma_hat_{t-1}^2 t log(1 + t))), 1/2)`` at the
design ``alpha``; a confidence interval at any other alpha is still valid, only less tight.
No distributional assumption beyond boundedness: it is exact, not asymptotic.

Test against ``threshold`` (``p_value`` is 1.0 when no threshold is set):

- ``"greater"``: H0 ``mean <= threshold``; rejecting proves the mean is above it (e.g.
  ``BoundedMeanCS(threshold=0.9, alternative="greater")``: agreement above 90 % -> *pass*).
  The e-process is ``M_t(threshold)``, a supermartingale under every mean <= threshold.
- ``"less"``: H0 ``mean >= threshold``; rejecting proves the mean is below it (*harm*).
- ``"two-sided"``: H0 ``mean == threshold``; e-process ``(M_t^+ + M_t^-) / 2``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from shadowgate.stats._core import (
    Alternative,
    EProcessReadout,
    FloatArray,
    as_float_row,
    check_alpha,
    check_alternative,
)

MAX_BET = 0.5
BETS = ("eb", "grapa")
#: fraction of the largest bet that keeps wealth nonnegative (grapa)
GRAPA_CAP = 0.9
# t, sum x, sum (x - mu_hat)^2, sum lambda, sum lambda x, sum v psi(lambda)
State = tuple[FloatArray, FloatArray, FloatArray, FloatArray, FloatArray, FloatArray]


@dataclass(frozen=True)
class BoundedMoments:
    """What the bets of every alpha share after each prefix: the count, the running sums
    (with the state before the batch first), and the predictable mean and variance."""

    t: FloatArray
    sx: FloatArray  # (rows, n + 1): the sum before the batch, then after each value
    sq: FloatArray  # (rows, n + 1), as sx
    dev2: FloatArray  # (x_i - mu_hat_{i-1})^2
    var_prev: FloatArray
    log1p_t: FloatArray


def bounded_moments(
    x: FloatArray, t0: FloatArray, sx0: FloatArray, sq0: FloatArray
) -> BoundedMoments:
    """The alpha-free part of :func:`bounded_prefix` (tests with the same history share it)."""
    n = x.shape[1]
    t = t0[:, None] + np.arange(1, n + 1, dtype=np.float64)[None, :]
    sx = _run_rows(sx0, x)
    mu_prev = (0.5 + sx[:, :-1]) / t  # mu_hat_{t-1} = (1/2 + sum_{i<t} x_i) / t
    mu_now = (0.5 + sx[:, 1:]) / (t + 1.0)
    sq = _run_rows(sq0, (x - mu_now) ** 2)
    var_prev = (0.25 + sq[:, :-1]) / t
    return BoundedMoments(t, sx, sq, (x - mu_prev) ** 2, var_prev, np.log1p(t))


def _run_rows(start: FloatArray, values: FloatArray) -> FloatArray:
    out: FloatArray = np.cumsum(np.concatenate([start.reshape(-1, 1), values], 1), 1)
    return out


def bounded_bets(
    x: FloatArray,
    mo: BoundedMoments,
    sl0: FloatArray,
    slx0: FloatArray,
    svp0: FloatArray,
    *,
    alpha: float,
) -> tuple[State, State]:
    """Running sums after every prefix (each a (rows, n) array) and the final state."""
    rows, n = x.shape
    lam = np.minimum(
        np.sqrt(2.0 * math.log(2.0 / alpha) / (mo.var_prev * mo.t * mo.log1p_t)), MAX_BET
    )
    # the three betting sums in one running sum (each row still adds left to right)
    bets = np.empty((3, rows, n + 1))
    bets[0, :, 0], bets[1, :, 0], bets[2, :, 0] = sl0, slx0, svp0
    bets[0, :, 1:] = lam
    np.multiply(lam, x, out=bets[1, :, 1:])
    bets[2, :, 1:] = mo.dev2 * (-np.log1p(-lam) - lam)
    sl, slx, svp = np.cumsum(bets, axis=2)
    prefix = (mo.t, mo.sx[:, 1:], mo.sq[:, 1:], sl[:, 1:], slx[:, 1:], svp[:, 1:])
    final = tuple(a[:, -1] for a in prefix)
    return prefix, final  # type: ignore[return-value]


def bounded_prefix(x: FloatArray, state: State, *, alpha: float) -> tuple[State, State]:
    """Running sums after every prefix (each a (rows, n) array) and the final state."""
    t0, sx0, sq0, sl0, slx0, svp0 = state
    return bounded_bets(x, bounded_moments(x, t0, sx0, sq0), sl0, slx0, svp0, alpha=alpha)


def update_together(tests: Sequence[BoundedMeanCS], values: npt.ArrayLike) -> None:
    """Add the same values to several tests, as ``t.update(values)`` for each.

    Tests with the same history (count, sum and squared deviations: the pass and display
    tests of a check, whatever their alpha or bets) compute the predictable mean and
    variance once; every result is bit-identical to updating each test on its own.
    """
    x = as_float_row(values, "values")
    if x.shape[1] == 0:
        return
    if np.any((x < 0.0) | (x > 1.0)):
        raise ValueError("values must lie in [0, 1]; rescale bounded scores first")
    shared: dict[tuple[float, float, float], BoundedMoments] = {}
    for t in tests:
        key = (t._state[0], t._state[1], t._state[2])
        mo = shared.get(key)
        if mo is None:
            mo = shared[key] = bounded_moments(x, *(np.array([v]) for v in key))
        t._take(x, mo)


def bounded_log_e(
    sum_lam: FloatArray,
    sum_lam_x: FloatArray,
    sum_vpsi: FloatArray,
    *,
    threshold: float,
    alternative: Alternative,
) -> FloatArray:
    """Log e-value of the threshold test from the betting sums (any shape)."""
    up: FloatArray = sum_lam_x - threshold * sum_lam - sum_vpsi
    if alternative == "greater":
        return up
    down: FloatArray = threshold * sum_lam - sum_lam_x - sum_vpsi
    if alternative == "less":
        return down
    out: FloatArray = np.logaddexp(up, down) - math.log(2.0)
    return out


def grapa_log_wealth(
    x: FloatArray,
    prefix: State,
    start: tuple[float, float, float, float, float],
    *,
    threshold: float,
) -> tuple[FloatArray, FloatArray]:
    """Log wealth of the two bettors against ``mean == threshold``, after every prefix.

    aGRAPA bets (Waudby-Smith & Ramdas 2023, section 5.1): ``lambda_t`` = clip of
    ``(mu_hat - t) / (sigma_hat^2 + (mu_hat - t)^2)`` from the data before ``t`` only, so
    the wealth ``prod (1 + lambda_i (x_i - t))`` is a nonnegative martingale under a mean
    of ``t`` (a supermartingale on the null side): exact for bounded data, and the bet
    grows as large as the data allow when the stream is nearly constant (rare errors).
    ``start`` = (t, sum x, sum sq) before the batch, as in ``bounded_prefix``, then the
    two log wealths to continue from.
    """
    t_all, sx, sq = prefix[0][0], prefix[1][0], prefix[2][0]
    t_prev = t_all  # mu_hat_{t-1} uses t values (prior 1/2 counted once)
    sx_prev = np.concatenate([[start[1]], sx[:-1]])
    sq_prev = np.concatenate([[start[2]], sq[:-1]])
    mu = (0.5 + sx_prev) / t_prev
    var = (0.25 + sq_prev) / t_prev
    gap = mu - threshold
    raw = gap / (var + gap * gap)
    cap_up = GRAPA_CAP / max(threshold, 1e-12)
    cap_down = GRAPA_CAP / max(1.0 - threshold, 1e-12)
    lam_up = np.clip(raw, 0.0, cap_up)
    lam_down = np.clip(-raw, 0.0, cap_down)
    with np.errstate(divide="ignore"):
        inc_up = np.log1p(lam_up * (x[0] - threshold))
        inc_down = np.log1p(lam_down * (threshold - x[0]))
    # the previous wealth goes first, so a batch adds in the order one-by-one updates do
    up: FloatArray = np.cumsum(np.concatenate([[start[3]], inc_up]))[1:]
    down: FloatArray = np.cumsum(np.concatenate([[start[4]], inc_down]))[1:]
    return up, down


class BoundedMeanCS(EProcessReadout):
    """Anytime-valid confidence sequence for a mean in [0, 1], optionally tested vs a threshold."""

    kind = "bounded_mean"
    params = ("threshold", "alternative", "alpha", "bets")
    older_defaults = (("bets", "eb"),)

    def __init__(
        self,
        *,
        threshold: float | None = None,
        alternative: str = "two-sided",
        alpha: float = 0.05,
        bets: str = "eb",
    ) -> None:
        if bets not in BETS:
            raise ValueError(f"bets must be one of {', '.join(BETS)}; got {bets!r}")
        if threshold is not None and not 0.0 <= threshold <= 1.0:
            raise ValueError(f"threshold must be in [0, 1]; got {threshold!r}")
        self.threshold = None if threshold is None else float(threshold)
        self.alternative: Alternative = check_alternative(alternative)
        self.alpha = check_alpha(alpha)
        self.bets = bets
        self._wealth = [0.0, 0.0]  # grapa: log wealth of the "greater" and "less" bettors
        self._state = [0.0] * 6
        self._log_e = 0.0
        self._max_log_e = 0.0

    def update(self, values: npt.ArrayLike) -> None:
        """Add values in [0, 1] in arrival order."""
        update_together((self,), values)

    def _take(self, x: FloatArray, mo: BoundedMoments) -> None:
        sl0, slx0, svp0 = (np.array([v]) for v in self._state[3:])
        prefix, final = bounded_bets(x, mo, sl0, slx0, svp0, alpha=self.alpha)
        before = self._state
        self._state = [float(a[0]) for a in final]
        if self.threshold is not None and self.bets == "grapa":
            start = (before[0], before[1], before[2], self._wealth[0], self._wealth[1])
            w_up, w_down = grapa_log_wealth(x, prefix, start, threshold=self.threshold)
            up, down = w_up[None, :], w_down[None, :]
            self._wealth = [float(up[0, -1]), float(down[0, -1])]
            if self.alternative == "greater":
                log_e = up
            elif self.alternative == "less":
                log_e = down
            else:
                log_e = np.logaddexp(up, down) - math.log(2.0)
            self._advance(log_e)
        elif self.threshold is not None:
            log_e = bounded_log_e(
                prefix[3],
                prefix[4],
                prefix[5],
                threshold=self.threshold,
                alternative=self.alternative,
            )
            self._advance(log_e)

    @property
    def n(self) -> int:
        return int(self._state[0])

    @property
    def estimate(self) -> float:
        """Sample mean (NaN before data)."""
        return self._state[1] / self._state[0] if self._state[0] else math.nan

    def confidence_interval(self, alpha: float = 0.05) -> tuple[float, float]:
        """Two-sided confidence sequence: covers the mean at every n w.p. >= 1 - alpha."""
        _, _, _, sl, slx, svp = self._state
        if sl <= 0.0:
            return (0.0, 1.0)
        radius = math.log(2.0 / check_alpha(alpha))
        lo = (slx - svp - radius) / sl
        hi = (slx + svp + radius) / sl
        return (max(lo, 0.0), min(hi, 1.0))

    def _dump_state(self) -> dict[str, Any]:
        return {"wealth": list(self._wealth), "state": list(self._state)}

    def _load_state(self, d: Mapping[str, Any]) -> None:
        self._wealth = [float(w) for w in d.get("wealth", [0.0, 0.0])]
        self._state = [float(s) for s in d["state"]]
