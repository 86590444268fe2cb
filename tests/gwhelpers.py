"""Helpers for gateway tests: config dicts on free loopback ports, atomic config writes.

Importable from any test (``from gwhelpers import config, route``): pytest puts
``tests/`` on ``sys.path`` because of ``tests/conftest.py``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml


def route(name: str, prefix: str, production: str, candidate: str, **extra: Any) -> dict[str, Any]:
    """A route dict for ``config()``; ``extra`` keys are merged in (e.g. mode, mirror)."""
    r: dict[str, Any] = {
        "name": name,
        "match": {"path_prefix": prefix},
        "production": {"url": production, "timeout": "2s"},
        "candidate": {"url": candidate, "timeout": "2s"},
    }
    r.update(extra)
    return r


def config(*routes: dict[str, Any], **server: Any) -> dict[str, Any]:
    """A whole config dict listening on free loopback ports."""
    srv = {"listen": "127.0.0.1:0", "admin_listen": "127.0.0.1:0", "shutdown_timeout": "2s"}
    srv.update(server)
    return {"server": srv, "store": "sqlite:///:memory:", "routes": list(routes)}


def write_config(path: Path, cfg: dict[str, Any] | str) -> None:
    text = cfg if isinstance(cfg, str) else yaml.safe_dump(cfg, sort_keys=False)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)  # atomic, like a ConfigMap update: the watcher never sees half a file


def dumps(doc: Any) -> bytes:
    return json.dumps(doc).encode()
