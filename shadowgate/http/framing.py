"""How an answer to a client is framed: its length or chunking, and ``Connection``.

Pure functions of the request's head and the answer's status and headers; the state
table (``connection.py``) decides whether the connection may be kept, these write it.
"""

from __future__ import annotations

from multidict import CIMultiDict

from shadowgate.http.events import RequestHead
from shadowgate.http.reply import Reply, render_head

_NO_BODY_STATUS = frozenset({204, 304})


def bodyless(req: RequestHead, status: int) -> bool:
    """True when the answer to ``req`` carries no body (HEAD, 1xx, 204, 304)."""
    return status in _NO_BODY_STATUS or status < 200 or req.method == "HEAD"


def _connection(req: RequestHead, keep: bool) -> str:
    if not keep:
        return "Connection: close\r\n"
    return "Connection: keep-alive\r\n" if req.version == "1.0" else ""


def whole(req: RequestHead, reply: Reply, keep: bool) -> bytes:
    """A whole answer's bytes, head and body, framed by ``Content-Length``."""
    body = reply.body
    status = reply.status
    if status in _NO_BODY_STATUS or status < 200 or req.method == "HEAD":
        extra = ""
        body = b""
    else:
        if "Content-Length" in reply.headers:
            del reply.headers["Content-Length"]  # framed here, from the body
        extra = f"Content-Length: {len(body)}\r\n"
    if not keep:
        extra += "Connection: close\r\n"
    elif req.version == "1.0":
        extra += "Connection: keep-alive\r\n"
    head = render_head(status, reply.reason, reply.headers, extra)
    return head + body if body else head


def stream_head(
    req: RequestHead,
    status: int,
    reason: str | None,
    headers: CIMultiDict[str],
    content_length: int | None,
    keep: bool,
) -> tuple[bytes, bool, bool]:
    """A streamed answer's head: (bytes, chunked, keep). Without a length the body is
    chunked (HTTP/1.1) or ends with the connection (HTTP/1.0, so not kept)."""
    chunked = False
    extra = ""
    if bodyless(req, status):
        pass
    elif content_length is not None:
        extra = f"Content-Length: {content_length}\r\n"
    elif req.version == "1.1":
        extra = "Transfer-Encoding: chunked\r\n"
        chunked = True
    else:
        keep = False
    return render_head(status, reason, headers, extra + _connection(req, keep)), chunked, keep
