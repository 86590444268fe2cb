"""A failed upstream leaves one warning line; secrets appear in it only when asked for."""

from __future__ import annotations

import logging
from typing import Any

import aiohttp
import pytest

from gwhelpers import config, route

SECRET = "Bearer tok-6f1d9a"
BODY = b'{"ssn": "078-05-1120"}'


@pytest.mark.parametrize("sensitive", [False, True])
async def test_upstream_failure_is_logged_and_secrets_only_on_request(
    gateway_factory: Any,
    refused_url: Any,
    http: aiohttp.ClientSession,
    caplog: pytest.LogCaptureFixture,
    sensitive: bool,
) -> None:
    dead = refused_url()
    gw = await gateway_factory(
        config(route("m", "/m", dead, dead, mirror={"percent": 0}), log_sensitive=sensitive)
    )
    caplog.set_level(logging.INFO, logger="shadowgate")
    headers = {"Authorization": SECRET, "X-Request-Id": "req-42"}
    async with http.post(f"{gw.data_url}/m/predict?user=alice", data=BODY, headers=headers) as r:
        assert r.status == 502
    lines = [rec.getMessage() for rec in caplog.records if "upstream failed" in rec.getMessage()]
    assert len(lines) == 1
    line = lines[0]
    assert "route m: production upstream failed (connect)" in line
    assert "POST /m/predict" in line and "-> 502" in line and "req-42" in line
    if sensitive:
        assert SECRET in line and "078-05-1120" in line and "user=alice" in line
    else:
        assert "tok-6f1d9a" not in caplog.text
        assert "078-05-1120" not in caplog.text
        assert "alice" not in caplog.text  # query strings can carry personal data too
