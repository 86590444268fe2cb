"""Broken config edits applied to a running gateway: the old config keeps serving.

Each edit below breaks the file in one way an operator might. For each: requests are
still routed by the previous config, ``/api/status`` shows the located error
(``file:line: key.path: message``), ``shadowgate_config_reloads_total{result="error"}``
goes up by one, and ``shadowgate check-config`` exits 1 printing the same message.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from gwhelpers import write_config
from reliability.procs import metric_value, oip_ok, poll
from shadowgate.cli import main as cli_main

BASE = """\
server:
  listen: 127.0.0.1:0
  admin_listen: 127.0.0.1:0
  shutdown_timeout: 2s
store: 'sqlite:///:memory:'
routes:
  - name: m
    match: {path_prefix: /m}
    production: {url: PROD, timeout: 2s}
    candidate: {url: CAND, timeout: 2s}
    mode: shadow
    mirror: {percent: 100}
    canary: {weight: 0, steps: [5, 50]}
    analysis:
      alpha: 0.05
      min_samples: 200
      checks:
        - {metric: errors}
  - name: n
    match: {path_prefix: /n}
    production: {url: PROD}
    candidate: {url: CAND}
"""


def sub(old: str, new: str) -> Callable[[str], str]:
    def edit(text: str) -> str:
        assert old in text, old
        return text.replace(old, new, 1)

    return edit


#: (kind, edit, the key path and a phrase the message must contain)
EDITS: list[tuple[str, Callable[[str], str], str, str]] = [
    ("yaml-unclosed-brace", sub("{path_prefix: /m}", "{path_prefix: /m"), "", "invalid YAML"),
    ("yaml-tab-indent", sub("    mode: shadow", "\tmode: shadow"), "", "invalid YAML"),
    (
        "yaml-duplicate-key",
        sub("    mode: shadow", "    mode: shadow\n    mode: canary"),
        "routes[0].mode",
        "duplicate key",
    ),
    ("not-a-mapping", lambda t: "- just\n- a list\n", "", "must be a mapping"),
    (
        "type-int",
        sub("min_samples: 200", "min_samples: many"),
        "routes[0].analysis.min_samples",
        "integer",
    ),
    (
        "type-duration",
        sub("timeout: 2s}", "timeout: fast}"),
        "routes[0].production.timeout",
        "fast",
    ),
    (
        "type-bool-as-list",
        sub("  shutdown_timeout: 2s", "  log_sensitive: [yes]"),
        "server.log_sensitive",
        "bool",
    ),
    (
        "unknown-key-typo",
        sub("mirror: {percent", "mirorr: {percent"),
        "routes[0].mirorr",
        "did you mean 'mirror'",
    ),
    ("unknown-top-key", sub("store:", "stor:"), "stor", "did you mean 'store'"),
    ("duplicate-route-name", sub("name: n", "name: m"), "routes[1].name", "duplicate route name"),
    (
        "duplicate-prefix",
        sub("{path_prefix: /n}", "{path_prefix: /m}"),
        "routes[1].match.path_prefix",
        "also used by",
    ),
    (
        "prefix-without-slash",
        sub("{path_prefix: /n}", "{path_prefix: n}"),
        "routes[1].match.path_prefix",
        "must start with /",
    ),
    (
        "url-scheme",
        sub("candidate: {url: CAND}", "candidate: {url: 'ftp://127.0.0.1/x'}"),
        "routes[1].candidate.url",
        "http:// or https://",
    ),
    (
        "url-credentials",
        sub("candidate: {url: CAND}", "candidate: {url: 'http://u:pw@127.0.0.1:1'}"),
        "routes[1].candidate.url",
        "credentials",
    ),
    (
        "url-bad-port",
        sub("candidate: {url: CAND}", "candidate: {url: 'http://127.0.0.1:99999'}"),
        "routes[1].candidate.url",
        "port",
    ),
    ("weight-over-100", sub("weight: 0", "weight: 150"), "routes[0].canary.weight", "100"),
    (
        "mirror-percent-negative",
        sub("percent: 100", "percent: -5"),
        "routes[0].mirror.percent",
        "0",
    ),
    ("alpha-out-of-range", sub("alpha: 0.05", "alpha: 2"), "routes[0].analysis.alpha", ""),
    (
        "missing-env-var",
        sub("  shutdown_timeout: 2s", "  admin_token: ${SG_UNSET_VAR_7Q}"),
        "server.admin_token",
        "SG_UNSET_VAR_7Q",
    ),
    ("bad-mode", sub("mode: shadow", "mode: sideways"), "routes[0].mode", "shadow"),
    (
        "bad-metric",
        sub("{metric: errors}", "{metric: speed}"),
        "routes[0].analysis.checks[0].metric",
        "errors",
    ),
    (
        "bad-listen",
        sub("listen: 127.0.0.1:0", "listen: 127.0.0.1:http"),
        "server.listen",
        "invalid listen address",
    ),
    (
        "bad-store",
        sub("store: 'sqlite:///:memory:'", "store: mysql://db/x"),
        "store",
        "unsupported store",
    ),
    ("negative-timeout", sub("timeout: 2s}", "timeout: -1s}"), "routes[0].production.timeout", ""),
    (
        "samples-order",
        sub("min_samples: 200", "min_samples: 200\n      max_samples: 10"),
        "routes[0].analysis",
        "below min_samples",
    ),
]


async def test_broken_edits_keep_the_old_config_serving(
    tmp_path: Path,
    gateway_factory: Any,
    upstream_factory: Any,
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert len(EDITS) >= 20
    prod = await upstream_factory(oip_ok)
    cand = await upstream_factory(oip_ok)

    def fill(text: str) -> str:
        return text.replace("PROD", prod.url).replace("CAND", cand.url)

    gw = await gateway_factory(fill(BASE), watch_poll=0.02)
    path = gw.holder.path
    assert path is not None
    digest = gw.holder.current.digest()
    async with aiohttp.ClientSession() as s:
        for n, (kind, edit, key, phrase) in enumerate(EDITS, start=1):
            write_config(path, fill(edit(BASE)))

            async def reported(n: int = n) -> bool:
                return gw.holder.reloads_error == n

            await poll(reported, timeout=15)
            # the old config keeps serving: both routes still routed to production
            assert gw.holder.current.digest() == digest, kind
            for prefix in ("/m", "/n"):
                async with s.post(f"{gw.data_url}{prefix}/x", data=b"{}") as r:
                    assert r.status == 200, (kind, prefix, r.status)
            async with s.get(f"{gw.admin_url}/api/status") as r:
                cfg = (await r.json())["config"]
            assert cfg["digest"] == digest and cfg["last_reload"]["ok"] is False, kind
            errors: list[str] = cfg["last_reload"]["errors"]
            located = [e for e in errors if e.startswith(f"{path}:")]
            match = (
                [e for e in located if f" {key}:" in e and phrase in e]
                if key
                else [e for e in located if phrase in e]
            )
            assert match, (kind, errors)
            metrics = gw.metrics.exposition().decode()
            assert metric_value(metrics, "shadowgate_config_reloads_total", result="error") == n
            # check-config prints the same located message and exits 1
            capsys.readouterr()
            assert cli_main(["check-config", str(path)]) == 1, kind
            assert match[0] in capsys.readouterr().err, kind
    assert gw.holder.reloads_ok == 0
