"""Where production's and the candidate's input schemas differ, as a readable report."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from shadowgate.inputs.schema import ModelSchema


@dataclass(frozen=True, slots=True)
class SchemaDifference:
    """One difference: ``field`` is ``input`` (present on one side only), ``datatype`` or
    ``shape``; ``None`` on a side means the input is absent there."""

    input: str
    field: str
    production: Any
    candidate: Any

    def __str__(self) -> str:
        if self.field == "input":
            side = "production" if self.candidate is None else "candidate"
            return f"input {self.input!r} only in {side}"
        return (
            f"input {self.input!r} {self.field}: production {self.production}, "
            f"candidate {self.candidate}"
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "input": self.input,
            "field": self.field,
            "production": self.production,
            "candidate": self.candidate,
            "text": str(self),
        }


def _shapes_compatible(a: tuple[int, ...], b: tuple[int, ...]) -> bool:
    return len(a) == len(b) and all(x == y or -1 in (x, y) for x, y in zip(a, b, strict=True))


def diff_schemas(production: ModelSchema, candidate: ModelSchema) -> list[SchemaDifference]:
    """Differences in production's input order, then inputs only the candidate has.

    Shapes that differ only where one side has a free dimension (``-1``) are compatible
    and not reported; any other difference means a request valid for one model may be
    rejected by the other.
    """
    p, c = production.by_name(), candidate.by_name()
    out: list[SchemaDifference] = []
    for name, ps in p.items():
        cs = c.get(name)
        if cs is None:
            out.append(SchemaDifference(name, "input", ps.to_dict(), None))
            continue
        if ps.datatype != cs.datatype:
            out.append(SchemaDifference(name, "datatype", ps.datatype, cs.datatype))
        if not _shapes_compatible(ps.shape, cs.shape):
            out.append(SchemaDifference(name, "shape", list(ps.shape), list(cs.shape)))
    for name, cs in c.items():
        if name not in p:
            out.append(SchemaDifference(name, "input", None, cs.to_dict()))
    return out
