"""A candidate that fails in every way a model server can: the client never notices.

One ``shadowgate serve`` process, one route per fault, all sharing a healthy production.
For each fault: every client answer is production's (status and body byte-for-byte),
client latency stays near the healthy route's, the stored outcome carries the candidate's
error class, and the route's errors check counts the failures against the candidate.
"""

from __future__ import annotations

import statistics
import time
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from reliability.procs import (
    RawServer,
    Serve,
    dumps,
    fifty_mb,
    hang,
    invalid_json,
    oip_ok,
    poll,
    reset_mid_response,
    server_error,
    slow_drip,
)
from shadowgate.store import open_store

pytestmark = pytest.mark.slow

N = 140  # past the harm tests' burn-in (128 pairs: the long-run variance needs 32 blocks)
CAND_TIMEOUT = 2.0
#: fault → the error class its outcomes must be stored with
EXPECTED = {
    "refused": "connect",
    "reset": "reset",
    "hang": "timeout",
    "e5xx": "5xx",
    "badjson": "invalid",
    "big": "too_large",
    "drip": "timeout",
}


def _route(name: str, prod: str, cand: str) -> dict[str, Any]:
    return {
        "name": name,
        "match": {"path_prefix": f"/{name}"},
        "production": {"url": prod, "timeout": "5s"},
        "candidate": {"url": cand, "timeout": f"{CAND_TIMEOUT}s"},
        "analysis": {"min_samples": 100_000, "interval": "100ms", "checks": [{"metric": "errors"}]},
    }


async def test_candidate_faults_never_reach_the_client(
    tmp_path: Path, upstream_factory: Any, refused_url: Any
) -> None:
    prod = await upstream_factory(oip_ok)
    healthy = await upstream_factory(oip_ok)
    raw = await RawServer(reset_mid_response).start()
    cands = {
        "refused": refused_url(),
        "reset": raw.url,
        "hang": (await upstream_factory(hang)).url,
        "e5xx": (await upstream_factory(server_error)).url,
        "badjson": (await upstream_factory(invalid_json)).url,
        "big": (await upstream_factory(fifty_mb)).url,
        "drip": (await upstream_factory(slow_drip(0.1))).url,
    }
    routes = [_route("ok", prod.url, healthy.url)]
    routes += [_route(name, prod.url, url) for name, url in cands.items()]
    serve = Serve(
        tmp_path,
        {
            "server": {"shutdown_timeout": "5s"},
            "store": {"url": "sqlite:///sg.db", "flush_interval": "20ms"},
            "routes": routes,
        },
    )
    await serve.start()
    latencies: dict[str, list[float]] = {}
    ids: dict[str, set[str]] = {}
    try:
        async with aiohttp.ClientSession() as s:
            for i in range(N):
                for name in ["ok", *cands]:
                    t0 = time.perf_counter()
                    async with s.post(
                        f"{serve.data}/{name}/v2/models/m/infer", data=dumps({"i": i})
                    ) as r:
                        body = await r.read()
                        assert r.status == 200, (name, r.status, body)
                        assert body == dumps(OIP_BODY), (name, body)
                        ids.setdefault(name, set()).add(r.headers["X-Request-Id"])
                    latencies.setdefault(name, []).append(time.perf_counter() - t0)

        base = statistics.median(latencies["ok"])
        for name in cands:
            med = statistics.median(latencies[name])
            # loose bound (a loaded 2-core machine): far below the candidate's 2 s timeout
            assert med < base + 0.25, (name, med, base)
            assert max(latencies[name]) < CAND_TIMEOUT * 0.75, (name, latencies[name])
            print(f"{name}: client p50 {med * 1000:.1f} ms (healthy {base * 1000:.1f} ms)")

        # the errors check counts every failure against the candidate: each faulty one is
        # rolled back on harm (harm needs no min_samples), the healthy one stays in shadow
        async def judged() -> bool:
            doc = (await serve.status())["routes"]
            ok = doc["ok"].get("rollout", {}).get("samples", {}).get("pairs") == N
            return ok and all(
                doc[n].get("rollout", {}).get("state") == "rolled_back" for n in cands
            )

        await poll(judged, timeout=CAND_TIMEOUT + 20)
        routes_doc = (await serve.status())["routes"]
        for name in cands:
            (errors,) = routes_doc[name]["rollout"]["checks"]
            # every pair is discordant against the candidate: the harm side decided
            assert errors["estimate"] == 1.0 and errors["verdict"] == "harm", (name, errors)
            assert errors["p_harm"] < 0.01 and errors["n"] <= N, (name, errors)
        (ok_errors,) = routes_doc["ok"]["rollout"]["checks"]
        assert ok_errors["estimate"] == 0.0 and ok_errors["p_harm"] == 1.0, ok_errors
        assert routes_doc["ok"]["rollout"]["state"] == "shadow"
    finally:
        code = await serve.stop()
        await raw.close()
    assert code == 0, serve.log()

    store = open_store(f"sqlite:///{tmp_path}/sg.db")
    await store.open()
    try:
        for name, kind in EXPECTED.items():
            rows = await store.read_outcomes(name, 0, 1000)
            # recorded until the rollback (what comes after is production's alone)
            stored = {r.record.request_id for r in rows}
            assert stored <= ids[name] and len(stored) >= 100, (name, len(stored))
            for r in rows:
                assert r.record.prod_status == 200 and r.record.prod_error is None
                assert r.record.cand_error == kind, (name, r.record)
        ok_rows = await store.read_outcomes("ok", 0, 1000)
        assert len(ok_rows) == N and all(r.record.cand_error is None for r in ok_rows)
    finally:
        await store.close()


OIP_BODY = {
    "model_name": "m",
    "outputs": [{"name": "y", "datatype": "FP32", "shape": [1], "data": [1.0]}],
}
