"""Security: who can reach the admin API, what the logs and the candidate may see.

- the admin API has its own listener, on localhost unless configured otherwise;
- mutations need ``Authorization: Bearer <server.admin_token>`` when one is set, checked in
  constant time (``hmac.compare_digest``); reads do not;
- no admin path is served on the data port: it routes them like any other path;
- logs never contain request bodies or ``Authorization`` values, even at debug level and
  on error paths;
- ``mirror.drop_headers`` never reach the candidate;
- upstream URLs must be http(s), with a host and no credentials (and the error message
  does not repeat the password).
"""

from __future__ import annotations

import hmac
import logging
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import yaml

from gwhelpers import config, route, write_config
from reliability.procs import oip_ok, poll, server_error
from shadowgate.admin import api as admin_module
from shadowgate.app import attach_control
from shadowgate.config import ConfigHolder, load_config
from shadowgate.config.loader import parse_config
from shadowgate.config.model import ServerConfig
from shadowgate.errors import ConfigError
from shadowgate.gateway import Gateway
from shadowgate.metrics import Metrics

TOKEN = "tok-3f9a7c1e5b"
SECRET_AUTH = "Bearer SECRET-AUTH-5d1c"
SECRET_BODY = b'{"inputs": "SECRET-BODY-77aa"}'


@pytest.fixture
async def controlled(tmp_path: Path) -> AsyncIterator[Any]:
    """A gateway with the store, judge and admin API attached, stopped at teardown."""
    gws: list[Gateway] = []

    async def make(cfg: dict[str, Any]) -> Gateway:
        path = tmp_path / "sg.yaml"
        cfg = {**cfg, "store": f"sqlite:///{tmp_path}/sg.db"}
        write_config(path, cfg)
        gw = Gateway(ConfigHolder(load_config(path), path), metrics=Metrics(), watch_poll=0.05)
        attach_control(gw)
        await gw.start()
        gws.append(gw)
        return gw

    yield make
    for gw in gws:
        await gw.stop()


def test_admin_listens_on_localhost_by_default() -> None:
    assert ServerConfig().admin_listen.startswith("127.0.0.1:")
    assert ServerConfig().listen != ServerConfig().admin_listen


ADMIN_PATHS = [
    ("GET", "/metrics"),
    ("GET", "/healthz"),
    ("GET", "/readyz"),
    ("GET", "/api/status"),
    ("POST", "/api/feedback"),
    ("POST", "/api/routes/m/promote"),
    ("POST", "/api/routes/m/rollback"),
]


async def test_no_admin_path_on_the_data_port(controlled: Any, upstream_factory: Any) -> None:
    prod = await upstream_factory(oip_ok)
    gw = await controlled(config(route("m", "/m", prod.url, prod.url)))
    async with aiohttp.ClientSession() as s:
        for method, path in ADMIN_PATHS:
            async with s.request(method, gw.data_url + path, data=b"{}") as r:
                doc = await r.json()
                assert r.status == 404 and doc["error"] == "no_route", (path, doc)
                assert "shadowgate_" not in await r.text()
    # with a catch-all route the same paths go to production, never to the admin app
    gw2 = await controlled(config(route("all", "/", prod.url, prod.url)))
    async with aiohttp.ClientSession() as s:
        for method, path in ADMIN_PATHS:
            async with s.request(method, gw2.data_url + path, data=b"{}") as r:
                assert r.status == 200 and (await r.json())["outputs"], path
    assert [q.path_qs for q in prod.requests if q.headers.get("X-Shadowgate-Mirror") is None][
        -len(ADMIN_PATHS) :
    ] == [p for _, p in ADMIN_PATHS]


