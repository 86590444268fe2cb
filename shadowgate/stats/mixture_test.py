"""What the two normal-mixture mean tests share: their parameters, kernel options, interval.

:class:`~shadowgate.stats.paired.PairedMeanTest` and
:class:`~shadowgate.stats.two_sample.TwoSampleMeanTest` differ in how they accumulate
moments; both hand the kernel the same options and turn a variance of the mean into the
same confidence sequence (:mod:`shadowgate.stats.normal_mixture`).
"""

from __future__ import annotations

from typing import NotRequired, TypedDict

import numpy as np

from shadowgate.stats._core import Alternative, EProcessReadout, FloatArray, check_alternative
from shadowgate.stats.normal_mixture import check_mixture_params, half_width, mixture_ratio

DEFAULT_BURN_IN = 20


class KernelOptions(TypedDict):
    """The keyword arguments of the kernels ``paired_log_e_from`` and ``two_sample_log_e``:
    the hypothesis (``offset`` is a constant per row that the data were shifted by)."""

    offset: FloatArray | float
    margin: float
    mde: float | None
    alternative: Alternative
    burn_in: int
    min_variance: NotRequired[float]


class MixtureParams(TypedDict, total=False):
    """The keyword parameters both mixture tests take (see ``MixtureMeanTest``)."""

    mde: float | None
    margin: float
    alternative: str
    burn_in: int
    min_variance: float


class MixtureMeanTest(EProcessReadout):
    mde: float | None
    margin: float
    alternative: Alternative
    burn_in: int
    min_variance: float
    #: how the burn-in is counted, for its error message
    burn_in_unit = ""

    def __init__(
        self,
        *,
        mde: float | None = None,
        margin: float = 0.0,
        alternative: str = "two-sided",
        burn_in: int = DEFAULT_BURN_IN,
        min_variance: float = 0.0,
    ) -> None:
        """Check and keep the parameters; start with no evidence."""
        self.mde, self.burn_in, self.min_variance = check_mixture_params(
            mde, burn_in, min_variance, self.burn_in_unit
        )
        self.margin = float(margin)
        self.alternative = check_alternative(alternative)
        self._log_e = 0.0
        self._max_log_e = 0.0

    def _kernel_options(self, offset: float) -> KernelOptions:
        """The keyword arguments of ``paired_log_e``/``two_sample_log_e`` from this test."""
        return {
            "offset": offset,
            "margin": self.margin,
            "mde": self.mde,
            "alternative": self.alternative,
            "burn_in": self.burn_in,
            "min_variance": self.min_variance,
        }

    def _interval(
        self, estimate: float, var_of_mean: float, scale2: float, alpha: float
    ) -> tuple[float, float]:
        """``estimate`` +- the mixture half-width for this variance of the estimate."""
        m = float(mixture_ratio(np.array(var_of_mean), np.array(scale2), self.mde))
        h = half_width(var_of_mean, m, alpha)
        return (estimate - h, estimate + h)
