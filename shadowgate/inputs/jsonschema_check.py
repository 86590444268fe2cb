"""Requests of protocols other than OIP v2 checked against a JSON Schema (``jsonschema``).

Each error becomes a :class:`Violation` located by its JSON path (``$.instances[3].age``),
with a reason code from the failed keyword, so that the same metric labels serve every
protocol: ``required`` -> ``missing_input``, ``additionalProperties`` -> ``unknown_input``,
``type`` -> ``null`` / ``out_of_type``, anything else -> ``schema``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import jsonschema
from jsonschema.exceptions import SchemaError

from shadowgate.inputs.violations import Violation

MAX_ERRORS = 20
_REASON = {
    "required": "missing_input",
    "additionalProperties": "unknown_input",
    "unevaluatedProperties": "unknown_input",
}


def _reason(error: jsonschema.ValidationError) -> str:
    if error.validator == "type":
        return "null" if error.instance is None else "out_of_type"
    return _REASON.get(str(error.validator), "schema")


@dataclass(frozen=True)
class JsonSchemaCheck:
    """A compiled JSON Schema; :meth:`check` lists a body's violations (at most 20)."""

    schema: Mapping[str, Any]
    source: str = "schema"
    _validator: Any = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        cls = jsonschema.validators.validator_for(self.schema)
        try:
            cls.check_schema(dict(self.schema))
        except SchemaError as e:
            path = "/".join(str(p) for p in e.absolute_path) or "(top)"
            msg = f"{self.source}: not a valid JSON Schema at {path}: {e.message}"
            raise ValueError(msg) from e
        object.__setattr__(self, "_validator", cls(dict(self.schema)))

    def check(self, body: Any) -> list[Violation]:
        out: list[Violation] = []
        for error in self._validator.iter_errors(body):
            out.append(Violation(_reason(error), error.message, error.json_path))
            if len(out) >= MAX_ERRORS:
                break
        return out

    def to_dict(self) -> dict[str, Any]:
        return {"source": self.source, "json_schema": dict(self.schema)}


#: top-level keywords of a JSON Schema (one with ``inputs`` among its properties has some)
_SCHEMA_KEYWORDS = frozenset(
    {
        "$schema", "$id", "$ref", "$defs", "definitions", "type", "properties", "required",
        "additionalProperties", "patternProperties", "items", "prefixItems", "allOf", "anyOf",
        "oneOf", "not", "if", "then", "else", "enum", "const",
    }
)  # fmt: skip


def is_oip_metadata(doc: Any) -> bool:
    """True for an OIP model-metadata document (an ``inputs`` key, no JSON Schema keyword),
    which ``ModelSchema.from_metadata`` then reads or says what is wrong with; else a JSON
    Schema."""
    return isinstance(doc, Mapping) and "inputs" in doc and not _SCHEMA_KEYWORDS & doc.keys()
