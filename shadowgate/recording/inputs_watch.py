"""Input checks on the recording path: schema violations and drift, per route.

:class:`InputWatch` is called by the recorder for every exchange it processes (never on
the client's response path). It checks the request against the route's schema (the
model's OIP v2 metadata, or a schema file), counts violations per reason and keeps the
most recent examples with their request ids, and feeds the input columns (and
production's predictions) to the route's :class:`~shadowgate.inputs.DriftMonitor`.
With ``validation.enforce`` the data plane asks :meth:`InputWatch.reject` first, on the
request path, and answers 400 with the first violation's location.
"""

from __future__ import annotations

import logging
import math
from collections import Counter, deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import numpy as np

from shadowgate.compare.decoded import DecodedExchange, decode_request
from shadowgate.config.model import RouteConfig, ShadowgateConfig
from shadowgate.inputs import DriftMonitor, FeatureAlarm, ModelSchema, check_request
from shadowgate.inputs.jsonschema_check import JsonSchemaCheck
from shadowgate.inputs.schema_diff import SchemaDifference, diff_schemas
from shadowgate.inputs.violations import Violation
from shadowgate.model.exchange import Exchange
from shadowgate.recording.input_files import (
    feature_kinds,
    load_schema_file,
    monitor_digest,
    monitored,
    new_monitor,
)

log = logging.getLogger(__name__)

ViolationCallback = Callable[[str, str, int], None]  # route, reason, count
DriftCallback = Callable[[str, FeatureAlarm], None]
#: route, e-value per feature, features in alarm (at most once a second per route)
EValuesCallback = Callable[[str, Mapping[str, float], set[str]], None]
GAUGE_EVERY = 1.0
#: the drift monitor is fed every FLUSH_ROWS monitored rows (FLUSH_ROWS * drift.every rows
#: of requests) or GAUGE_EVERY seconds (of request time), so that its fixed per-call cost
#: is shared by many requests
FLUSH_ROWS = 512


def feature_columns(schema: ModelSchema, arrays: Mapping[str, Any]) -> dict[str, Any]:
    """``input[j]`` (or ``input`` for one column) -> one value per row, for tabular inputs."""
    out: dict[str, Any] = {}
    for spec in schema.inputs:
        arr = arrays.get(spec.name)
        if arr is None or spec.columns == 0:
            continue
        a = np.asarray(arr).reshape(-1, spec.columns)
        if spec.columns == 1:
            out[spec.name] = a[:, 0]
        else:
            for j in range(spec.columns):
                out[f"{spec.name}[{j}]"] = a[:, j]
    return out


def predictions_of(doc: Any) -> tuple[np.ndarray[Any, Any], str] | None:
    """Production's predictions per row from a decoded OIP response: the class (argmax) of a
    ``[rows, k]`` output, else the value; with the kind to monitor them as."""
    if doc is None:
        return None
    out = doc["outputs"][0]
    arr = np.asarray(out["data"])
    shape = out.get("shape") or [arr.size]
    arr = arr.reshape(shape)
    if arr.ndim == 2 and arr.shape[1] > 1:
        return arr.argmax(axis=1), "categorical"
    flat = arr.reshape(-1)
    if out.get("datatype") in ("FP16", "FP32", "FP64"):
        return flat.astype(np.float64), "numeric"
    return flat, "categorical"


def joined_predictions(parts: list[Any]) -> Any:
    """The predictions of buffered requests as one column: an array when every request gave
    the same kind of array, else a list (``None`` for a request without predictions)."""
    if all(isinstance(p, np.ndarray) for p in parts) and len({p.dtype for p in parts}) == 1:
        return np.concatenate(parts)
    return [v for p in parts for v in (p.tolist() if isinstance(p, np.ndarray) else p)]


@dataclass
class RouteInputs:
    """What the watcher knows and has seen for one route."""

    config: RouteConfig
    schema: ModelSchema | JsonSchemaCheck | None = None
    candidate_schema: ModelSchema | None = None
    differences: list[SchemaDifference] = field(default_factory=list)
    schema_error: str | None = None
    monitor: DriftMonitor | None = None
    drift_error: str | None = None
    checked: int = 0
    #: rows waiting to be fed to the drift monitor in one batch (see InputWatch._flush)
    pending: list[tuple[dict[str, Any], Any]] = field(default_factory=list)
    pending_rows: int = 0
    pending_ts: float = 0.0
    flushed_at: float = -math.inf
    violations: Counter[str] = field(default_factory=Counter)
    examples: deque[dict[str, Any]] = field(default_factory=lambda: deque(maxlen=20))
    #: the monitor's config and features (see input_files.monitor_digest)
    digest: str | None = None
    #: a snapshot read from the store at start, taken up when the monitor starts
    offered: tuple[str, dict[str, Any], float] | None = None
    restored: dict[str, Any] | None = None
    saved: dict[str, Any] | None = None


