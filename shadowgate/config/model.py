"""The typed config model (DESIGN §3). Every public key is here; extras are rejected.

Models are frozen: a loaded config is an immutable snapshot, so a request that started
on one config finishes on it even if a reload swaps in another.

Example::

    cfg = ShadowgateConfig.model_validate({"routes": [{"name": "m",
        "match": {"path_prefix": "/v2/models/m"},
        "production": {"url": "http://127.0.0.1:8001"},
        "candidate": {"url": "http://127.0.0.1:8002"}}]})
"""

from __future__ import annotations

import hashlib
import json
import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from shadowgate.config.inputs import DriftConfig, ValidationConfig
from shadowgate.config.join import RequestIdConfig
from shadowgate.config.lifecycle import AfterPromotionConfig
from shadowgate.config.outage import ProductionOutageConfig
from shadowgate.config.shift import check_max_shift
from shadowgate.config.types import Duration, Fraction, HttpUrl, ListenAddress, Percent, Size
from shadowgate.config.upstream import UpstreamConfig as UpstreamConfig

Metric = Literal["errors", "latency", "agreement", "accuracy", "loss", "prediction_shift"]
Protocol = Literal["open-inference-v2", "kserve-v1", "tfserving", "mlflow", "json"]
Mode = Literal["shadow", "canary"]

#: Default non-inferiority margin per metric, used when a check names none. A margin of 0
#: could never be passed (equality cannot be proven), so each metric has one.
#: errors: +0.1 percentage point of error rate; latency: 10% slower (ratio of latencies);
#: accuracy: 1 point lower; loss: 0.01 higher mean loss.
DEFAULT_MARGINS: dict[str, float] = {
    "errors": 0.001,
    "latency": 0.10,
    "accuracy": 0.01,
    "loss": 0.01,
    "agreement": 0.0,
}
#: Default minimum agreement rate for ``metric: agreement``.
DEFAULT_MIN_AGREEMENT = 0.9

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$")
_STICKY = re.compile(r"^(header|cookie|query):[A-Za-z0-9_.-]+$")


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class ServerConfig(Strict):
    """The two listeners and request limits."""

    listen: ListenAddress = "0.0.0.0:8080"
    admin_listen: ListenAddress = "127.0.0.1:9090"
    admin_token: str | None = None
    max_body_size: Size = 10 * 1000 * 1000
    #: how long a client may take to send its request headers and body
    client_timeout: Duration = 30.0
    #: how long a graceful shutdown waits for in-flight requests
    shutdown_timeout: Duration = 10.0
    #: log request bodies and Authorization headers (never by default)
    log_sensitive: bool = False

    @field_validator("admin_token")
    @classmethod
    def _token(cls, v: str | None) -> str | None:
        if v is not None and v.strip() == "":
            return None  # an unset ${SHADOWGATE_ADMIN_TOKEN:-} means "no token"
        if v is not None and len(v) < 8:
            raise ValueError("admin_token must be at least 8 characters (or leave it unset)")
        return v


class StoreConfig(Strict):
    """Where outcomes, labels, rollout state and the audit log live."""

    url: str = "sqlite:///shadowgate.db"
    #: records waiting for the batch writer; beyond this they are dropped and counted
    queue_size: int = Field(default=100_000, ge=100)
    batch_size: int = Field(default=500, ge=1)
    flush_interval: Duration = 0.2
    #: delete outcomes older than this (0 = keep forever)
    retention: Duration = 0.0
    #: keep at most this many outcomes per route (0 = no limit)
    max_rows: int = Field(default=0, ge=0)

    @field_validator("url")
    @classmethod
    def _url(cls, v: str) -> str:
        if not (v.startswith("sqlite://") or v.startswith(("postgresql://", "postgres://"))):
            raise ValueError(
                f"unsupported store {v!r}: use sqlite:///path/to/file.db or postgresql://user@host/db"
            )
        special = ("sqlite://", "sqlite:///:memory:")
        bad_sqlite = not v.startswith("sqlite:///") or len(v) <= len("sqlite:///")
        if v.startswith("sqlite://") and v not in special and bad_sqlite:
            raise ValueError(f"invalid SQLite URL {v!r}: write sqlite:///relative/or/abs.db")
        return v


