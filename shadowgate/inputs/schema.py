"""An Open Inference Protocol v2 model's input schema, and the check of a request against it.

The schema is the ``inputs`` list of the model metadata (``GET /v2/models/{name}``): each
input has a ``name``, a ``datatype`` and a ``shape`` in which ``-1`` is a free dimension
(usually the batch). :func:`check_request` takes a decoded inference request and returns
every violation, located by input name and flat value index. It is cheap on a clean
request: one ``numpy.asarray`` per input, which also infers the element types in C.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from shadowgate.inputs.violations import Violation

FLOAT_TYPES = frozenset({"FP16", "FP32", "FP64"})
#: inclusive range of each integer datatype
INT_RANGES: dict[str, tuple[int, int]] = {
    "INT8": (-(2**7), 2**7 - 1),
    "INT16": (-(2**15), 2**15 - 1),
    "INT32": (-(2**31), 2**31 - 1),
    "INT64": (-(2**63), 2**63 - 1),
    "UINT8": (0, 2**8 - 1),
    "UINT16": (0, 2**16 - 1),
    "UINT32": (0, 2**32 - 1),
    "UINT64": (0, 2**64 - 1),
}
DATATYPES = frozenset({"BOOL", "BYTES", *FLOAT_TYPES, *INT_RANGES})


@dataclass(frozen=True, slots=True)
class InputSpec:
    """One declared input: name, OIP datatype, shape (``-1`` = any size)."""

    name: str
    datatype: str
    shape: tuple[int, ...]

    @property
    def columns(self) -> int:
        """Values per row for a ``[-1, c]`` (or ``[-1]``) input; 0 when not tabular."""
        if len(self.shape) == 1:
            return 1
        if len(self.shape) == 2 and self.shape[1] > 0:
            return self.shape[1]
        return 0

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "datatype": self.datatype, "shape": list(self.shape)}


@dataclass(frozen=True, slots=True)
class ModelSchema:
    """The inputs a model declares, in order."""

    inputs: tuple[InputSpec, ...]
    source: str = "metadata"

    def by_name(self) -> dict[str, InputSpec]:
        return {i.name: i for i in self.inputs}

    def to_dict(self) -> dict[str, Any]:
        return {"source": self.source, "inputs": [i.to_dict() for i in self.inputs]}

    @classmethod
    def from_metadata(cls, metadata: Any, source: str = "metadata") -> ModelSchema:
        """Parse OIP v2 model metadata; raise ValueError naming the bad field."""
        if not isinstance(metadata, Mapping) or not isinstance(metadata.get("inputs"), list):
            raise ValueError(f"{source}: model metadata must be an object with an 'inputs' list")
        specs: list[InputSpec] = []
        for i, raw in enumerate(metadata["inputs"]):
            where = f"{source}: inputs[{i}]"
            if not isinstance(raw, Mapping):
                raise ValueError(f"{where} must be an object with name, datatype, shape")
            name, dtype, shape = raw.get("name"), raw.get("datatype"), raw.get("shape")
            if not isinstance(name, str) or not name:
                raise ValueError(f"{where}.name must be a non-empty string")
            if dtype not in DATATYPES:
                raise ValueError(
                    f"{where}.datatype must be one of {', '.join(sorted(DATATYPES))}; got {dtype!r}"
                )
            if not isinstance(shape, list) or not all(
                isinstance(d, int) and not isinstance(d, bool) and d >= -1 for d in shape
            ):
                raise ValueError(f"{where}.shape must be a list of integers >= -1; got {shape!r}")
            specs.append(InputSpec(name, str(dtype), tuple(shape)))
        names = [s.name for s in specs]
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            raise ValueError(f"{source}: input names repeated: {', '.join(dup)}")
        return cls(tuple(specs), source)


def _shape_problem(spec: InputSpec, shape: Sequence[Any]) -> str | None:
    if not all(isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in shape):
        return f"shape must be non-negative integers; got {list(shape)!r}"
    if len(shape) != len(spec.shape):
        return f"expected rank {len(spec.shape)} (shape {list(spec.shape)}), got {list(shape)}"
    for axis, (want, got) in enumerate(zip(spec.shape, shape, strict=True)):
        if want != -1 and want != got:
            return f"dimension {axis} must be {want} (shape {list(spec.shape)}), got {got}"
    return None


def _first(mask: np.ndarray[Any, Any]) -> int:
    return int(np.flatnonzero(mask.reshape(-1))[0])


def _first_object(flat: Sequence[Any], bad: Any) -> int | None:
    for i, v in enumerate(flat):
        if bad(v):
            return i
    return None


def _flatten(data: Any) -> list[Any]:
    if not isinstance(data, list):
        return [data]
    out: list[Any] = []
    for v in data:
        out.extend(_flatten(v) if isinstance(v, list) else [v])
    return out


def check_values(spec: InputSpec, data: Any) -> tuple[list[Violation], np.ndarray[Any, Any] | None]:
    """Type-check one input's ``data``; return violations and the values (None if unusable)."""
    name, dtype = spec.name, spec.datatype
    try:
        arr = np.asarray(data)
    except (ValueError, TypeError):  # ragged nesting
        return [Violation("shape", "data is nested unevenly (ragged rows)", name)], None
    kind = arr.dtype.kind
    if kind == "O":  # mixed: find the first null, then the first value of a wrong type
        flat = _flatten(data)
        out: list[Violation] = []
        i = _first_object(flat, lambda v: v is None)
        if i is not None:
            out.append(Violation("null", f"null where {dtype} is expected", name, i))
        ok = (str,) if dtype == "BYTES" else (bool,) if dtype == "BOOL" else (int, float)
        j = _first_object(
            flat,
            lambda v: (
                v is not None
                and (not isinstance(v, ok) or (dtype != "BOOL" and isinstance(v, bool)))
            ),
        )
        if j is not None:
            out.append(Violation("out_of_type", f"{flat[j]!r} is not a {dtype} value", name, j))
        return out, None
    if dtype == "BYTES":
        if kind != "U":
            return [Violation("out_of_type", "BYTES input needs strings", name, 0)], None
        return [], arr
    if kind == "U":  # numpy turned numbers into strings too: find the first real string
        flat = _flatten(data)
        i = _first_object(flat, lambda v: isinstance(v, str)) or 0
        return [Violation("out_of_type", f"{flat[i]!r} is not a {dtype} value", name, i)], None
    if dtype == "BOOL":
        if kind != "b" and arr.size:
            return [Violation("out_of_type", "BOOL input needs true/false", name, 0)], None
        return [], arr
    if kind == "b" and arr.size:
        return [Violation("out_of_type", f"true/false is not a {dtype} value", name, 0)], None
    if dtype in FLOAT_TYPES:
        if kind == "f" and not np.all(np.isfinite(arr)):
            i = _first(~np.isfinite(arr))
            return [Violation("nan", f"{arr.reshape(-1)[i]} in a {dtype} input", name, i)], arr
        return [], arr
    lo, hi = INT_RANGES[dtype]
    if kind == "f":
        bad = ~np.isfinite(arr) | (arr != np.floor(arr))
        if np.any(bad):
            i = _first(bad)
            v = arr.reshape(-1)[i]
            reason = "nan" if not math.isfinite(float(v)) else "out_of_type"
            return [Violation(reason, f"{v} is not a {dtype} value", name, i)], None
    if arr.size and (arr.min() < lo or arr.max() > hi):
        i = _first((arr < lo) | (arr > hi))
        v = arr.reshape(-1)[i]
        return [Violation("out_of_type", f"{v} is outside {dtype}'s [{lo}, {hi}]", name, i)], None
    return [], arr


