"""CountShareTest: do events come from each variant in proportion to its traffic share?

Each event (an error, or a request for the sample-ratio-mismatch check) has an origin,
0 = production or 1 = candidate. With candidate traffic share ``rho`` and candidate-to-
production event-rate ratio ``r``, an event comes from the candidate with probability
``rho r / (rho r + 1 - rho)``; the null is ``r = 1`` (events follow the traffic split).

The e-process is a product of predictive ratios ``q_i(origin_i) / rho_i(origin_i)`` where
``q_i`` is a Dirichlet posterior predictive with concentration ``k`` (prior ``k * shares``).
While the shares stay fixed this is exactly the Dirichlet-multinomial Bayes factor of
Lindon & Malek and Lindon, Sanden & Shirikian (KDD 2022), as computed by ``savvi``'s
``Multinomial(alpha, theta_0, k)``. When the shares change (:meth:`set_shares`), the
predictive is re-expressed as a rate ratio estimated from past events with pseudo-counts
``k * rho`` on the current shares, then mapped through the new shares: it depends only on
the past and on the share known before the event, so the product stays a test martingale.

Hypotheses:

- ``"two-sided"``: H0 ``r == 1`` (any imbalance; use for sample-ratio mismatch).
- ``"greater"``: H0 ``r <= 1``; rejecting means the candidate produces **more** than its
  share of events (canary errors: *harm*). The predictive is clipped to ``q >= rho``,
  which keeps the product a supermartingale under every ``r <= 1``.
- ``"less"``: H0 ``r >= 1``; rejecting means the candidate produces fewer than its share.

``estimate`` is the rate ratio ``r`` (candidate events per unit share over production's)
and ``confidence_interval`` is a confidence sequence for ``r``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt
from scipy.optimize import brentq, minimize_scalar

from shadowgate.stats._core import (
    Alternative,
    EProcessReadout,
    FloatArray,
    check_alternative,
)

DEFAULT_K = 100.0
State = tuple[FloatArray, FloatArray, FloatArray, FloatArray]  # x0, x1, m0, m1


def count_share_log_e(
    origin: FloatArray,
    rho: FloatArray | float,
    state: State,
    *,
    k: float,
    alternative: Alternative,
    log_e0: FloatArray | None = None,
) -> tuple[FloatArray, State]:
    """Log e-value after every event; ``origin`` is 0/1 (rows independent), ``rho`` the
    candidate share in force for each event (broadcastable to ``origin``).

    Running sums start from the previous values (``state``, ``log_e0``) inside ``cumsum``
    so that a batch adds in the same order as one-by-one updates.
    """
    x0_0, x1_0, m0_0, m1_0 = state
    rows = origin.shape[0]
    rho_arr = np.broadcast_to(np.asarray(rho, dtype=np.float64), origin.shape)

    def run(start: FloatArray, values: FloatArray) -> FloatArray:
        joined = np.concatenate([start.reshape(rows, 1), values], axis=1)
        out: FloatArray = np.cumsum(joined, axis=1)
        return out

    # counts and null-expected counts before each event (column j = before event j)
    x1 = run(x1_0, origin)
    x0 = run(x0_0, 1.0 - origin)
    m1 = run(m1_0, rho_arr)
    m0 = run(m0_0, 1.0 - rho_arr)
    p1, p0 = k * rho_arr, k * (1.0 - rho_arr)
    a1 = rho_arr * (x1[:, :-1] + p1) / (m1[:, :-1] + p1)
    a0 = (1.0 - rho_arr) * (x0[:, :-1] + p0) / (m0[:, :-1] + p0)
    q1 = a1 / (a0 + a1)
    if alternative == "greater":
        q1 = np.maximum(q1, rho_arr)
    elif alternative == "less":
        q1 = np.minimum(q1, rho_arr)
    inc = np.where(origin > 0, np.log(q1 / rho_arr), np.log((1.0 - q1) / (1.0 - rho_arr)))
    start = np.zeros(rows) if log_e0 is None else log_e0
    log_e = run(start, inc)[:, 1:]
    return log_e, (x0[:, -1], x1[:, -1], m0[:, -1], m1[:, -1])


def _check_shares(shares: Sequence[float]) -> tuple[float, float]:
    if len(shares) != 2:
        raise ValueError(f"shares must be (production, candidate); got {len(shares)} values")
    s0, s1 = (float(s) for s in shares)
    if not (0.0 < s0 < 1.0 and 0.0 < s1 < 1.0 and abs(s0 + s1 - 1.0) < 1e-9):
        raise ValueError(f"shares must be two numbers in (0, 1) summing to 1; got {shares!r}")
    return s0, s1


class CountShareTest(EProcessReadout):
    """Anytime-valid test that event origins follow the traffic shares."""

    kind = "count_share"
    params = ("shares", "k", "alternative")

    def __init__(
        self,
        *,
        shares: Sequence[float] = (0.9, 0.1),
        k: float = DEFAULT_K,
        alternative: str = "two-sided",
    ) -> None:
        if not k > 0:
            raise ValueError(f"k (prior concentration) must be positive; got {k!r}")
        self.shares = _check_shares(shares)
        self.k = float(k)
        self.alternative: Alternative = check_alternative(alternative)
        self._state = [0.0, 0.0, 0.0, 0.0]  # x0, x1, m0, m1
        self._groups: dict[float, list[float]] = {}  # candidate share -> [x0, x1]
        self._log_e = 0.0
        self._max_log_e = 0.0
        self._log_e_two_sided = 0.0  # unclipped predictive, for the confidence sequence

    def set_shares(self, shares: Sequence[float]) -> None:
        """Traffic shares in force for the events that follow (e.g. a new canary weight)."""
        self.shares = _check_shares(shares)

    def update(self, variants: npt.ArrayLike) -> None:
        """Add event origins (0 = production, 1 = candidate) in arrival order."""
        v = np.asarray(variants, dtype=np.float64).reshape(1, -1)
        if v.shape[1] == 0:
            return
        if not np.all((v == 0) | (v == 1)):
            raise ValueError("variants must be 0 (production) or 1 (candidate)")
        rho = self.shares[1]
        x0, x1, m0, m1 = (np.array([s]) for s in self._state)
        st: State = (x0, x1, m0, m1)
        log_e, new = count_share_log_e(
            v, rho, st, k=self.k, alternative=self.alternative, log_e0=np.array([self._log_e])
        )
        if self.alternative == "two-sided":
            self._log_e_two_sided = float(log_e[0, -1])
        else:
            two, _ = count_share_log_e(
                v,
                rho,
                st,
                k=self.k,
                alternative="two-sided",
                log_e0=np.array([self._log_e_two_sided]),
            )
            self._log_e_two_sided = float(two[0, -1])
        self._advance(log_e)
        self._state = [float(s[0]) for s in new]
        ones = float(v.sum())
        g = self._groups.setdefault(rho, [0.0, 0.0])
        g[0] += v.shape[1] - ones
        g[1] += ones

    @property
    def n(self) -> int:
        return int(self._state[0] + self._state[1])

    @property
    def counts(self) -> tuple[int, int]:
        return int(self._state[0]), int(self._state[1])

    @property
    def estimate(self) -> float:
        """Rate ratio r: candidate events per unit of traffic share over production's."""
        x0, x1, m0, m1 = self._state
        if x0 + x1 == 0:
            return math.nan
        if x0 == 0:
            return math.inf
        return (x1 / m1) / (x0 / m0)

    def _log_lik(self, log_r: float) -> float:
        total = 0.0
        for rho, (x0, x1) in self._groups.items():
            denom = math.log(rho * math.exp(log_r) + 1.0 - rho)
            total += x1 * (math.log(rho) + log_r - denom) + x0 * (math.log1p(-rho) - denom)
        return total

    def confidence_interval(self, alpha: float = 0.05) -> tuple[float, float]:
        """Confidence sequence for the rate ratio r (covers it at every n w.p. >= 1 - alpha)."""
        x0, x1 = self._state[0], self._state[1]
        if x0 + x1 == 0:
            return (0.0, math.inf)
        # log E(r) = log E(1) + L(1) - L(r): the same predictive against another null r
        level = self._log_e_two_sided + self._log_lik(0.0) - math.log(1.0 / alpha)

        def f(u: float) -> float:
            return self._log_lik(u) - level

        lim = 40.0
        best = minimize_scalar(lambda u: -self._log_lik(u), bounds=(-lim, lim), method="bounded")
        u_hat = float(best.x)
        lo = 0.0 if x1 == 0 or f(-lim) >= 0 else math.exp(brentq(f, -lim, u_hat))
        hi = math.inf if x0 == 0 or f(lim) >= 0 else math.exp(brentq(f, u_hat, lim))
        return (lo, hi)

    def _dump_state(self) -> dict[str, Any]:
        return {
            "state": list(self._state),
            "groups": [[rho, *xs] for rho, xs in self._groups.items()],
            "log_e_two_sided": self._log_e_two_sided,
        }

    def _load_state(self, d: Mapping[str, Any]) -> None:
        self._state = [float(s) for s in d["state"]]
        self._groups = {float(g[0]): [float(g[1]), float(g[2])] for g in d["groups"]}
        self._log_e_two_sided = float(d["log_e_two_sided"])
