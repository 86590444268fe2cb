"""SignTest: is P(+1) among non-tied paired signs equal to ``p0``?

Typical use is the discordant pairs of an error check in shadow mode: ``+1`` = only the
candidate failed, ``-1`` = only production failed, ``0`` = both or neither (a tie, ignored).
With ``S`` plus signs and ``F`` minus signs, the e-process is the beta-binomial Bayes factor

    E = B(a + S, b + F) / B(a, b) / (p0^S (1 - p0)^F),     a = k p0, b = k (1 - p0),

a mixture martingale of Bernoulli likelihood ratios over the prior ``p ~ Beta(a, b)``.

Hypotheses, with ``p = P(+1 | not tied)``:

- ``"two-sided"``: H0 ``p == p0``.
- ``"greater"``: H0 ``p <= p0``; rejecting means +1 is more frequent than ``p0`` (for the
  error encoding above: the candidate fails more often -> *harm*). The prior is truncated
  to ``p > p0``; every such likelihood ratio is a supermartingale for all ``p <= p0``.
- ``"less"``: H0 ``p >= p0``; rejecting means +1 is less frequent than ``p0`` (prior
  truncated to ``p < p0``). A non-inferiority *pass* test sets ``p0`` above 1/2 at the
  discordance share that corresponds to the tolerated margin.

Mixing rule: the prior standard deviation equals ``mde`` (the smallest shift of ``p`` worth
detecting): ``k = p0 (1 - p0) / mde^2 - 1``; default ``mde = 0.1`` (``k = 24`` at 1/2).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import numpy.typing as npt
from scipy.optimize import brentq
from scipy.special import betainc, betaincc, betaln

from shadowgate.stats._core import (
    Alternative,
    EProcessReadout,
    FloatArray,
    check_alternative,
)

DEFAULT_SIGN_MDE = 0.1


def sign_prior(p0: float, mde: float) -> tuple[float, float]:
    k = max(p0 * (1.0 - p0) / (mde * mde) - 1.0, 1.0)
    return k * p0, k * (1.0 - p0)


def sign_log_e(
    signs: FloatArray,
    plus0: FloatArray,
    minus0: FloatArray,
    *,
    p0: float,
    a: float,
    b: float,
    alternative: Alternative,
    tail0: FloatArray | None = None,
) -> tuple[FloatArray, FloatArray, FloatArray, FloatArray]:
    """Log e-value after every sign (rows independent), continuing from earlier counts.

    For one-sided tests the posterior mass on the alternative side, ``P(p > p0 | data)``
    (``"greater"``) or ``P(p < p0 | data)`` (``"less"``), is carried along the path with the
    exact one-step recurrences of the regularised incomplete beta function,
    ``I_x(A+1, B) = I_x(A, B) - x^A (1-x)^B / (A B(A, B))`` and
    ``I_x(A, B+1) = I_x(A, B) + x^A (1-x)^B / (B B(A, B))``: far cheaper than calling
    ``betainc`` per prefix. ``tail0`` is that mass before the first sign (the prior's when
    None). Returns ``(log_e, plus, minus, tail)`` per prefix (``tail`` is 1 when two-sided).
    """
    rows = signs.shape[0]
    up = (signs > 0).astype(np.float64)
    down = (signs < 0).astype(np.float64)
    plus = plus0[:, None] + np.cumsum(up, axis=1)
    minus = minus0[:, None] + np.cumsum(down, axis=1)
    log_e: FloatArray = (
        betaln(a + plus, b + minus) - betaln(a, b) - plus * math.log(p0) - minus * math.log1p(-p0)
    )
    if alternative == "two-sided":
        return log_e, plus, minus, np.ones_like(log_e)
    prior_tail = float(betaincc(a, b, p0) if alternative == "greater" else betainc(a, b, p0))
    start = np.full(rows, prior_tail) if tail0 is None else tail0
    big_a = a + plus - up  # posterior parameters before each sign
    big_b = b + minus - down
    term = np.exp(big_a * math.log(p0) + big_b * math.log1p(-p0) - betaln(big_a, big_b))
    d_upper = up * term / big_a - down * term / big_b  # change of P(p > p0 | data)
    delta = d_upper if alternative == "greater" else -d_upper
    tail = np.cumsum(np.concatenate([start.reshape(rows, 1), delta], axis=1), axis=1)[:, 1:]
    # near zero the running sum loses relative accuracy; there the e-value is ~0 anyway
    tail = np.clip(tail, 1e-300, 1.0)
    out: FloatArray = log_e + np.log(tail) - math.log(prior_tail)
    return out, plus, minus, tail


class SignTest(EProcessReadout):
    """Anytime-valid sign test on +1/-1 observations with ties (0) ignored."""

    kind = "sign"
    params = ("p0", "mde", "alternative")

    def __init__(
        self, *, p0: float = 0.5, alternative: str = "two-sided", mde: float = DEFAULT_SIGN_MDE
    ) -> None:
        if not 0.0 < p0 < 1.0:
            raise ValueError(f"p0 must be in (0, 1); got {p0!r}")
        if not 0.0 < mde < 0.5:
            raise ValueError(f"mde must be in (0, 0.5); got {mde!r}")
        self.p0 = float(p0)
        self.mde = float(mde)
        self.alternative: Alternative = check_alternative(alternative)
        self._a, self._b = sign_prior(self.p0, self.mde)
        self._plus = 0
        self._minus = 0
        self._tail: float | None = None  # posterior mass on the alternative side
        self._log_e = 0.0
        self._max_log_e = 0.0

    def update(self, signs: npt.ArrayLike) -> None:
        """Add signs (+1, -1, or 0 for a tie) in arrival order."""
        s = np.asarray(signs, dtype=np.float64).reshape(1, -1)
        if s.shape[1] == 0:
            return
        if not np.all((s == 1) | (s == -1) | (s == 0)):
            raise ValueError("signs must be +1, -1 or 0 (tie)")
        log_e, plus, minus, tail = sign_log_e(
            s,
            np.array([float(self._plus)]),
            np.array([float(self._minus)]),
            p0=self.p0,
            a=self._a,
            b=self._b,
            alternative=self.alternative,
            tail0=None if self._tail is None else np.array([self._tail]),
        )
        self._plus = int(plus[0, -1])
        self._minus = int(minus[0, -1])
        self._tail = None if self.alternative == "two-sided" else float(tail[0, -1])
        self._advance(log_e)

    @property
    def n(self) -> int:
        """Number of non-tied signs seen."""
        return self._plus + self._minus

    @property
    def counts(self) -> tuple[int, int]:
        return self._plus, self._minus

    @property
    def estimate(self) -> float:
        """Share of +1 among non-tied signs (NaN before data)."""
        return self._plus / self.n if self.n else math.nan

    def confidence_interval(self, alpha: float = 0.05) -> tuple[float, float]:
        """Confidence sequence for P(+1): {p : mixture / likelihood(p) < 1/alpha}.

        The prior is the fixed two-sided Beta(a, b), so each p has its own mixture
        martingale and the set covers the true p at every n with probability >= 1 - alpha.
        """
        s, f = float(self._plus), float(self._minus)
        if s + f == 0:
            return (0.0, 1.0)
        log_mix = float(betaln(self._a + s, self._b + f) - betaln(self._a, self._b))
        level = log_mix - math.log(1.0 / alpha)

        def g(p: float) -> float:
            return s * math.log(p) + f * math.log1p(-p) - level

        p_hat = min(max(s / (s + f), 1e-12), 1 - 1e-12)
        lo = 0.0 if g(1e-15) >= 0 or s == 0 else float(brentq(g, 1e-15, p_hat))
        hi = 1.0 if g(1 - 1e-15) >= 0 or f == 0 else float(brentq(g, p_hat, 1 - 1e-15))
        return (lo, hi)

    def _dump_state(self) -> dict[str, Any]:
        return {"plus": self._plus, "minus": self._minus, "tail": self._tail}

    def _load_state(self, d: Mapping[str, Any]) -> None:
        self._plus = int(d["plus"])
        self._minus = int(d["minus"])
        self._tail = None if d["tail"] is None else float(d["tail"])