def check_request(schema: ModelSchema, body: Any) -> tuple[list[Violation], dict[str, Any]]:
    """Every violation of an OIP v2 inference request, and the usable inputs' arrays.

    The arrays (flat or nested as sent, reshaped to the declared shape when it matches) are
    returned so that the drift monitor reuses this decode.
    """
    if not isinstance(body, Mapping) or not isinstance(body.get("inputs"), list):
        return [Violation("malformed", "the body must be an object with an 'inputs' list")], {}
    specs = schema.by_name()
    seen: set[str] = set()
    out: list[Violation] = []
    arrays: dict[str, Any] = {}
    rows: dict[str, int] = {}
    for pos, entry in enumerate(body["inputs"]):
        if not isinstance(entry, Mapping) or not isinstance(entry.get("name"), str):
            out.append(Violation("malformed", f"inputs[{pos}] must be an object with a name"))
            continue
        name = entry["name"]
        spec = specs.get(name)
        if spec is None:
            known = ", ".join(sorted(specs)) or "none"
            out.append(Violation("unknown_input", f"the model has no such input ({known})", name))
            continue
        seen.add(name)
        if entry.get("datatype") != spec.datatype:
            out.append(
                Violation(
                    "datatype", f"expected {spec.datatype}, got {entry.get('datatype')!r}", name
                )
            )
        shape = entry.get("shape")
        if not isinstance(shape, list):
            out.append(Violation("shape", f"shape missing; expected {list(spec.shape)}", name))
            continue
        problem = _shape_problem(spec, shape)
        if problem is not None:
            out.append(Violation("shape", problem, name))
            continue
        found, arr = check_values(spec, entry.get("data"))
        out.extend(found)
        if arr is None:
            continue
        size = math.prod(shape)
        if arr.size != size:
            out.append(Violation("shape", f"{arr.size} values, shape {shape} needs {size}", name))
            continue
        if shape and spec.shape and spec.shape[0] == -1:
            rows[name] = int(shape[0])
        arrays[name] = arr.reshape(shape)
    for spec in schema.inputs:
        if spec.name not in seen:
            out.append(
                Violation(
                    "missing_input",
                    f"declared input missing ({spec.datatype} {list(spec.shape)})",
                    spec.name,
                )
            )
    if len(set(rows.values())) > 1:
        detail = ", ".join(f"{n}: {r}" for n, r in rows.items())
        out.append(Violation("row_count", f"inputs disagree on the number of rows ({detail})"))
    return out, arrays
