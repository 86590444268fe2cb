"""Every key path of the config model, with its default: the source of the config reference.

``docs/configuration.md`` documents each path; a test keeps the two in sync.
"""

from __future__ import annotations

import types
import typing
from typing import Any

from pydantic import BaseModel
from pydantic_core import PydanticUndefined

from shadowgate.config.model import ShadowgateConfig


def _model_of(tp: Any) -> tuple[type[BaseModel] | None, bool]:
    """(model class inside ``tp``, whether it sits in a list/tuple)."""
    if isinstance(tp, type) and issubclass(tp, BaseModel):
        return tp, False
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin in (tuple, list):
        inner, _ = _model_of(args[0]) if args else (None, False)
        return inner, True
    if origin in (typing.Union, types.UnionType, typing.Annotated):
        for arg in args:
            found, many = _model_of(arg)
            if found is not None:
                return found, many
    return None, False


def key_paths(model: type[BaseModel] = ShadowgateConfig, prefix: str = "") -> dict[str, Any]:
    """``{"routes[].mirror.percent": 100.0, ...}``: leaf paths → defaults (None if required)."""
    out: dict[str, Any] = {}
    for attr, field in model.model_fields.items():
        name = field.alias or attr  # the key users write (``schema`` is ``schema_`` in code)
        path = f"{prefix}{name}"
        inner, many = _model_of(field.annotation)
        if inner is not None and name != "store":
            out.update(key_paths(inner, f"{path}[]." if many else f"{path}."))
            continue
        if name == "store":
            out.update(key_paths(inner or BaseModel, "store."))
            out["store"] = "sqlite:///shadowgate.db"
            continue
        default = field.default
        if default is PydanticUndefined:
            default = field.default_factory() if field.default_factory else None  # type: ignore[call-arg]
        out[path] = default
    return out
