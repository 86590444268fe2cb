"""A lean HTTP/1.1 client for talking to upstreams: asyncio protocols and llhttp.

Every request the proxy forwards costs one client request to production and, when
mirrored, a second one to the candidate, so the client is on the hottest path twice.
A general-purpose client pays there for what a proxy never uses (URL objects, cookie jars,
redirects, tracing, automatic headers, per-request timer contexts). This one does only
what forwarding needs, in four modules:

- ``pool.py``: keep-alive pools per upstream, bounded, with an idle limit that honours
  ``Keep-Alive: timeout=N``, and one repeat of a request whose reused connection was reset
  before any answer byte (``Pool``);
- ``upstream_conn.py``: one connection, the request head written in one piece (with the
  body when small), the answer parsed by llhttp (``httptools``) with read and write flow
  control, the exchange's timestamps taken in the protocol callbacks;
- ``response.py``: the answer (``Response``: status, raw headers, the body whole or chunk
  by chunk, ``t_sent``/``t_first_byte``/``t_done``) and the errors (``UpstreamError``
  with the transport class the recorder stores, ``BodyTooLarge``);
- ``timeout.py``: one deadline per request (connect, send, answer and body), enforced by
  one timer that aborts the connection (``Timeout``), and the clock.

Bytes pass through unchanged: no decompression, no header normalisation, and header values
are re-encoded exactly as the server side decoded them (UTF-8 with surrogate escapes).
This module keeps the names callers import.
"""

from shadowgate.http.pool import IDLE_TIMEOUT, Pool
from shadowgate.http.response import BodyTooLarge, ErrorKind, Response, UpstreamError
from shadowgate.http.timeout import Timeout

__all__ = [
    "IDLE_TIMEOUT",
    "BodyTooLarge",
    "ErrorKind",
    "Pool",
    "Response",
    "Timeout",
    "UpstreamError",
]