async def test_admin_token_guards_mutations_in_constant_time(
    controlled: Any, upstream_factory: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[tuple[str, str]] = []
    real = hmac.compare_digest

    def spy(a: str, b: str) -> bool:
        calls.append((a, b))
        return real(a, b)

    monkeypatch.setattr(admin_module.hmac, "compare_digest", spy)
    prod = await upstream_factory(oip_ok)
    gw = await controlled(config(route("m", "/m", prod.url, prod.url), admin_token=TOKEN))
    base = gw.admin_url
    async with aiohttp.ClientSession() as s:
        for headers in [{}, {"Authorization": "Bearer wrong-token"}, {"Authorization": TOKEN}]:
            for path in ["/api/routes/m/pause", "/api/feedback"]:
                async with s.post(base + path, json={}, headers=headers) as r:
                    assert r.status == 401, (path, headers, r.status)
                    assert r.headers["WWW-Authenticate"] == "Bearer"
        async with s.get(base + "/api/status") as r:
            assert r.status == 200  # reads need no token
        good = {"Authorization": f"Bearer {TOKEN}"}
        async with s.post(base + "/api/routes/m/pause", headers=good) as r:
            assert r.status == 200, await r.text()
        async with s.get(base + "/api/status") as r:
            assert (await r.json())["routes"]["m"]["rollout"]["state"] == "paused"
    assert calls and all(b == TOKEN for _, b in calls)
    assert ("wrong-token", TOKEN) in calls


async def test_logs_never_contain_bodies_or_authorization(
    controlled: Any,
    upstream_factory: Any,
    refused_url: Any,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    prod = await upstream_factory(oip_ok)
    bad = await upstream_factory(server_error)
    gw = await controlled(
        config(
            route("ok", "/ok", prod.url, bad.url),
            route("down", "/down", refused_url(), refused_url()),
            route("err", "/err", bad.url, prod.url),
        )
    )
    headers = {"Authorization": SECRET_AUTH, "X-Api-Key": "SECRET-KEY-1b2c"}
    async with aiohttp.ClientSession() as s:
        for prefix in ["/ok", "/down", "/err", "/nowhere"]:
            for _ in range(3):
                async with s.post(gw.data_url + prefix + "/x", data=SECRET_BODY, headers=headers):
                    pass
        for body in [SECRET_BODY, b"{SECRET-BODY-77aa", b'{"request_id": "SECRET-BODY-77aa"}']:
            async with s.post(gw.admin_url + "/api/feedback", data=body, headers=headers):
                pass
    await gw.stop()
    text = caplog.text
    assert text, "nothing was logged: the test would prove nothing"
    for secret in ["SECRET-AUTH", "SECRET-KEY", "SECRET-BODY"]:
        assert secret not in text, secret


async def test_mirror_drop_headers_never_reach_the_candidate(
    gateway_factory: Any, upstream_factory: Any
) -> None:
    prod = await upstream_factory(oip_ok)
    cand = await upstream_factory(oip_ok)
    r = route(
        "m", "/m", prod.url, cand.url, mirror={"drop_headers": ["Authorization", "X-Api-Key"]}
    )
    gw = await gateway_factory(config(r))
    headers = {"Authorization": SECRET_AUTH, "X-Api-Key": "k", "X-Keep": "1"}
    async with aiohttp.ClientSession() as s:
        for _ in range(5):
            async with s.post(gw.data_url + "/m/x", data=b"{}", headers=headers) as resp:
                assert resp.status == 200

    async def mirrored() -> bool:
        return len(cand.requests) == 5

    await poll(mirrored)
    for q in cand.requests:
        assert "Authorization" not in q.headers and "X-Api-Key" not in q.headers
        assert q.headers["X-Keep"] == "1" and q.headers["X-Shadowgate-Mirror"] == "1"
    for q in prod.requests:
        assert q.headers["Authorization"] == SECRET_AUTH and q.headers["X-Api-Key"] == "k"


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("http://user:hunter2pw@127.0.0.1:8000", "credentials"),
        ("https://:hunter2pw@model.internal", "credentials"),
        ("http://user:hunter2pw@127.0.0.1:notaport", "bad port"),
        ("ftp://127.0.0.1/model", "http:// or https://"),
        ("file:///etc/passwd", "http:// or https://"),
        ("unix:///var/run/model.sock", "http:// or https://"),
        ("127.0.0.1:8000", "http:// or https://"),
        ("http://", "no host"),
        ("http://127.0.0.1:8000/#frag", "fragment"),
    ],
)
def test_upstream_urls_are_validated_without_echoing_passwords(url: str, reason: str) -> None:
    doc = config(route("m", "/m", "http://127.0.0.1:1", url))
    with pytest.raises(ConfigError) as err:
        parse_config(yaml.safe_dump(doc), "sg.yaml")
    msg = str(err.value)
    assert "routes[0].candidate.url" in msg and reason in msg, msg
    assert "hunter2pw" not in msg