class MatchConfig(Strict):
    path_prefix: str
    #: mirror, record and judge only the protocol's inference calls (metadata, readiness and
    #: model-control calls go to production alone); default: on for the model protocols,
    #: off for ``json``, whose calls are all inference (see ``compare/calls.py``)
    inference_only: bool | None = None
    #: this route's production answers the server-wide calls no route matches
    #: (``/v2/health/*``, ``/v2``); default: the first route whose protocol has them
    server_calls: bool = False

    @field_validator("path_prefix")
    @classmethod
    def _prefix(cls, v: str) -> str:
        if not v.startswith("/"):
            raise ValueError(f"path_prefix {v!r} must start with /")
        return v


class MirrorConfig(Strict):
    percent: Percent = Field(default=100.0, ge=0, le=100)
    max_in_flight: int = Field(default=256, ge=1)
    drop_headers: tuple[str, ...] = ()
    #: timeout of a mirrored request (default: the candidate's timeout)
    timeout: Duration | None = None


class CanaryConfig(Strict):
    weight: Percent = Field(default=0.0, ge=0, le=100)
    steps: tuple[Percent, ...] = ()
    #: ``header:NAME``, ``cookie:NAME`` or ``query:NAME``; without it, by request id
    sticky: str | None = None
    #: honour ``X-Shadowgate-Variant: production|candidate`` request headers
    allow_override: bool = True
    #: samples per variant each canary step needs before it may advance
    step_min_samples: int = Field(default=200, ge=1)

    @field_validator("sticky")
    @classmethod
    def _sticky(cls, v: str | None) -> str | None:
        if v is not None and not _STICKY.match(v):
            raise ValueError(
                f"invalid sticky key {v!r}: write header:NAME, cookie:NAME or query:NAME"
            )
        return v

    @field_validator("steps")
    @classmethod
    def _steps(cls, v: tuple[float, ...]) -> tuple[float, ...]:
        for s in v:
            if not 0 < s <= 100:
                raise ValueError(f"canary step {s:g} must be in (0, 100]")
        if list(v) != sorted(set(v)):
            raise ValueError("canary steps must be strictly increasing, e.g. [5, 25, 50, 100]")
        return v


class PredictionConfig(Strict):
    #: JMESPath to the predictions in a response (protocol json; optional override otherwise)
    path: str | None = None
    #: absolute tolerance under which two numeric predictions agree
    tolerance: float = Field(default=1e-6, ge=0)
    #: relative tolerance (fraction of the larger magnitude), combined with ``tolerance``
    rel_tolerance: Fraction = Field(default=0.0, ge=0)
    task: Literal["auto", "classification", "regression"] = "auto"
    #: name of the output to compare when a response has several (open-inference-v2)
    output: str | None = None
    #: response fields that differ by nature and are never compared
    ignore_fields: tuple[str, ...] = ("id", "model_version", "model_name", "timestamp", "created")
    #: when the sides answer different kinds (labels vs probabilities), compare the class
    #: each names (argmax) where that is unambiguous; the mismatch is recorded either way
    map_kinds: bool = True

    @field_validator("path")
    @classmethod
    def _jmespath(cls, v: str | None) -> str | None:
        if v is None:
            return v
        import jmespath
        from jmespath.exceptions import JMESPathError

        try:
            jmespath.compile(v)
        except JMESPathError as exc:
            raise ValueError(f"invalid JMESPath {v!r}: {exc}") from None
        return v


