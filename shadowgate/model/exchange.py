"""What the data plane hands over after a request: raw bodies and timings, not yet parsed.

Parsing and comparing happen later, off the client's response path (see
``shadowgate.recording.recorder``), so these are plain containers.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

#: transport-level error classes the data plane can observe
TransportError = Literal["timeout", "connect", "reset", "too_large", "client_closed"]
#: every error class an outcome can carry (transport + response-level)
ErrorClass = Literal["timeout", "connect", "reset", "too_large", "client_closed", "5xx", "invalid"]


@dataclass(slots=True)
class Side:
    """One upstream's answer to one request (``status`` is None when it never answered)."""

    status: int | None
    latency: float | None  # seconds from sending the request to the end of the body
    body: bytes | None  # None when not captured (streamed, too large, or failed)
    content_type: str | None = None
    error: TransportError | None = None


@dataclass(slots=True)
class Exchange:
    """One client request and what production and/or the candidate answered.

    - ``kind="shadow"``: production served, candidate was mirrored; both sides present
      (``candidate.error`` says why a side failed). While baking after a promotion
      (``variant="candidate"``) the roles are reversed: the candidate served and
      production was mirrored as the reference; each answer stays in its own field.
    - ``kind="canary"``: ``variant`` served it; only that side is present.
    - ``kind="noise"``: production mirrored to production itself, to measure the
      disagreement floor; ``candidate`` holds the second production answer.
    """

    route: str
    request_id: str
    ts: float  # unix time the request arrived
    kind: Literal["shadow", "canary", "noise"]
    variant: Literal["production", "candidate"]
    method: str
    path: str
    request_body: bytes | None
    request_content_type: str | None
    segment: str | None
    production: Side | None
    candidate: Side | None
    #: canary only: the client chose the variant (``X-Shadowgate-Variant``), so the request
    #: says nothing about whether the configured split holds
    forced: bool = False
