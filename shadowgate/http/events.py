"""What a connection's state table (``connection.py``) hands its adapter: the parsed
request heads and bodies to serve, and the actions to take on the transport; and the
errors it raises.

Events are plain data; the adapter carries them out in order.
"""

from __future__ import annotations

from dataclasses import dataclass

from shadowgate.errors import BadRequestError, ShadowgateError


class LocalProtocolError(ShadowgateError):
    """The adapter asked for a move the state table does not allow: a bug in the server,
    not bad input (answered 500 if it reaches a handler's answer)."""

    error_status_hint = 500


class Rejected(BadRequestError):
    """A request head the server refuses (too large, unusable target): its answer."""

    def __init__(self, status: int, error: str, message: str) -> None:
        self.error = error
        super().__init__(message, status)

    @property
    def error_status_hint(self) -> int:
        return self.status


# -- events --------------------------------------------------------------------------------


@dataclass(slots=True)
class RequestHead:
    """A parsed request head (``keep_alive`` may still be turned off by the core)."""

    seq: int
    method: str
    target: bytes
    headers: list[tuple[bytes, bytes]]
    version: str
    keep_alive: bool
    has_body: bool
    expect_continue: bool
    #: the body is all in (it changes as the body arrives; ``has_body`` does not)
    complete: bool = False
    #: its turn is now: run its handler (otherwise a ``StartRequest`` comes later)
    start: bool = False


@dataclass(frozen=True, slots=True)
class RequestEvent:
    """Something about request ``seq`` (its number on the connection, from 0)."""

    seq: int


@dataclass(frozen=True, slots=True)
class StartRequest(RequestEvent):
    """Its turn has come: run its handler."""


@dataclass(frozen=True, slots=True)
class Body(RequestEvent):
    """The next bytes of its body."""

    data: bytes


@dataclass(frozen=True, slots=True)
class BodyEnd(RequestEvent):
    """Its body is complete."""


@dataclass(frozen=True, slots=True)
class BodyFailed(RequestEvent):
    """Its body will not be complete (``message`` says why)."""

    message: str


@dataclass(frozen=True, slots=True)
class ClientGone:
    """The connection was lost: these requests' bodies will never be complete."""

    seqs: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class Write:
    """Send these bytes."""

    data: bytes


@dataclass(frozen=True, slots=True)
class TransportAction:
    """An action on the transport that carries no data; the class says which."""


@dataclass(frozen=True, slots=True)
class WriteEof(TransportAction):
    """Half-close: no more bytes from this side."""


@dataclass(frozen=True, slots=True)
class Close(TransportAction):
    """Close the connection."""


@dataclass(frozen=True, slots=True)
class PauseReading(TransportAction):
    """Stop reading from the socket (flow control)."""


@dataclass(frozen=True, slots=True)
class ResumeReading(TransportAction):
    """Read from the socket again."""


Event = (
    RequestHead
    | StartRequest
    | Body
    | BodyEnd
    | BodyFailed
    | ClientGone
    | Write
    | WriteEof
    | Close
    | PauseReading
    | ResumeReading
)


def body_expected(headers: list[tuple[bytes, bytes]]) -> tuple[bool, bool]:
    """(the request has a body, it asked for ``100 Continue``)."""
    body = False
    expect = False
    for name, value in headers:
        n = name.lower()
        if n == b"content-length":
            body = body or value.strip() not in (b"", b"0")
        elif n == b"transfer-encoding":
            body = body or b"chunked" in value.lower()
        elif n == b"expect":
            expect = value.strip().lower() == b"100-continue"
    return body, expect