class CheckConfig(Strict):
    metric: Metric
    #: non-inferiority margin (default per metric: see DEFAULT_MARGINS)
    margin: Fraction | None = None
    #: for agreement: the minimum share of agreeing pairs
    min: Fraction | None = Field(default=None, ge=0, le=1)
    goal: Literal["non_inferior", "superior"] = "non_inferior"
    #: name in metrics and the API (default: the metric)
    name: str | None = None
    #: run this check separately per segment value (needs ``segment`` on the route)
    per_segment: bool = False
    #: for prediction_shift: the largest tolerated shift of any predicted class's share
    max_shift: Fraction | None = Field(default=None, gt=0, lt=1)
    #: for loss: the largest loss counted (larger ones are clipped to it and counted as
    #: clipped); a bounded loss is tested by betting, exact for any distribution
    bound: float | None = Field(default=None, gt=0)
    #: for errors, accuracy and loss with a bound: outcomes this many requests (labelled
    #: pairs, for accuracy and loss) apart or more are independent (errors come in
    #: bursts shorter than this). The pass tests (shadow and canary) then count a quiet
    #: stretch as the independent evidence it holds (slower, and valid on bursty errors);
    #: 1 treats every request as independent
    burst: int = Field(default=1, ge=1, le=10_000)

    @property
    def label(self) -> str:
        return self.name or self.metric

    @property
    def effective_margin(self) -> float:
        if self.max_shift is not None:
            return self.max_shift
        return DEFAULT_MARGINS[self.metric] if self.margin is None else self.margin

    @property
    def effective_min(self) -> float:
        return DEFAULT_MIN_AGREEMENT if self.min is None else self.min

    @model_validator(mode="after")
    def _consistent(self) -> CheckConfig:
        if self.min is not None and self.metric != "agreement":
            raise ValueError(f"min applies to metric agreement only, not {self.metric}")
        if self.margin is not None and self.margin < 0:
            raise ValueError("margin cannot be negative")
        if self.metric == "agreement" and self.goal == "superior":
            raise ValueError("agreement has no superiority goal; set min instead")
        check_max_shift(self.metric, self.max_shift, self.margin, self.goal)
        if self.bound is not None and self.metric != "loss":
            raise ValueError(f"bound applies to metric loss only, not {self.metric}")
        if self.burst > 1 and not (
            self.metric in ("errors", "accuracy") or (self.metric == "loss" and self.bound)
        ):
            raise ValueError(
                f"burst applies to metrics errors, accuracy and loss with a bound (their pass "
                f"is a betting test), not {self.metric}"
                + (" without a bound" if self.metric == "loss" else "")
            )
        if self.bound is not None and self.effective_margin >= self.bound:
            raise ValueError(
                f"margin ({self.effective_margin:g}) must be below bound ({self.bound:g})"
            )
        return self


def _default_checks() -> tuple[CheckConfig, ...]:
    return (CheckConfig(metric="errors"), CheckConfig(metric="latency"))


class AnalysisConfig(Strict):
    alpha: float = Field(default=0.05, gt=0, lt=0.5)
    min_samples: int = Field(default=200, ge=1)
    max_samples: int = Field(default=100_000, ge=1)
    deadline: Duration = 24 * 3600.0
    on_success: Literal["promote", "await_approval"] = "promote"
    interval: Duration = 1.0
    #: label checks see a pair once this long has passed since its request (None: labels
    #: count as they arrive); see ``rollout.label_hold``
    label_window: Duration | None = None
    checks: tuple[CheckConfig, ...] = Field(default_factory=_default_checks)
    production_outage: ProductionOutageConfig = ProductionOutageConfig()

    @model_validator(mode="after")
    def _consistent(self) -> AnalysisConfig:
        if self.max_samples < self.min_samples:
            raise ValueError(
                f"max_samples ({self.max_samples}) is below min_samples ({self.min_samples})"
            )
        if self.interval <= 0:
            raise ValueError("interval must be greater than 0")
        if self.label_window is not None and self.label_window <= 0:
            raise ValueError(
                "label_window must be greater than 0 (omit it to count labels as they arrive)"
            )
        labels = [c.label for c in self.checks]
        dup = sorted({x for x in labels if labels.count(x) > 1})
        if dup:
            raise ValueError(f"duplicate check {dup[0]!r}: give one of them a distinct name")
        return self


class SegmentConfig(Strict):
    """Where a request's segment value comes from: a header or a JMESPath into the body."""

    header: str | None = None
    body: str | None = None

    @model_validator(mode="after")
    def _one(self) -> SegmentConfig:
        if (self.header is None) == (self.body is None):
            raise ValueError("segment needs exactly one of header or body")
        return self


class NoiseConfig(Strict):
    """Mirror a share of requests to production itself to measure the disagreement floor."""

    percent: Percent = Field(default=0.0, ge=0, le=100)


