"""Header rewriting between client, proxy and upstream (RFC 9110 §7.6.1 hop-by-hop)."""

from __future__ import annotations

from multidict import CIMultiDict, CIMultiDictProxy

#: headers that concern one connection only, never forwarded either way
HOP_BY_HOP: frozenset[str] = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "proxy-connection",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
    }
)
#: not copied to the upstream request: the client sets them for the upstream connection
_REQUEST_SKIP = HOP_BY_HOP | {"host", "content-length"}
#: not copied to the client response: the server frames the body itself
_RESPONSE_SKIP = HOP_BY_HOP | {"content-length"}

X_REQUEST_ID = "X-Request-Id"
X_FORWARDED_FOR = "X-Forwarded-For"
X_FORWARDED_PROTO = "X-Forwarded-Proto"
X_FORWARDED_HOST = "X-Forwarded-Host"
X_MIRROR = "X-Shadowgate-Mirror"
X_VARIANT = "X-Shadowgate-Variant"


def _connection_tokens(headers: CIMultiDictProxy[str]) -> set[str] | None:
    """Extra hop-by-hop names a sender listed in ``Connection`` (rare; None when absent)."""
    conn = headers.get("Connection")
    if not conn:
        return None
    tokens = {t.strip().lower() for t in conn.split(",")}
    tokens -= {"close", "keep-alive"}
    return tokens or None


def upstream_request_headers(
    headers: CIMultiDictProxy[str],
    request_id: str,
    peer: str | None,
    scheme: str,
) -> CIMultiDict[str]:
    """Client headers minus hop-by-hop, plus X-Forwarded-* and X-Request-Id."""
    extra = _connection_tokens(headers)
    out: CIMultiDict[str] = CIMultiDict()
    for k, v in headers.items():
        lk = k.lower()
        if lk in _REQUEST_SKIP or (extra is not None and lk in extra):
            continue
        out.add(k, v)
    if peer:
        prior = out.get(X_FORWARDED_FOR)
        out[X_FORWARDED_FOR] = f"{prior}, {peer}" if prior else peer
    if X_FORWARDED_PROTO not in out:
        out[X_FORWARDED_PROTO] = scheme
    host = headers.get("Host")
    if host and X_FORWARDED_HOST not in out:
        out[X_FORWARDED_HOST] = host
    out[X_REQUEST_ID] = request_id
    return out


def mirror_request_headers(headers: CIMultiDict[str], drop: frozenset[str]) -> CIMultiDict[str]:
    """The production request's headers for the mirror: minus ``drop``, plus the marker."""
    out = CIMultiDict((k, v) for k, v in headers.items() if k.lower() not in drop)
    out[X_MIRROR] = "1"
    return out


def client_response_headers(headers: list[tuple[str, str]], request_id: str) -> CIMultiDict[str]:
    """Upstream response headers (raw lines) minus hop-by-hop and framing, plus
    X-Request-Id."""
    keep: list[tuple[str, str]] = []
    extra: set[str] | None = None
    for k, v in headers:
        lk = k.lower()
        if lk in _RESPONSE_SKIP:
            if lk == "connection":
                extra = {t.strip().lower() for t in v.split(",")} - {"close", "keep-alive"}
            continue
        if lk != "x-request-id":
            keep.append((k, v))
    if extra:
        keep = [(k, v) for k, v in keep if k.lower() not in extra]
    keep.append((X_REQUEST_ID, request_id))
    return CIMultiDict(keep)
