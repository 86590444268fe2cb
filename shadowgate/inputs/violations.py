"""A located input violation: what was wrong, in which input, at which value."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

#: Reason codes, the ``reason`` label of ``shadowgate_input_violations_total``.
REASONS: tuple[str, ...] = (
    "malformed",  # the body is not a request of the route's protocol at all
    "unknown_input",  # an input the model does not declare
    "missing_input",  # a declared input the request lacks
    "datatype",  # the request declares another datatype than the model's
    "shape",  # rank, a fixed dimension, or the number of values disagree with the shape
    "row_count",  # inputs of one request disagree on the number of rows
    "nan",  # NaN or infinity in a floating-point input
    "null",  # a null value
    "out_of_type",  # a value that is not of the input's datatype (or out of its range)
    "schema",  # any other JSON Schema rule
)


@dataclass(frozen=True, slots=True)
class Violation:
    """One problem in one request: ``reason`` (see :data:`REASONS`), where, and what."""

    reason: str
    message: str
    input: str | None = None
    index: int | None = None

    @property
    def location(self) -> str:
        """``input 'x' value 37``-style location, or ``request`` for the whole body."""
        if self.input is None:
            return "request"
        where = f"input {self.input!r}"
        return where if self.index is None else f"{where} value {self.index}"

    def __str__(self) -> str:
        return f"{self.location}: {self.message}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "reason": self.reason,
            "input": self.input,
            "index": self.index,
            "message": self.message,
        }