class WebhookConfig(Strict):
    url: HttpUrl
    timeout: Duration = 5.0
    retries: int = Field(default=3, ge=0, le=20)
    #: sent as ``Authorization: Bearer <secret>`` when set
    secret: str | None = None


class HookConfig(Strict):
    """Called after a promotion (e.g. to update a model registry): a URL or a command."""

    url: HttpUrl | None = None
    command: tuple[str, ...] | None = None
    timeout: Duration = 10.0

    @model_validator(mode="after")
    def _one(self) -> HookConfig:
        if (self.url is None) == (self.command is None):
            raise ValueError("a hook needs exactly one of url or command")
        return self


class RouteConfig(Strict):
    name: str
    match: MatchConfig
    production: UpstreamConfig
    #: none: a steady state, production alone (no rollout, nothing mirrored but noise)
    candidate: UpstreamConfig | None = None
    mode: Mode = "shadow"
    mirror: MirrorConfig = MirrorConfig()
    canary: CanaryConfig = CanaryConfig()
    protocol: Protocol = "json"
    prediction: PredictionConfig = PredictionConfig()
    analysis: AnalysisConfig = AnalysisConfig()
    webhooks: tuple[WebhookConfig, ...] = ()
    segment: SegmentConfig | None = None
    noise: NoiseConfig = NoiseConfig()
    record_bodies: bool = False
    confirm_promotion: WebhookConfig | None = None
    on_promote: HookConfig | None = None
    request_id: RequestIdConfig = RequestIdConfig()
    validation: ValidationConfig | None = None
    drift: DriftConfig | None = None
    after_promotion: AfterPromotionConfig | None = None

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        if not _NAME.match(v):
            raise ValueError(
                f"invalid route name {v!r}: use letters, digits, '_', '-', '.' (max 63)"
            )
        return v

    @model_validator(mode="after")
    def _consistent(self) -> RouteConfig:
        if self.protocol == "json" and not self.prediction.path:
            # without a path, json responses are compared whole (minus ignored fields)
            pass
        if any(c.per_segment for c in self.analysis.checks) and self.segment is None:
            raise ValueError("a check has per_segment: true but the route has no segment")
        return self

    @property
    def candidate_identity(self) -> str:
        """What defines "the same candidate": a change starts a new rollout ("" for none)."""
        if self.candidate is None:
            return ""
        return f"{self.candidate.url}#{self.candidate.version or ''}"

    @property
    def upstreams(self) -> tuple[UpstreamConfig, ...]:
        """The model servers the route talks to (production, and the candidate if any)."""
        return (self.production,) if self.candidate is None else (self.production, self.candidate)


class ShadowgateConfig(Strict):
    server: ServerConfig = ServerConfig()
    store: StoreConfig = StoreConfig()
    routes: tuple[RouteConfig, ...] = ()

    @field_validator("store", mode="before")
    @classmethod
    def _store_string(cls, v: Any) -> Any:
        return {"url": v} if isinstance(v, str) else v

    @model_validator(mode="after")
    def _routes(self) -> ShadowgateConfig:
        seen: dict[str, int] = {}
        prefixes: dict[str, str] = {}
        for i, r in enumerate(self.routes):
            if r.name in seen:
                raise ValueError(
                    f"routes[{i}]: duplicate route name {r.name!r} (also routes[{seen[r.name]}])"
                )
            seen[r.name] = i
            p = r.match.path_prefix
            if p in prefixes:
                raise ValueError(
                    f"routes[{i}]: path_prefix {p!r} is also used by route {prefixes[p]!r}; "
                    "which route serves it would be ambiguous"
                )
            prefixes[p] = r.name
        servers = [r.name for r in self.routes if r.match.server_calls]
        if len(servers) > 1:
            raise ValueError(
                f"routes {servers} all set match.server_calls: only one route's production "
                "can answer the server-wide calls (/v2/health/*)"
            )
        return self

    def route(self, name: str) -> RouteConfig | None:
        return next((r for r in self.routes if r.name == name), None)

    def digest(self) -> str:
        """A short stable hash of the effective config (recorded with every decision)."""
        blob = json.dumps(self.model_dump(mode="json"), sort_keys=True).encode()
        return hashlib.sha256(blob).hexdigest()[:16]
