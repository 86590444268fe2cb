"""The files a route's input checks read: ``validation.schema`` and ``drift.reference``.

They are read where the checks start (:class:`~shadowgate.recording.inputs_watch.InputWatch`)
and, by :func:`input_file_problems`, whenever a config is loaded: ``check-config``, ``serve``
and every live reload report a file that is missing, unreadable, not parseable or of the
wrong shape as a located config error (``file:line: routes[0].validation.schema: ...``), so
a reload with such an edit is rejected and the previous config keeps serving. Paths are
read as the process reads them: relative ones from its working directory.
"""

from __future__ import annotations

import csv
import hashlib
import json
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from shadowgate.config.inputs import DriftConfig
from shadowgate.config.loader import Loc
from shadowgate.config.model import RouteConfig, ShadowgateConfig
from shadowgate.inputs import DriftMonitor, ModelSchema
from shadowgate.inputs.jsonschema_check import JsonSchemaCheck, is_oip_metadata

CATEGORICAL_TYPES = frozenset({"BYTES", "BOOL"})


class InputFileError(ValueError):
    """A schema or reference file that cannot be used; the message says which and why."""


def _read(path: str, what: str) -> str:
    try:
        return Path(path).read_text(encoding="utf-8")
    except OSError as e:
        raise InputFileError(f"{what} {path}: cannot be read: {e.strerror or e}") from None
    except UnicodeDecodeError:
        raise InputFileError(f"{what} {path}: is not UTF-8 text") from None


def load_schema_file(path: str) -> ModelSchema | JsonSchemaCheck:
    """A schema file: OIP model metadata (YAML or JSON), or else a JSON Schema.

    Raises :class:`InputFileError` naming the file and what is wrong in it.
    """
    text = _read(path, "schema file")
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f" (line {mark.line + 1})" if mark is not None else ""
        problem = getattr(e, "problem", None) or str(e)
        raise InputFileError(f"schema file {path}: not YAML or JSON{where}: {problem}") from None
    try:
        if is_oip_metadata(doc):
            return ModelSchema.from_metadata(doc, source=path)
        if not isinstance(doc, Mapping):
            raise InputFileError(
                f"{path}: holds {type(doc).__name__ if doc is not None else 'nothing'}; "
                "expected OIP model metadata (an object with an 'inputs' list of name, "
                "datatype, shape) or a JSON Schema (an object)"
            )
        return JsonSchemaCheck(doc, source=path)
    except ValueError as e:
        raise InputFileError(f"schema file {e}") from None


def feature_kinds(schema: ModelSchema) -> dict[str, str]:
    """The drift monitor's features of a schema (``input`` or ``input[j]``) and their kinds."""
    kinds: dict[str, str] = {}
    for spec in schema.inputs:
        kind = "categorical" if spec.datatype in CATEGORICAL_TYPES else "numeric"
        if spec.columns == 1:
            kinds[spec.name] = kind
        for j in range(spec.columns if spec.columns > 1 else 0):
            kinds[f"{spec.name}[{j}]"] = kind
    return kinds


def watched_features(d: DriftConfig, kinds: Mapping[str, str]) -> dict[str, str]:
    """The features ``drift.features`` selects; ValueError naming any the model lacks."""
    if d.features == "auto":
        return dict(kinds)
    unknown = [f for f in d.features if f not in kinds and f != "prediction"]
    if unknown:
        names = list(kinds)
        raise ValueError(
            f"drift.features: {', '.join(unknown)} not among the model's features "
            f"({', '.join(names[:10])}{', ...' if len(names) > 10 else ''})"
        )
    return {f: kinds[f] for f in d.features if f in kinds}


