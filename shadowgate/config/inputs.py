"""Config of input checks (DESIGN §3 ``validation`` and ``drift``): schema and drift monitors.

Example::

    validation: {schema: auto, enforce: false}    # auto: the model's own OIP metadata
    drift: {reference: 10000, alpha: 0.01, features: auto, on_drift: alert}
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from shadowgate.config.types import Duration


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class ValidationConfig(_Strict):
    """Check every recorded request against the model's input schema.

    ``schema: auto`` reads it from production's (and the candidate's) OIP v2 metadata at
    start and on reload; a file path gives it by hand: OIP model metadata (``inputs`` with
    name/datatype/shape) for ``open-inference-v2`` routes, a JSON Schema for others.
    """

    schema_: str = Field(default="auto", alias="schema")
    #: answer a violating request 400 (with where and what) before it reaches either model
    enforce: bool = False
    #: examples kept for /api/status (the most recent, with their request ids)
    examples: int = Field(default=20, ge=0, le=1000)

    @field_validator("schema_")
    @classmethod
    def _schema(cls, v: str) -> str:
        if not v.strip():
            raise ValueError("schema must be 'auto' or the path of a schema file")
        return v


class DriftConfig(_Strict):
    """Anytime-valid drift monitors on every input feature and on production's predictions.

    ``reference`` is the number of first rows that form the reference, or the path of a
    file of rows (CSV with a header, or JSON lines of objects). alpha is split over the
    features: the chance of ever raising a false alarm on any of them is at most alpha.
    """

    reference: int | str = 10_000
    alpha: float = Field(default=0.01, gt=0.0, lt=1.0)
    features: Literal["auto"] | tuple[str, ...] = "auto"
    on_drift: Literal["alert", "block_promotion"] = "alert"
    #: watch production's predictions too (as a feature named ``prediction``)
    predictions: bool = True
    #: reference-quantile bins per numeric feature
    bins: int = Field(default=10, ge=2, le=100)
    #: watch every k-th row only: thins autocorrelated traffic (see docs/inputs.md)
    every: int = Field(default=4, ge=1)
    #: how often the monitors are saved to the store, to resume after a restart (0: never)
    save_interval: Duration = Field(default=10.0, ge=0.0)

    @field_validator("reference")
    @classmethod
    def _reference(cls, v: int | str) -> int | str:
        if isinstance(v, int) and v < 100:
            raise ValueError(f"reference must be at least 100 rows (or a file path); got {v}")
        if isinstance(v, str) and not v.strip():
            raise ValueError("reference must be a number of rows or a file path")
        return v

    @field_validator("features")
    @classmethod
    def _features(cls, v: str | tuple[str, ...]) -> str | tuple[str, ...]:
        if isinstance(v, tuple) and (not v or len(set(v)) != len(v)):
            raise ValueError("features must be 'auto' or a non-empty list of distinct names")
        return v
