"""tritonclient with its default (binary tensor) settings, through shadowgate, pairs.

Two in-process servers speak the Open Inference Protocol with Triton's binary tensor data
extension as Triton does: a request whose ``Inference-Header-Content-Length`` says where
the JSON header ends and the input bytes begin, and, since tritonclient asks for
``binary_data_output``, an answer in the same form. The client sees production's bytes;
the recorded pair decodes to per-row probabilities and agreement.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
import numpy as np
import pytest
from aiohttp import web

from conftest import UpstreamServer
from gwhelpers import config, route, until
from shadowgate.compare.outcome import build_outcome
from shadowgate.gateway import Gateway
from shadowgate.model.sink import MemorySink

httpclient = pytest.importorskip("tritonclient.http")

Factory = Callable[..., Awaitable[UpstreamServer]]
GatewayFactory = Callable[..., Awaitable[Gateway]]
ROWS, FEATURES = 32, 30


def triton(threshold: float) -> Callable[[web.Request], Awaitable[web.Response]]:
    """A Triton stand-in: P(class 1) = sigmoid(mean(x) - threshold), in binary if asked."""

    async def handler(request: web.Request) -> web.Response:
        body = await request.read()
        if request.path == "/v2/health/ready":
            return web.Response(status=200)
        if request.path != "/v2/models/m/infer":
            return web.json_response({"error": "unknown"}, status=404)
        length = request.headers.get("Inference-Header-Content-Length")
        n = int(length) if length is not None else len(body)
        header, raw = json.loads(body[:n]), body[n:]
        (x,) = header["inputs"]
        if "binary_data_size" in x.get("parameters", {}):
            values = np.frombuffer(raw[: x["parameters"]["binary_data_size"]], "<f4")
        else:
            values = np.asarray(x["data"], dtype="<f4")
        p1 = 1 / (1 + np.exp(-(values.reshape(x["shape"]).mean(axis=1) - threshold)))
        probs = np.stack([1 - p1, p1], axis=1).astype("<f4")
        out: dict[str, Any] = {"name": "probabilities", "datatype": "FP32", "shape": [ROWS, 2]}
        if header.get("parameters", {}).get("binary_data_output"):
            data = probs.tobytes()
            out["parameters"] = {"binary_data_size": len(data)}
            doc = json.dumps({"model_name": "m", "outputs": [out]}).encode()
            return web.Response(
                body=doc + data,
                content_type="application/octet-stream",
                headers={"Inference-Header-Content-Length": str(len(doc))},
            )
        out["data"] = probs.ravel().tolist()
        return web.json_response({"model_name": "m", "outputs": [out]})

    return handler


def infer(address: str, x: np.ndarray, binary: bool) -> tuple[np.ndarray, bool]:
    """One inference with tritonclient (its defaults unless ``binary`` is False)."""
    client = httpclient.InferenceServerClient(url=address)
    try:
        inp = httpclient.InferInput("x", list(x.shape), "FP32")
        if binary:
            inp.set_data_from_numpy(x)  # binary_data=True is the default
            outputs = None  # then the client asks for binary_data_output
        else:
            inp.set_data_from_numpy(x, binary_data=False)
            outputs = [httpclient.InferRequestedOutput("probabilities", binary_data=False)]
        result = client.infer("m", [inp], outputs=outputs, request_id="req-7")
        return result.as_numpy("probabilities"), client.is_server_ready()
    finally:
        client.close()


@pytest.mark.parametrize("binary", [True, False], ids=["binary", "json"])
async def test_tritonclient_defaults_pair_through_the_proxy(
    upstream_factory: Factory,
    gateway_factory: GatewayFactory,
    http: aiohttp.ClientSession,
    binary: bool,
) -> None:
    prod = await upstream_factory(triton(threshold=0.5))
    cand = await upstream_factory(triton(threshold=0.55))
    sink = MemorySink()
    r = route("m", "/v2/models/m", prod.url, cand.url, protocol="open-inference-v2")
    gw = await gateway_factory(config(r), sink=sink)
    x = np.random.default_rng(1).random((ROWS, FEATURES), dtype=np.float32)
    host, port = gw.data_address  # type: ignore[misc]
    probs, ready = await asyncio.to_thread(infer, f"{host}:{port}", x, binary)
    assert ready  # /v2/health/ready reaches production
    assert probs.shape == (ROWS, 2)

    await until(lambda: len(sink.items) == 1)
    (ex,) = sink.items
    assert ex.production is not None and ex.candidate is not None
    direct = prod.requests[0].body
    assert cand.requests[0].body == direct == ex.request_body  # forwarded byte for byte
    rec = build_outcome(ex, gw.holder.current.routes[0], "m-1")
    assert rec.prod_error is None and rec.cand_error is None, rec.extra
    assert rec.rows == ROWS
    assert rec.prod_pred is not None and rec.cand_pred is not None
    assert np.allclose(np.asarray(rec.prod_pred), probs)  # what the client decoded
    p_class = np.argmax(np.asarray(rec.prod_pred), axis=1)
    c_class = np.argmax(np.asarray(rec.cand_pred), axis=1)
    assert rec.agree == (p_class == c_class).tolist()
    assert rec.agree is not None and 0 < sum(rec.agree) < ROWS  # the two models differ on some rows
    assert rec.prob_gap is not None and len(rec.prob_gap) == ROWS
    assert "kind_mismatch" not in rec.extra

    # the answer too is production's, byte for byte, in the form it was asked for
    headers = {
        k: v for k, v in prod.requests[0].headers.items() if k.lower().startswith("inference-")
    }
    replies = []
    for url in (prod.url, gw.data_url):
        async with http.post(url + "/v2/models/m/infer", data=direct, headers=headers) as resp:
            assert resp.status == 200
            length = resp.headers.get("Inference-Header-Content-Length")
            replies.append((await resp.read(), length, resp.content_type))
    assert replies[1] == replies[0]
    assert (replies[0][1] is not None) is binary  # binary_data_output was asked for
