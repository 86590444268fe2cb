"""Warnings for numbers whose unit a reader can mistake (``margin: 1``, ``weight: 0.2``).

Two kinds of config field read a bare number differently (see ``config/types.py``):

- **percent** fields (``canary.weight``, ``canary.steps``, ``mirror.percent``, ...) read
  ``20`` as 20 %; so ``weight: 0.2`` is 0.2 %, not a fifth;
- **fraction** fields (check ``margin`` and ``min``, ``prediction.rel_tolerance``) read
  ``0.01`` as 1 %; so ``margin: 1`` on errors is 100 points, and on latency 100 % slower.

A value written with ``%`` (``20%``, ``1%``) is never ambiguous and never warned about.
Which fields are which is read from the config model itself, so a field added later with
the ``Percent`` or ``Fraction`` type is covered without a change here.
"""

from __future__ import annotations

import types
import typing
from typing import Any

from pydantic import BaseModel, BeforeValidator

from shadowgate.config.model import ShadowgateConfig
from shadowgate.config.types import parse_fraction, parse_percent

Loc = tuple[str | int, ...]

#: margins in the metric's own unit (a mean loss difference), not a share of anything
_ABSOLUTE_MARGIN_METRICS = frozenset({"loss"})


def _unit_in(tp: Any) -> str | None:
    """``percent`` or ``fraction`` when the annotation (or a part of it) is that type."""
    origin = typing.get_origin(tp)
    if origin is typing.Annotated:
        for meta in getattr(tp, "__metadata__", ()):
            unit = _unit_of_validator(meta)
            if unit is not None:
                return unit
    if origin in (typing.Union, types.UnionType, tuple, list, typing.Annotated):
        for arg in typing.get_args(tp):
            if arg is not Ellipsis and (unit := _unit_in(arg)) is not None:
                return unit
    return None


def _unit_of_validator(meta: Any) -> str | None:
    if isinstance(meta, BeforeValidator):
        if meta.func is parse_percent:
            return "percent"
        if meta.func is parse_fraction:
            return "fraction"
    return None


def _model_in(tp: Any) -> type[BaseModel] | None:
    if isinstance(tp, type) and issubclass(tp, BaseModel):
        return tp
    for arg in typing.get_args(tp):
        if arg is not Ellipsis and (found := _model_in(arg)) is not None:
            return found
    return None


def _bare(value: Any) -> float | None:
    """The number a value reads as when written without a unit, else None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str) and not value.strip().endswith("%"):
        try:
            return float(value)
        except ValueError:
            return None
    return None


def _g(x: float) -> str:
    return f"{x:.6g}"


def _percent_warning(key: str, v: float) -> str | None:
    if not 0 < v < 1:
        return None
    return (
        f"{key}: {_g(v)} reads as {_g(v)} %; write {_g(v * 100)}% if you meant "
        f"{_g(v)} of the traffic (percent fields read a bare number as percent)"
    )


def _fraction_warning(key: str, v: float, metric: Any) -> str | None:
    if v < 1 or (key == "margin" and metric in _ABSOLUTE_MARGIN_METRICS):
        return None
    if key == "margin" and metric == "latency":
        reads = f"{_g(v * 100)} % slower"
    elif key == "margin" and metric in ("errors", "accuracy"):
        reads = f"{_g(v * 100)} points"
    else:
        reads = f"{_g(v * 100)} %"
    return (
        f"{key}: {_g(v)} reads as {reads}; write {_g(v)}% or {_g(v / 100)} "
        "(fraction fields read a bare number as a share: 0.01 is 1 %)"
    )


def unit_warnings(data: Any) -> list[tuple[Loc, str]]:
    """Every ambiguous bare number in the raw (validated) config document, located."""
    out: list[tuple[Loc, str]] = []
    _walk(ShadowgateConfig, data, (), out)
    return out


def _walk(model: type[BaseModel], data: Any, loc: Loc, out: list[tuple[Loc, str]]) -> None:
    if not isinstance(data, dict):
        return
    for key, value in data.items():
        field = model.model_fields.get(key) if isinstance(key, str) else None
        if field is None:
            continue
        unit = _unit_in(field.annotation)
        if unit is None:
            unit = next(
                (u for m in field.metadata if (u := _unit_of_validator(m)) is not None), None
            )
        here = (*loc, key)
        items = list(enumerate(value)) if isinstance(value, list) else [(None, value)]
        if unit is not None:
            for i, item in items:
                v = _bare(item)
                if v is None:
                    continue
                if unit == "percent":
                    msg = _percent_warning(key, v)
                else:
                    msg = _fraction_warning(key, v, data.get("metric"))
                if msg is not None:
                    out.append((here if i is None else (*here, i), msg))
            continue
        sub = _model_in(field.annotation)
        if sub is None:
            continue
        for i, item in items:
            _walk(sub, item, here if i is None else (*here, i), out)


def error_hint(loc: Loc, value: Any) -> str | None:
    """For a value the model refused: say how a bare number was read (e.g. ``min: 90``)."""
    v = _bare(value)
    if not loc or v is None or loc[-1] != "min" or v <= 1:
        return None
    return f"min: {_g(v)} reads as {_g(v * 100)} %; write {_g(v)}% or {_g(v / 100)}"
