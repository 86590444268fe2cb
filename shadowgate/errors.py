"""The error tree of shadowgate: every exception a user or a handler can meet.

    ShadowgateError                anything shadowgate raises on purpose
    ├── ConfigError                config file invalid; carries every located problem
    ├── StoreError                 the outcome store is unavailable or rejected a write
    │   ├── StaleStateError        store.rows: another judge committed first (fencing)
    │   └── SchemaTooNewError      store.rows: the database was written by a newer version
    ├── BadRequestError            a client call we cannot accept; ``status`` is the 4xx
    │   ├── FeedbackError          admin.feedback: a malformed label batch
    │   ├── Rejected               http.events: a request head the server refuses
    │   └── BadRequestBody         http.request: a malformed request body (bad chunking)
    ├── LocalProtocolError         http.events: an event the connection's state forbids
    ├── ClientClosed               http.request: the client left mid-request (a ConnectionError)
    ├── UpstreamError              http.client: talking to a model server failed; its kind
    │                              (timeout, connect, reset) gives the 502/504 status hint
    ├── BodyTooLarge               http.client: an answer's body exceeded the caller's cap
    ├── ConflictError              an action that the current state refuses (HTTP 409)
    │   └── TransitionError        rollout.machine: e.g. approve while in shadow
    ├── InvalidDataError           a body or label that cannot be read as configured
    │   ├── CompareError           compare.protocols: a body off the route's protocol
    │   │   ├── InvalidResponse    a model's answer (error class ``invalid``)
    │   │   └── InvalidRequest     a client's request (its row count is unknown)
    │   └── LabelError             compare.loss: a label that cannot be scored
    └── ClientError                the data plane's client was too slow (answered 4xx)
        └── BodyTimeout            gateway: the body did not arrive in client_timeout

A model server's failure reaches the client as a located 502/504 answer and the outcome
as its error class (``UpstreamError.kind``), never as an exception.

``InvalidDataError`` and ``ConflictError`` are also ``ValueError``: code that caught a
``ValueError`` before the tree existed still does. Each error's message says what was
wrong, where, and what to do next. Status hints are read where answers are made: a
``ConflictError``'s ``error_status_hint``, a ``BadRequestError``'s ``status``.
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


class StoreError(ShadowgateError):
    """The outcome store failed. The data plane keeps serving; records are buffered or dropped."""


class BadRequestError(ShadowgateError):
    """A client request (feedback, admin call) is malformed; ``status`` is the 4xx to send."""

    def __init__(self, message: str, status: int = 400) -> None:
        self.status = status
        super().__init__(message)


class ConflictError(ShadowgateError, ValueError):
    """An action the current state refuses; answered with ``error_status_hint``."""

    error_status_hint = 409


class InvalidDataError(ShadowgateError, ValueError):
    """A body or a label could not be read as the route's config says; the message says where."""


class ClientError(ShadowgateError):
    """The data plane's client sent something unusable or too slowly (answered with a 4xx)."""
