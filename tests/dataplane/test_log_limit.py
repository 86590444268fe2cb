"""Repeated upstream failures: one warning line, then one line with how many more."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import aiohttp
import pytest

from gwhelpers import config, route
from shadowgate.dataplane.log_limit import RateLimitedLog


def test_same_kind_is_held_back_and_counted() -> None:
    now = [0.0]
    logger = logging.getLogger("shadowgate.test.limit")
    seen: list[str] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            seen.append(record.getMessage())

    h = Keep()
    logger.addHandler(h)
    try:
        limited = RateLimitedLog(logger, period=10.0, key_args=2, clock=lambda: now[0])
        for i in range(5):
            limited.warning("route %s: %s failed [request %s]", "m", "production", f"r{i}")
        limited.warning("route %s: %s failed [request %s]", "m", "candidate", "c0")  # other kind
        assert seen == [
            "route m: production failed [request r0]",
            "route m: candidate failed [request c0]",
        ]
        now[0] = 10.5  # no event loop here: the count comes with the next line of its kind
        limited.warning("route %s: %s failed [request %s]", "m", "production", "r9")
        assert seen[2:] == [
            "route m: production failed [request r4] (and 4 more like it in the last 10 s)",
            "route m: production failed [request r9]",
        ]
        limited.flush()
        assert len(seen) == 4  # the candidate's window had nothing held back
    finally:
        logger.removeHandler(h)


async def test_an_outage_logs_two_lines_not_one_per_request(
    gateway_factory: Any,
    refused_url: Any,
    http: aiohttp.ClientSession,
    caplog: pytest.LogCaptureFixture,
) -> None:
    dead = refused_url()
    gw = await gateway_factory(config(route("m", "/m", dead, dead, mirror={"percent": 0})))
    gw.proxy.failure_log.period = 2.0
    caplog.set_level(logging.INFO, logger="shadowgate")
    for _ in range(40):
        async with http.post(f"{gw.data_url}/m/predict", data=b"{}") as r:
            assert r.status == 502

    def lines() -> list[str]:
        return [x.getMessage() for x in caplog.records if "upstream failed" in x.getMessage()]

    for _ in range(100):  # the count is written when the period ends, by the event loop
        if len(lines()) >= 2:
            break
        await asyncio.sleep(0.05)
    got = lines()
    assert len(got) == 2, got
    assert "route m: production upstream failed (connect)" in got[0]
    assert got[1].endswith("(and 39 more like it in the last 2 s)")
