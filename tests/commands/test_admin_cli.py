"""The admin CLI finds the admin API (and its token) from the server's config file."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

from gwhelpers import config, route, write_config
from shadowgate.app import attach_control
from shadowgate.cli import main
from shadowgate.config import ConfigHolder, load_config, parse_config
from shadowgate.gateway import Gateway

TOKEN = "cli-token-1"


@pytest.fixture
async def admin_port(tmp_path: Path, upstream_factory: Any) -> AsyncIterator[int]:
    """A running gateway with its admin API on a free loopback port."""
    up = await upstream_factory()
    cfg = config(route("m", "/m", up.url, up.url), admin_token=TOKEN)
    cfg["store"] = f"sqlite:///{tmp_path}/cli.db"
    gw = Gateway(ConfigHolder(parse_config(yaml.safe_dump(cfg))), watch_config=False)
    attach_control(gw, judge_enabled=False)
    await gw.start()
    port = urlsplit(gw.admin_url).port
    assert port is not None
    yield port
    await gw.stop()


def client_config(tmp_path: Path, admin_listen: str, token: str = "${CLI_TEST_TOKEN}") -> Path:
    """The config file as an operator has it: a wildcard listen address, the token by env."""
    path = tmp_path / "shadowgate.yaml"
    cfg = config(
        route("m", "/m", "http://127.0.0.1:1", "http://127.0.0.1:2"),
        admin_listen=admin_listen,
        admin_token=token,
    )
    write_config(path, cfg)
    return path


async def run(*argv: str) -> int:
    return await asyncio.to_thread(main, list(argv))


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("SHADOWGATE_ADMIN", "SHADOWGATE_ADMIN_TOKEN", "SHADOWGATE_CONFIG"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("CLI_TEST_TOKEN", TOKEN)


async def test_config_gives_address_and_token(
    admin_port: int, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = client_config(tmp_path, f"0.0.0.0:{admin_port}")  # dialled as 127.0.0.1
    assert await run("status", "--json", "--config", str(path)) == 0
    doc = json.loads(capsys.readouterr().out)
    assert list(doc["routes"]) == ["m"]
    # the token comes from the config (its ${CLI_TEST_TOKEN}): the action is allowed
    assert await run("pause", "m", "--config", str(path)) == 0
    assert "m: paused" in capsys.readouterr().out


async def test_shadowgate_config_env_and_admin_flag_precedence(
    admin_port: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: Any
) -> None:
    path = client_config(tmp_path, f"0.0.0.0:{admin_port}")
    monkeypatch.setenv("SHADOWGATE_CONFIG", str(path))
    assert await run("resume", "m") == 1  # found the server; shadow cannot be resumed
    assert "HTTP 409" in capsys.readouterr().err
    assert await run("pause", "m") == 0
    assert "m: paused" in capsys.readouterr().out
    # --admin wins over the config's address
    assert await run("status", "--admin", "http://127.0.0.1:9", "--config", str(path)) == 2
    assert "cannot reach the admin API at http://127.0.0.1:9" in capsys.readouterr().err
    # $SHADOWGATE_ADMIN wins over $SHADOWGATE_CONFIG, an explicit --config over both
    monkeypatch.setenv("SHADOWGATE_ADMIN", "http://127.0.0.1:9")
    assert await run("status") == 2
    capsys.readouterr()
    assert await run("status", "--json", "--config", str(path)) == 0
    assert json.loads(capsys.readouterr().out)["routes"]["m"]["name"] == "m"


async def test_a_wrong_token_in_the_config_is_refused_and_token_flag_wins(
    admin_port: int, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = client_config(tmp_path, f"0.0.0.0:{admin_port}", token="not-the-token")
    assert await run("pause", "m", "--config", str(path)) == 1
    assert "HTTP 401" in capsys.readouterr().err
    assert await run("pause", "m", "--config", str(path), "--token", TOKEN) == 0


async def test_an_invalid_config_says_where_and_calls_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("server:\n  admin_listen: nowhere\nroutes: []\n", encoding="utf-8")
    assert await run("status", "--config", str(path)) == 2
    err = capsys.readouterr().err
    assert f"{path}:2: server.admin_listen: invalid listen address 'nowhere'" in err
    assert "cannot read the admin API's address" in err


def test_wildcard_hosts_are_dialled_on_loopback(tmp_path: Path) -> None:
    from shadowgate.commands.admin import admin_from_config

    for listen, url in (
        ("0.0.0.0:9191", "http://127.0.0.1:9191"),
        ("[::]:9191", "http://[::1]:9191"),
        ("10.1.2.3:9191", "http://10.1.2.3:9191"),
    ):
        assert admin_from_config(str(client_config(tmp_path, listen)))[0] == url


async def test_status_shows_the_warnings_of_the_last_reload(
    tmp_path: Path, upstream_factory: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    up = await upstream_factory()
    path = tmp_path / "served.yaml"
    cfg = config(route("m", "/m", up.url, up.url))
    cfg["store"] = f"sqlite:///{tmp_path}/w.db"
    write_config(path, cfg)
    gw = Gateway(ConfigHolder(load_config(path), path), watch_config=False)
    attach_control(gw, judge_enabled=False)
    await gw.start()
    try:
        cfg["routes"][0]["canary"] = {"weight": 0.2}
        write_config(path, cfg)
        assert gw.holder.reload().ok
        assert await run("status", "--admin", gw.admin_url) == 0
        lines = capsys.readouterr().out.splitlines()
        [warning] = [line for line in lines if line.startswith("config warning:")]
        assert f"{path}:" in warning and "routes[0].canary.weight: weight: 0.2 reads" in warning
    finally:
        await gw.stop()
