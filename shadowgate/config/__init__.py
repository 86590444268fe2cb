"""Typed config model, YAML loading with located errors, and live reload."""

from shadowgate.config.loader import load_config, parse_config
from shadowgate.config.model import (
    AnalysisConfig,
    CanaryConfig,
    CheckConfig,
    MirrorConfig,
    PredictionConfig,
    RouteConfig,
    ServerConfig,
    ShadowgateConfig,
    StoreConfig,
    UpstreamConfig,
)
from shadowgate.config.reload import ConfigHolder, ReloadResult, watch

__all__ = [
    "AnalysisConfig",
    "CanaryConfig",
    "CheckConfig",
    "ConfigHolder",
    "MirrorConfig",
    "PredictionConfig",
    "ReloadResult",
    "RouteConfig",
    "ServerConfig",
    "ShadowgateConfig",
    "StoreConfig",
    "UpstreamConfig",
    "load_config",
    "parse_config",
    "watch",
]
