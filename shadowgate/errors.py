"""The error tree of shadowgate.

    ShadowgateError            anything shadowgate raises on purpose
    ├── ConfigError            the config file is invalid; carries every located problem
    ├── UpstreamError          a model server could not be reached or answered badly
    │   ├── UpstreamTimeout
    │   └── UpstreamConnectError
    ├── StoreError             the outcome store is unavailable or rejected a write
    └── BadRequestError        a client sent something we cannot accept (HTTP 4xx)

Each error's message says what was wrong, where, and what to do next.
"""

from __future__ import annotations

from dataclasses import dataclass


class ShadowgateError(Exception):
    """Base class of every error shadowgate raises on purpose."""


@dataclass(frozen=True)
class ConfigProblem:
    """One located problem in a config file: ``file:line: key.path: message``."""

    file: str
    line: int | None
    path: str
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line is not None else self.file
        key = f" {self.path}:" if self.path else ""
        return f"{where}:{key} {self.message}"


class ConfigError(ShadowgateError):
    """The config is invalid. ``problems`` lists every located error, in file order."""

    def __init__(self, problems: list[ConfigProblem]) -> None:
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))


class UpstreamError(ShadowgateError):
    """A model server failed; ``status_hint`` is the HTTP status to answer the client with."""

    status_hint = 502


class UpstreamTimeout(UpstreamError):
    status_hint = 504


class UpstreamConnectError(UpstreamError):
    status_hint = 502


class StoreError(ShadowgateError):
    """The outcome store failed. The data plane keeps serving; records are buffered or dropped."""


class BadRequestError(ShadowgateError):
    """A client request (feedback, admin call) is malformed; ``status`` is the 4xx to send."""

    def __init__(self, message: str, status: int = 400) -> None:
        self.status = status
        super().__init__(message)