class InputWatch:
    """Per-route schema checks and drift monitors, fed from the recorder."""

    def __init__(
        self,
        *,
        on_violation: ViolationCallback | None = None,
        on_drift: DriftCallback | None = None,
        on_e_values: EValuesCallback | None = None,
    ) -> None:
        self.routes: dict[str, RouteInputs] = {}
        self.on_violation = on_violation
        self.on_drift = on_drift
        self.on_e_values = on_e_values
        #: the features in alarm in other processes (``monitor_store.StoredAlarms``), when
        #: this process's judge is not the only one watching the traffic
        self.elsewhere: Callable[[str], list[str]] | None = None

    # -- configuration ---------------------------------------------------------------------

    def configure(self, cfg: ShadowgateConfig) -> None:
        """Follow a (re)loaded config: keep state of unchanged routes, load schema files."""
        fresh: dict[str, RouteInputs] = {}
        for route in cfg.routes:
            if route.validation is None and route.drift is None:
                continue
            old = self.routes.get(route.name)
            same = old is not None and (old.config.validation, monitored(old.config.drift)) == (
                route.validation,
                monitored(route.drift),
            )
            state = old if same and old is not None else RouteInputs(route)
            state.config = route
            if route.validation is not None:
                state.examples = deque(state.examples, maxlen=route.validation.examples)
                path = route.validation.schema_
                if path != "auto" and state.schema is None:
                    try:
                        state.schema = load_schema_file(path)
                    except ValueError as e:
                        state.schema_error = str(e)
                        log.error("route %s: %s", route.name, state.schema_error)
            fresh[route.name] = state
        self.routes = fresh

    def set_schemas(
        self, route: str, production: ModelSchema, candidate: ModelSchema | None
    ) -> list[SchemaDifference]:
        """Schemas read from the models' metadata (``schema: auto``); returns differences."""
        state = self.routes.get(route)
        if state is None:
            return []
        state.schema, state.candidate_schema = production, candidate
        state.schema_error = None
        state.differences = [] if candidate is None else diff_schemas(production, candidate)
        for d in state.differences:
            log.warning("route %s: schemas differ: %s", route, d)
        return state.differences

    def set_schema_error(self, route: str, message: str) -> None:
        state = self.routes.get(route)
        if state is not None:
            state.schema_error = message

    # -- request path (enforce only) -------------------------------------------------------

    def reject(self, route: str, body: bytes | None) -> str | None:
        """The first violation as a located message when ``enforce`` is on, else None."""
        state = self.routes.get(route)
        if state is None or state.schema is None:
            return None
        v = state.config.validation
        if v is None or not v.enforce:
            return None
        binary = state.config.protocol == "open-inference-v2"
        found = self._check(state, lambda: decode_request(body, binary))[0]
        return None if not found else "; ".join(str(x) for x in found[:5])

    # -- recording path --------------------------------------------------------------------

    def _check(self, state: RouteInputs, parse: Callable[[], Any]) -> tuple[list[Violation], Any]:
        """Violations of the request ``parse()`` decodes, and its arrays for the drift monitor."""
        try:
            doc = parse()
        except ValueError as e:
            form = "JSON nor Triton's binary tensor form" if _binary(state) else "JSON"
            return [Violation("malformed", f"the body is not {form}: {e}")], None
        schema = state.schema
        if isinstance(schema, JsonSchemaCheck):
            return schema.check(doc), None
        assert schema is not None
        found, arrays = check_request(schema, doc)
        return found, arrays

    def observe(self, ex: Exchange, decoded: DecodedExchange | None = None) -> None:
        """Check and watch one recorded exchange; ``decoded`` is the recorder's decode of its
        bodies, shared with the outcome built after (decoded here when not given)."""
        state = self.routes.get(ex.route)
        if state is None or ex.kind == "noise":
            return
        decoded = decoded if decoded is not None else DecodedExchange(ex)
        arrays: Any = None
        if state.schema is not None and state.config.validation is not None:
            found, arrays = self._check(state, partial(decoded.request, _binary(state)))
            state.checked += 1
            reasons = Counter(v.reason for v in found)
            for reason, _ in reasons.items():
                state.violations[reason] += 1
                if self.on_violation is not None:
                    self.on_violation(ex.route, reason, 1)
            for v in found[:3]:
                state.examples.append({"request_id": ex.request_id, "ts": ex.ts, **v.to_dict()})
        elif isinstance(state.schema, ModelSchema):
            arrays = check_request(state.schema, _json(decoded, _binary(state)))[1]
        if state.config.drift is not None and isinstance(state.schema, ModelSchema) and arrays:
            self._drift(state, ex, decoded, arrays)

    def _drift(
        self, state: RouteInputs, ex: Exchange, decoded: DecodedExchange, arrays: Mapping[str, Any]
    ) -> None:
        assert isinstance(state.schema, ModelSchema) and state.config.drift is not None
        tabular = [i for i in state.schema.inputs if i.columns]
        if not all(i.name in arrays for i in tabular):
            return  # a missing input (counted as a violation): no row to add
        blocks = {i.name: np.asarray(arrays[i.name]).reshape(-1, i.columns) for i in tabular}
        rows = {len(b) for b in blocks.values()}
        if len(rows) != 1:
            return
        n = rows.pop()
        pred = None
        if state.config.drift.predictions and ex.production is not None:
            side = ex.production
            if side.status == 200:
                try:
                    pred = predictions_of(decoded.answer("production"))
                except (ValueError, KeyError, IndexError, TypeError):
                    pred = None
        if state.monitor is None and state.drift_error is None:
            state.monitor = self._new_monitor(state, pred[1] if pred else None)
        if state.monitor is None:
            return
        values = pred[0] if pred and len(pred[0]) == n else [None] * n
        state.pending.append((blocks, values))
        state.pending_rows += n
        state.pending_ts = ex.ts
        flush_at = FLUSH_ROWS * state.config.drift.every
        if state.pending_rows >= flush_at or ex.ts - state.flushed_at >= GAUGE_EVERY:
            self._flush(state)

    def _flush(self, state: RouteInputs) -> None:
        """Feed the buffered rows to the monitor in one batch (a batch equals one-by-one
        updates, so this changes only when an alarm is seen, by at most FLUSH_ROWS monitored
        rows)."""
        mon, schema = state.monitor, state.schema
        if mon is None or not state.pending or not isinstance(schema, ModelSchema):
            return
        pending, state.pending, state.pending_rows = state.pending, [], 0
        state.flushed_at = state.pending_ts
        joined = {
            name: np.concatenate([blocks[name] for blocks, _ in pending]) for name in pending[0][0]
        }
        columns = feature_columns(schema, joined)
        if "prediction" in mon.features:
            columns["prediction"] = joined_predictions([values for _, values in pending])
        route = state.config.name
        for alarm in mon.observe(columns, now=state.pending_ts):
            log.warning("route %s: %s", route, alarm)
            if self.on_drift is not None:
                self.on_drift(route, alarm)
        if self.on_e_values is not None and mon.ready:
            self.on_e_values(route, mon.e_values(), {a.feature for a in mon.alarms()})

    def _new_monitor(self, state: RouteInputs, prediction_kind: str | None) -> DriftMonitor | None:
        d = state.config.drift
        assert d is not None and isinstance(state.schema, ModelSchema)
        try:
            monitor = new_monitor(d, feature_kinds(state.schema), prediction_kind)
        except (OSError, ValueError) as e:
            state.drift_error = str(e)
            log.error("route %s: drift monitor not started: %s", state.config.name, e)
            return None
        state.digest = monitor_digest(d, monitor.features)
        offered, state.offered = state.offered, None
        if offered is None or offered[0] != state.digest:
            return monitor  # nothing saved, or saved for another config or model
        try:
            restored = DriftMonitor.from_dict(offered[1])
        except (KeyError, ValueError, TypeError, IndexError) as e:
            name = state.config.name
            log.warning("route %s: saved drift monitors unreadable (%s): start over", name, e)
            return monitor
        rows = restored.process.rows if restored.process is not None else 0
        state.restored = {"saved_at": offered[2], "rows": rows}
        # what the store holds already: saved again only once it has changed
        state.saved = {"at": offered[2], "seen": restored.seen, "rows": rows}
        log.info("route %s: drift monitors resumed at row %d", state.config.name, rows)
        return restored

    # -- snapshots (the store keeps them: recording/monitor_store.py) ----------------------

    def offer(self, route: str, digest: str, state: dict[str, Any], saved_at: float) -> None:
        """A snapshot of the route's monitors from before a restart: resumed instead of
        starting over when the route's monitors start with the same digest."""
        watched = self.routes.get(route)
        if watched is None or watched.monitor is not None:
            return
        watched.offered = (digest, state, saved_at)
        if isinstance(watched.schema, ModelSchema) and watched.config.drift is not None:
            # the features are known: resume now, so that status, alarms and a promotion
            # hold are back before the first request (a snapshot of other monitors is
            # dropped, and the first request starts new ones, as without a snapshot)
            kind = dict(state.get("features") or ()).get("prediction")
            monitor = self._new_monitor(watched, kind)
            if watched.restored is not None:
                watched.monitor = monitor

    def snapshots(self, now: float, force: bool = False) -> list[tuple[str, str, dict[str, Any]]]:
        """``(route, digest, state)`` of each ready monitor that changed since it was last
        saved, once its ``drift.save_interval`` has passed (at once with ``force``)."""
        out = []
        for name, state in self.routes.items():
            d, mon = state.config.drift, state.monitor
            if d is None or d.save_interval <= 0 or mon is None or state.digest is None:
                continue
            last = state.saved or {"at": -math.inf, "seen": None, "rows": None}
            if not force and now - last["at"] < d.save_interval:
                continue
            self._flush(state)
            if mon.process is None:
                continue  # still collecting its reference, which is not kept
            if (mon.seen, mon.process.rows) == (last["seen"], last["rows"]):
                continue  # nothing new since the last save
            out.append((name, state.digest, mon.to_dict()))
        return out

    def saved(self, route: str, at: float, state: dict[str, Any]) -> None:
        """``state`` (from :meth:`snapshots`) is now in the store."""
        watched = self.routes.get(route)
        if watched is not None:
            rows = state["process"]["rows"] if state.get("process") else 0
            watched.saved = {"at": at, "seen": state.get("seen"), "rows": rows}

    # -- read-outs -------------------------------------------------------------------------

    def drifting(self, route: str) -> str | None:
        """Why a promotion is held (``on_drift: block_promotion`` and an alarm), else None."""
        names = self._alarmed(route, "block_promotion")
        if names is None:
            return None
        return f"promotion held: inputs drift ({names}); drift.on_drift is block_promotion"

    def drift_notice(self, route: str) -> str | None:
        """The alarms of a route whose drift does not hold promotions (``on_drift: alert``),
        for the judge to say while baking; else None."""
        names = self._alarmed(route, "alert")
        if names is None:
            return None
        return f"inputs drift ({names}); drift.on_drift is alert, so the promotion is not held"

    def _alarmed(self, route: str, on_drift: str) -> str | None:
        """The features in alarm on a route whose ``drift.on_drift`` is ``on_drift``: this
        process's and, with ``elsewhere`` set, the other processes'."""
        state = self.routes.get(route)
        if state is None or state.config.drift is None:
            return None
        names: list[str] = []
        if state.monitor is not None:
            self._flush(state)
            names = [a.feature for a in state.monitor.alarms()]
        if state.config.drift.on_drift != on_drift:
            return None
        if self.elsewhere is not None:
            names += [n for n in self.elsewhere(route) if n not in names]
        return ", ".join(names) if names else None

    def status(self, route: str) -> dict[str, Any] | None:
        state = self.routes.get(route)
        if state is None:
            return None
        schema = state.schema.to_dict() if state.schema is not None else None
        doc: dict[str, Any] = {
            "validation": {
                "schema": schema,
                "schema_error": state.schema_error,
                "checked": state.checked,
                "violations": dict(state.violations),
                "examples": list(state.examples),
                "schema_differences": [d.to_dict() for d in state.differences],
            }
        }
        if state.config.drift is not None:
            self._flush(state)
            mon = state.monitor
            doc["drift"] = {
                "error": state.drift_error,
                **(mon.status() if mon else {}),
                "restored": state.restored,
                "saved": None if state.saved is None else _saved(state.saved),
            }
        return {"inputs": doc}


def _saved(saved: Mapping[str, Any]) -> dict[str, Any]:
    return {"at": saved["at"], "rows": saved["rows"]}


def _binary(state: RouteInputs) -> bool:
    """Open Inference Protocol requests may carry Triton's binary tensors (tritonclient's
    ``binary_data=True``): they are read, not counted as malformed."""
    return state.config.protocol == "open-inference-v2"


def _json(decoded: DecodedExchange, binary: bool) -> Any:
    try:
        return decoded.request(binary)
    except ValueError:
        return None
