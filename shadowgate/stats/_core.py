"""Shared pieces of the sequential tests: alternatives, validation, e-value to p-value.

Every test keeps the logarithm of an e-process (a nonnegative process whose expected value
is at most 1 under the null at every stopping time). Ville's inequality then gives the
always-valid p-value ``p_n = min(1, 1 / max_{k <= n} E_k)``: the chance that it ever drops
below alpha under the null is at most alpha, however often it is looked at.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any, ClassVar, Literal, Self, TypeAlias

import numpy as np
import numpy.typing as npt

Alternative: TypeAlias = Literal["two-sided", "greater", "less"]
FloatArray: TypeAlias = npt.NDArray[np.float64]
ALTERNATIVES: tuple[Alternative, ...] = ("two-sided", "greater", "less")


def check_alternative(alternative: str) -> Alternative:
    """Return ``alternative`` typed, or raise a ValueError naming the accepted values."""
    if alternative not in ALTERNATIVES:
        raise ValueError(
            f"alternative must be one of {', '.join(ALTERNATIVES)}; got {alternative!r}"
        )
    return alternative


def check_alpha(alpha: float) -> float:
    if not 0.0 < alpha < 1.0:
        raise ValueError(f"alpha must be in (0, 1); got {alpha!r}")
    return float(alpha)


def p_from_log_e(max_log_e: float) -> float:
    """Always-valid p-value from the running maximum of the log e-process."""
    if max_log_e <= 0.0:
        return 1.0
    return math.exp(-max_log_e)


def as_float_row(values: Any, name: str) -> FloatArray:
    """One observation stream as a float64 array of shape (1, n), rejecting NaN and inf."""
    arr = np.asarray(values, dtype=np.float64).reshape(1, -1)
    if not np.isfinite(arr).all():
        raise ValueError(f"{name} must be finite numbers; got NaN or infinity")
    return arr


def check_kind(data: dict[str, Any], kind: str) -> None:
    if data.get("kind") != kind:
        raise ValueError(f"state is for {data.get('kind')!r}, not {kind!r}")


_BIG = float(np.finfo(np.float64).max)


def finite(x: FloatArray) -> FloatArray:
    """``np.nan_to_num(x)`` in fewer steps: NaN is 0, infinities the largest finite floats."""
    out: FloatArray = np.where(np.isnan(x), 0.0, np.minimum(np.maximum(x, -_BIG), _BIG))
    return out


def evidence_where(ok: npt.NDArray[np.bool_], log_e: FloatArray) -> FloatArray:
    """``log_e`` where ``ok`` and not NaN, else 0; infinities become the largest finite
    floats (as ``np.where(ok, np.nan_to_num(log_e, nan=0.0), 0.0)``, in fewer steps)."""
    out: FloatArray = np.where(
        ok & ~np.isnan(log_e), np.minimum(np.maximum(log_e, -_BIG), _BIG), 0.0
    )
    return out


def running_max(log_e: FloatArray, start: FloatArray | float) -> FloatArray:
    """Running maximum along the last axis, seeded with the previous maximum ``start``."""
    out = np.maximum.accumulate(log_e, axis=-1)
    result: FloatArray = np.maximum(out, start)
    return result


class EProcessReadout:
    """The read-outs every test shares, from its log e-process.

    ``p_value`` is 1 / the running maximum of the e-process (Ville's inequality makes it
    always valid); ``e_value`` is the current value, for e-value averaging across checks.
    Subclasses keep ``_log_e`` (now) and ``_max_log_e`` (running maximum) up to date.

    It also saves and restores a test: ``to_dict`` writes ``kind``, the constructor
    parameters named in ``params``, what ``_dump_state`` returns, then ``log_e`` and
    ``max_log_e``; ``from_dict`` checks the kind, calls the constructor with the saved
    parameters (one an older state lacks takes its value from ``older_defaults``), and
    hands the rest to ``_load_state``.
    """

    kind: ClassVar[str]
    #: the constructor parameters saved in the state, in their order there
    params: ClassVar[tuple[str, ...]] = ()
    #: values for parameters added later, which states saved before lack
    older_defaults: ClassVar[tuple[tuple[str, Any], ...]] = ()
    _log_e: float
    _max_log_e: float

    def _advance(self, log_e: FloatArray) -> None:
        """Take the log e-process after each new observation (shape (1, n), n >= 1)."""
        self._log_e = float(log_e[0, -1])
        self._max_log_e = float(running_max(log_e, self._max_log_e)[0, -1])

    def _dump_state(self) -> dict[str, Any]:
        """The accumulated statistics, as JSON-ready values."""
        return {}

    def _load_state(self, d: Mapping[str, Any]) -> None:
        """Restore what ``_dump_state`` wrote."""

    def to_dict(self) -> dict[str, Any]:
        saved = {name: _plain(getattr(self, name)) for name in self.params}
        return {
            "kind": self.kind,
            **saved,
            **self._dump_state(),
            "log_e": self._log_e,
            "max_log_e": self._max_log_e,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Self:
        d = dict(data)
        check_kind(d, cls.kind)
        make: Callable[..., Self] = cls
        t = make(**{name: _saved(d, name, dict(cls.older_defaults)) for name in cls.params})
        t._load_state(d)
        t._log_e = float(d["log_e"])
        t._max_log_e = float(d["max_log_e"])
        return t

    @property
    def p_value(self) -> float:
        """Always-valid p-value (1.0 before any data)."""
        return p_from_log_e(self._max_log_e)

    @property
    def e_value(self) -> float:
        """Current value of the e-process."""
        return math.exp(min(self._log_e, 700.0))

    def reject(self, alpha: float) -> bool:
        return self.p_value <= alpha


def _plain(value: Any) -> Any:
    """A tuple parameter (e.g. traffic shares) is saved as a JSON list."""
    return list(value) if isinstance(value, tuple) else value


def _saved(d: Mapping[str, Any], name: str, older: Mapping[str, Any]) -> Any:
    return d[name] if name in d or name not in older else older[name]
