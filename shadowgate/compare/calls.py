"""Which calls are inference, per protocol, and which belong to the server rather than a model.

Only inference calls are evidence about a model: they are mirrored, recorded and judged.
Everything else a client sends on a model's path (metadata, readiness, model control)
is passed to production alone and answered as production answers it:

- ``open-inference-v2``: inference ``POST …/infer``, ``…/generate``, ``…/generate_stream``;
  server-wide ``/v2``, ``/v2/health/live``, ``/v2/health/ready``
- ``kserve-v1``: ``POST …:predict``
- ``tfserving``: ``POST …:predict``, ``…:classify``, ``…:regress``
- ``mlflow``: ``POST /invocations``; server-wide ``/ping``, ``/health``, ``/version``
- ``json``: every call (the protocol says nothing about paths)

Server-wide calls name no model, so no route's prefix matches them; the data plane sends
them to the production of the route marked ``match: {server_calls: true}``, else of the
first route (in config order) whose protocol has them. Pure: strings in, booleans out.
"""

from __future__ import annotations

from shadowgate.config.model import Protocol

#: the last path segment (or ``:verb`` suffix) of an inference call, per protocol
_INFERENCE_ENDINGS: dict[str, tuple[str, ...]] = {
    "open-inference-v2": ("/infer", "/generate", "/generate_stream"),
    "kserve-v1": (":predict",),
    "tfserving": (":predict", ":classify", ":regress"),
    "mlflow": ("/invocations",),
}

#: paths that address the server itself, per protocol (exact, without a trailing slash)
_SERVER_PATHS: dict[str, frozenset[str]] = {
    "open-inference-v2": frozenset({"/v2", "/v2/health/live", "/v2/health/ready"}),
    "mlflow": frozenset({"/ping", "/health", "/version"}),
}


def knows_paths(protocol: Protocol) -> bool:
    """Whether the protocol tells inference from other calls (all but ``json`` do)."""
    return protocol in _INFERENCE_ENDINGS


def is_inference(protocol: Protocol, method: str, path: str) -> bool:
    """Whether a call is a prediction request under ``protocol`` (``path`` without query).

    Under ``json`` every call is, as the protocol names no paths.
    """
    endings = _INFERENCE_ENDINGS.get(protocol)
    if endings is None:
        return True
    return method == "POST" and path.rstrip("/").endswith(endings)


def is_server_call(protocol: Protocol, path: str) -> bool:
    """Whether ``path`` addresses the model server itself (health, server metadata)."""
    paths = _SERVER_PATHS.get(protocol)
    return paths is not None and (path.rstrip("/") or "/") in paths
