"""Normal-mixture sequential likelihood ratio (mSPRT) on running means, vectorised.

For an estimate ``delta`` of an effect, with variance ``V`` (its squared standard error),
the Gaussian likelihood ratio of effect ``theta`` against 0 mixed over a prior
``theta ~ N(0, tau^2)`` is (Robbins 1970; Johari, Pekelis, Walsh 2017)::

    log E = -1/2 log(1 + m) + m / (1 + m) * z^2 / 2,    z = delta / sqrt(V),  m = tau^2 / V

One-sided tests mix over the half-normal prior on the alternative side only (``theta > 0``
for "greater", ``theta < 0`` for "less"), which adds ``log 2 + log Phi(+-z sqrt(m/(1+m)))``.
The half-normal mixture of likelihood ratios against the boundary is also a supermartingale
under every effect on the null side, so one-sided nulls may be composite (H0: theta <= 0).

``V`` is a plug-in (sample variance / n), so validity is asymptotic; a burn-in keeps the
first noisy variance estimates from deciding, and ``shadowgate simulate`` checks the
false-decision rate on heavy-tailed, tied and batched data.

All functions work on arrays of any shape, so the same code serves one stream in a test
object and thousands of Monte-Carlo replicates in ``shadowgate.stats.simulation``.
"""

from __future__ import annotations

import math

import numpy as np
from scipy.special import log_ndtr

from shadowgate.stats._core import Alternative, FloatArray

# Standardised effect the default mixture is tuned for: tau = 0.1 * plug-in sigma.
DEFAULT_STANDARDISED_EFFECT = 0.1
_TINY = 1e-300


def log_e_normal_mixture(z: FloatArray, m: FloatArray, alternative: Alternative) -> FloatArray:
    """Log mixture likelihood ratio from the z-statistic and the prior-to-noise ratio m."""
    shrink = m / (1.0 + m)
    out: FloatArray = -0.5 * np.log1p(m) + 0.5 * shrink * z * z
    if alternative == "greater":
        out = out + math.log(2.0) + log_ndtr(z * np.sqrt(shrink))
    elif alternative == "less":
        out = out + math.log(2.0) + log_ndtr(-z * np.sqrt(shrink))
    return out


def half_width(var_of_mean: float, m: float, alpha: float) -> float:
    """Half-width of the two-sided confidence sequence {theta: E(theta) < 1/alpha}."""
    if var_of_mean == 0.0:
        return 0.0
    if not (var_of_mean > 0.0 and m > 0.0 and math.isfinite(m)):
        return math.inf
    radius2 = (1.0 + m) / m * (2.0 * math.log(1.0 / alpha) + math.log1p(m))
    return math.sqrt(var_of_mean * radius2)


def mixture_ratio(var_of_mean: FloatArray, scale2: FloatArray, mde: float | None) -> FloatArray:
    """m = tau^2 / V: tau = mde if given, else tau^2 = (0.1)^2 * scale2 (scale-free)."""
    v = np.maximum(var_of_mean, _TINY)
    if mde is None:
        tau2 = DEFAULT_STANDARDISED_EFFECT**2 * np.maximum(scale2, _TINY)
    else:
        tau2 = np.full_like(v, mde * mde)
    out: FloatArray = tau2 / v
    return out


def prefix_moments(
    x: FloatArray, n0: FloatArray, s0: FloatArray, ss0: FloatArray
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Running count, sum and sum of squares along the last axis, continuing from a state.

    The previous sums are prepended before ``cumsum`` so that the additions happen in the
    same order as one-by-one updates: a batch gives bit-identical results.
    """
    rows, cols = x.shape
    n = n0[:, None] + np.arange(1, cols + 1, dtype=np.float64)[None, :]
    acc = np.empty((2, rows, cols + 1))  # both running sums in one cumsum, row by row
    acc[0, :, 0], acc[1, :, 0] = s0.reshape(rows), ss0.reshape(rows)
    acc[0, :, 1:] = x
    np.multiply(x, x, out=acc[1, :, 1:])
    s, ss = np.cumsum(acc, axis=2)[:, :, 1:]
    return n, s, ss


def mean_var(n: FloatArray, s: FloatArray, ss: FloatArray) -> tuple[FloatArray, FloatArray]:
    """Mean and unbiased sample variance from running sums (NaN variance below n = 2)."""
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = s / n
        var = np.maximum(ss - s * mean, 0.0) / (n - 1.0)
    return mean, var


def check_mixture_params(
    mde: float | None, burn_in: int, min_variance: float, burn_in_unit: str
) -> tuple[float | None, int, float]:
    """``mde``, ``burn_in`` and ``min_variance`` of a mean test, checked and typed.

    ``burn_in_unit`` says what the burn-in of 2 counts in the error, e.g. "per group".
    """
    if not (math.isfinite(min_variance) and min_variance >= 0):
        raise ValueError(f"min_variance must be a number >= 0; got {min_variance!r}")
    if mde is not None and not (math.isfinite(mde) and mde > 0):
        raise ValueError(f"mde must be a positive number or None; got {mde!r}")
    if burn_in < 2:
        raise ValueError(f"burn_in must be at least 2 {burn_in_unit}; got {burn_in}")
    return (None if mde is None else float(mde)), int(burn_in), float(min_variance)