def read_reference(path: str) -> list[dict[str, Any]]:
    """The rows of a reference file: CSV with a header row, or JSON lines of objects."""
    text = _read(path, "drift reference")
    rows: list[dict[str, Any]] = []
    if path.endswith((".jsonl", ".json")):
        for n, line in enumerate(text.splitlines(), 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except ValueError as e:
                raise InputFileError(f"drift reference {path} line {n}: not JSON: {e}") from None
            if not isinstance(row, dict):
                raise InputFileError(
                    f"drift reference {path} line {n}: expected an object of feature: value, "
                    f"got {type(row).__name__}"
                )
            rows.append(row)
    else:
        try:
            rows = list(csv.DictReader(text.splitlines()))
        except csv.Error as e:
            raise InputFileError(f"drift reference {path}: not CSV: {e}") from None
    if not rows:
        raise InputFileError(f"drift reference {path} has no rows")
    return rows


def _number(value: Any, path: str, row: int, feature: str) -> float:
    if value is None or value == "":
        return math.nan  # missing: left out of the reference
    if not isinstance(value, bool) and isinstance(value, int | float | str):
        try:
            return float(value)
        except ValueError:
            pass
    raise InputFileError(f"drift reference {path} row {row}: {feature} is {value!r}, not a number")


def load_rows(path: str, kinds: Mapping[str, str]) -> dict[str, list[Any]]:
    """A reference file's column per feature: numbers, or categories as strings (an empty
    value or ``null`` is missing). Only ``prediction`` may be absent: it is then not watched."""
    rows = read_reference(path)
    missing = [f for f in kinds if f not in rows[0] and f != "prediction"]
    if missing:
        has = ", ".join(str(c) for c in list(rows[0])[:10])
        raise InputFileError(
            f"drift reference {path} has no column {', '.join(missing)} (its columns: {has})"
        )
    out: dict[str, list[Any]] = {}
    for f, kind in kinds.items():
        if f not in rows[0]:
            continue
        vals = [r.get(f) for r in rows]
        if kind == "numeric":
            out[f] = [_number(v, path, i, f) for i, v in enumerate(vals, 1)]
        else:
            out[f] = [None if v is None or v == "" else str(v) for v in vals]
    return out


def new_monitor(
    d: DriftConfig, kinds: Mapping[str, str], prediction_kind: str | None
) -> DriftMonitor:
    """The drift monitor a route's ``drift`` asks for, on the model's ``kinds`` of features
    (and production's predictions, of ``prediction_kind``, once known); ValueError (or
    :class:`InputFileError`) says why it cannot start."""
    watched = watched_features(d, kinds)
    if d.predictions and prediction_kind is not None:
        watched["prediction"] = prediction_kind
    reference: int | dict[str, list[Any]] = d.reference if isinstance(d.reference, int) else 0
    if isinstance(d.reference, str):
        reference = load_rows(d.reference, watched)
        if "prediction" not in reference:
            watched.pop("prediction", None)
    return DriftMonitor(
        watched,  # type: ignore[arg-type]
        reference=reference,
        alpha=d.alpha,
        max_bins=d.bins,
        every=d.every,
    )


def monitored(d: DriftConfig | None) -> dict[str, Any] | None:
    """The part of ``drift`` that makes its monitors: an edit of anything else (on_drift,
    save_interval) keeps them, and a saved snapshot stays theirs."""
    return None if d is None else d.model_dump(mode="json", exclude={"on_drift", "save_interval"})


def monitor_digest(d: DriftConfig, features: Mapping[str, str]) -> str:
    """What a route's monitors are made of: the drift config, the watched features and
    their kinds, and a reference file's content. A snapshot resumes only monitors with the
    same digest (a restart after an edit, a new model schema or new reference starts over)."""
    made: dict[str, Any] = {"drift": monitored(d), "features": dict(features)}
    if isinstance(d.reference, str):
        try:
            made["reference"] = hashlib.sha256(Path(d.reference).read_bytes()).hexdigest()
        except OSError:
            made["reference"] = None
    blob = json.dumps(made, sort_keys=True).encode()
    return hashlib.sha256(blob).hexdigest()[:32]


def _route_problems(i: int, r: RouteConfig) -> list[tuple[Loc, str]]:
    out: list[tuple[Loc, str]] = []
    schema: ModelSchema | JsonSchemaCheck | None = None
    if r.validation is not None and r.validation.schema_ != "auto":
        loc: Loc = ("routes", i, "validation", "schema")
        try:
            schema = load_schema_file(r.validation.schema_)
        except InputFileError as e:
            out.append((loc, f"route {r.name!r}: {e}"))
        else:
            if isinstance(schema, ModelSchema) and r.protocol != "open-inference-v2":
                out.append(
                    (
                        loc,
                        f"route {r.name!r}: schema file {r.validation.schema_} is OIP model "
                        f"metadata, which checks open-inference-v2 requests, but the route's "
                        f"protocol is {r.protocol}: give a JSON Schema",
                    )
                )
    d = r.drift
    if d is None:
        return out
    ref_loc: Loc = ("routes", i, "drift", "reference")
    if isinstance(schema, ModelSchema):  # the features are known: start the monitor as serve will
        try:
            watched_features(d, feature_kinds(schema))
        except ValueError as e:
            return [*out, (("routes", i, "drift", "features"), f"route {r.name!r}: {e}")]
        if isinstance(d.reference, str):
            try:
                new_monitor(d, feature_kinds(schema), None)
            except ValueError as e:
                out.append((ref_loc, f"route {r.name!r}: {e}"))
    elif isinstance(d.reference, str):  # features come from the model at start: read the file
        try:
            rows = read_reference(d.reference)
        except InputFileError as e:
            out.append((ref_loc, f"route {r.name!r}: {e}"))
        else:
            listed = [] if d.features == "auto" else [f for f in d.features if f != "prediction"]
            absent = [f for f in listed if f not in rows[0]]
            if absent:
                out.append(
                    (
                        ref_loc,
                        f"route {r.name!r}: drift reference {d.reference} has no column "
                        f"{', '.join(absent)} (listed in drift.features)",
                    )
                )
    return out


def input_file_problems(cfg: ShadowgateConfig) -> list[tuple[Loc, str]]:
    """Every route's unusable schema or reference file, located on its key (a config check
    for :func:`~shadowgate.config.loader.load_config` and ``ConfigHolder.checks``)."""
    return [p for i, r in enumerate(cfg.routes) for p in _route_problems(i, r)]
