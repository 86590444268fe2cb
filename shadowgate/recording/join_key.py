"""The key labels join on, read from the request body where the route says so.

Clients that can neither send nor read headers (tritonclient's result object exposes no
response headers; MLflow's scoring client sends none) can still carry an id in the body:
the Open Inference Protocol has a request ``id`` (tritonclient's ``request_id=`` sets it,
MLServer echoes it), and any JSON protocol can point ``request_id.body`` at a field. When
the body carries a value there, the outcome is stored under it, the data plane's
``X-Request-Id`` is kept in ``extra["header_request_id"]``.

This runs on the recording path, never on the client's: the data plane does not parse
bodies for it. Bodies that cannot contain the key (a cheap byte search for its last name)
are not looked at; the others are read from the decode the recorder shares between its
readers (a body the outcome builder already decoded is not decoded again); with Triton's
binary tensor extension only the JSON header is parsed.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

import jmespath
from jmespath.exceptions import JMESPathError

from shadowgate.compare.decoded import DecodedExchange
from shadowgate.compare.protocols import loads
from shadowgate.config.model import RouteConfig
from shadowgate.model.exchange import Exchange
from shadowgate.model.outcome import OutcomeRecord

#: longest id kept, as for X-Request-Id; longer values are refused (noted on the record)
MAX_LENGTH = 200
_NAMES = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$")


def _may_contain(body: bytes, path: str) -> bool:
    """False when ``body`` certainly has no value at ``path`` (a dotted name path only)."""
    if not _NAMES.match(path):
        return True
    last = path.rsplit(".", 1)[-1]
    return f'"{last}"'.encode() in body


_DECODER = json.JSONDecoder()


def _json_head(body: bytes, parse: Callable[[], Any]) -> Any:
    """The JSON document a body begins with: the whole body (``parse()``), or the JSON header
    of Triton's binary tensor extension (raw tensor bytes follow it; they are not looked at)."""
    try:
        return parse()
    except ValueError:
        if not body.lstrip().startswith(b"{"):
            raise
    doc, _ = _DECODER.raw_decode(body.decode("utf-8", "surrogateescape").lstrip())
    return doc


def body_key(
    body: bytes | None, path: str, parse: Callable[[], Any] | None = None
) -> tuple[str | None, str | None]:
    """(the id at ``path`` in a JSON ``body``, or None; why a found value was refused).

    ``parse()`` stands for ``loads(body)``: a decode shared with the body's other readers.
    """
    if not body or not _may_contain(body, path):
        return None, None
    try:
        doc = _json_head(body, parse or (lambda: loads(body)))
        found = jmespath.search(path, doc)
    except (ValueError, RecursionError, JMESPathError):
        return None, None  # not JSON: the header id stays
    if found is None or found == "":
        return None, None
    if isinstance(found, bool) or not isinstance(found, str | int):
        kind = type(found).__name__
        return None, f"request_id.body {path!r} found a {kind}, not a string or an integer"
    text = str(found)
    if len(text) > MAX_LENGTH:
        return (
            None,
            f"request_id.body {path!r} found an id of {len(text)} characters (max {MAX_LENGTH})",
        )
    return text, None


def apply_join_key(
    record: OutcomeRecord,
    exchange: Exchange,
    route: RouteConfig,
    decoded: DecodedExchange | None = None,
) -> None:
    """Store ``record`` under the body's id when the route reads one and the body has it."""
    path = route.request_id.body_path(route.protocol)
    if path is None:
        return
    parse = decoded.request if decoded is not None else None
    try:
        key, refused = body_key(exchange.request_body, path, parse)
    except Exception as exc:  # a bug must cost the body key, never the record
        key, refused = None, f"request_id.body {path!r} failed: {type(exc).__name__}"
    if refused is not None:
        record.extra["join_key_error"] = f"{refused}; labels join on X-Request-Id instead"
    if key is not None and key != record.request_id:
        record.extra["header_request_id"] = record.request_id
        record.request_id = key
