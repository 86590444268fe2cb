"""A real model server: Open Inference Protocol v2 over aiohttp, a scikit-learn model inside.

The model is trained at start-up on the Wisconsin breast-cancer data that scikit-learn
ships (569 tumours, 30 measurements, malignant or benign), split once with a fixed seed
so every process agrees on which rows are held out. The variants tell a plausible story:

- ``production``: logistic regression on the ten "mean" measurements (the v1 model);
- ``better``: logistic regression on all 30 measurements (really more accurate on the
  held-out rows: :func:`holdout_accuracy` shows it, a test asserts it);
- ``worse``: logistic regression on two measurements (radius and texture) only;
- ``slower``: the production model, 50% more inference time;
- ``broken``: the production model, answering 500 to 8% of requests;
- ``same``: the production model, unchanged.

Every server simulates a model's inference time (``--delay-ms``, lognormal jitter) on
top of the real ``predict_proba``, so latency comparisons have something to measure.
Run one per process: ``python -m shadowgate.demo.models --kind production --port 0``
prints ``listening on http://127.0.0.1:PORT`` once it accepts requests.

Endpoints: ``POST /v2/models/{name}/infer``, ``GET /v2/models/{name}``,
``GET /v2/models/{name}/ready``, ``GET /v2/health/ready``, ``GET /v2/health/live``.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import random
import signal
import sys
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any

import numpy as np
from aiohttp import web

SCENARIOS: tuple[str, ...] = ("better", "worse", "slower", "broken", "same", "regress")
KINDS: tuple[str, ...] = ("production", *SCENARIOS)
#: the split every process agrees on (train 50%, hold out 50%, stratified)
SPLIT_SEED = 0
N_FEATURES = 30
MEAN_FEATURES = tuple(range(10))  # "mean radius" ... "mean fractal dimension"
ALL_FEATURES = tuple(range(N_FEATURES))
RADIUS_TEXTURE = (0, 1)


@dataclass(frozen=True)
class Variant:
    """What a model server of one kind serves and how it behaves."""

    kind: str
    features: tuple[int, ...]
    version: str
    delay_factor: float = 1.0
    error_rate: float = 0.0
    description: str = ""
    #: failure rate of the requests it serves live (not mirrored: no X-Shadowgate-Mirror),
    #: i.e. once promoted; a model that breaks under real traffic
    live_error_rate: float = 0.0


VARIANTS: dict[str, Variant] = {
    "production": Variant(
        "production", MEAN_FEATURES, "v1", description="logistic regression, 10 mean features"
    ),
    "better": Variant(
        "better", ALL_FEATURES, "v2", description="logistic regression, all 30 features"
    ),
    "worse": Variant(
        "worse", RADIUS_TEXTURE, "v2", description="logistic regression, radius and texture only"
    ),
    "slower": Variant(
        "slower", MEAN_FEATURES, "v2", 1.5, description="the production model, 50% slower"
    ),
    "broken": Variant(
        "broken",
        MEAN_FEATURES,
        "v2",
        error_rate=0.08,
        description="the production model, 8% of requests fail with 500",
    ),
    "same": Variant("same", MEAN_FEATURES, "v2", description="the production model, unchanged"),
    "regress": Variant(
        "regress",
        ALL_FEATURES,
        "v2",
        live_error_rate=0.2,
        description="the better model while mirrored; 20% of requests fail once it serves live",
    ),
}


@dataclass(frozen=True)
class Split:
    x_train: np.ndarray[Any, np.dtype[np.float64]]
    y_train: np.ndarray[Any, np.dtype[np.int64]]
    x_test: np.ndarray[Any, np.dtype[np.float64]]
    y_test: np.ndarray[Any, np.dtype[np.int64]]
    feature_names: tuple[str, ...]


@cache
def dataset() -> Split:
    """The fixed train/held-out split of the breast-cancer data (labels: 0 malignant)."""
    from sklearn.datasets import load_breast_cancer
    from sklearn.model_selection import train_test_split

    data = load_breast_cancer()
    x = np.asarray(data.data, dtype=np.float64)
    y = np.asarray(data.target, dtype=np.int64)
    xtr, xte, ytr, yte = train_test_split(x, y, test_size=0.5, random_state=SPLIT_SEED, stratify=y)
    return Split(xtr, ytr, xte, yte, tuple(str(n) for n in data.feature_names))


class Model:
    """A fitted scikit-learn pipeline that reads only its variant's columns."""

    def __init__(self, variant: Variant) -> None:
        from sklearn.linear_model import LogisticRegression
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import StandardScaler

        self.variant = variant
        self.columns = list(variant.features)
        split = dataset()
        self.pipeline = make_pipeline(StandardScaler(), LogisticRegression(max_iter=5000))
        self.pipeline.fit(split.x_train[:, self.columns], split.y_train)

    def predict_proba(self, x: np.ndarray[Any, np.dtype[np.float64]]) -> np.ndarray[Any, Any]:
        return np.asarray(self.pipeline.predict_proba(x[:, self.columns]), dtype=np.float64)


def holdout_accuracy(kind: str) -> float:
    """Accuracy of a variant's model on the held-out rows the traffic generator replays."""
    split = dataset()
    proba = Model(VARIANTS[kind]).predict_proba(split.x_test)
    return float(np.mean(proba.argmax(axis=1) == split.y_test))


class BadRequest(ValueError):
    """The request does not follow the Open Inference Protocol v2 (answered with 400)."""


def parse_inputs(doc: Any) -> np.ndarray[Any, np.dtype[np.float64]]:
    """The ``[rows, 30]`` matrix of an OIP v2 request (flat row-major or nested ``data``)."""
    if not isinstance(doc, dict) or not isinstance(doc.get("inputs"), list) or not doc["inputs"]:
        raise BadRequest("the request needs 'inputs': a non-empty list of tensors")
    tensor = doc["inputs"][0]
    if not isinstance(tensor, dict) or "data" not in tensor:
        raise BadRequest("inputs[0] needs 'name', 'shape', 'datatype' and 'data'")
    try:
        x = np.asarray(tensor["data"], dtype=np.float64).reshape(-1, N_FEATURES)
    except (TypeError, ValueError):
        raise BadRequest(f"inputs[0].data must hold rows of {N_FEATURES} numbers") from None
    shape = tensor.get("shape")
    if shape is not None and list(shape) != [x.shape[0], N_FEATURES]:
        raise BadRequest(f"inputs[0].shape {shape} does not match its data {list(x.shape)}")
    return x


def infer_response(name: str, version: str, proba: np.ndarray[Any, Any]) -> dict[str, Any]:
    """Two outputs, as MLServer's sklearn runtime answers: the class and its probabilities."""
    rows = int(proba.shape[0])
    return {
        "model_name": name,
        "model_version": version,
        "id": uuid.uuid4().hex,
        "outputs": [
            {
                "name": "label",
                "shape": [rows],
                "datatype": "INT64",
                "data": [int(i) for i in proba.argmax(axis=1)],
            },
            {
                "name": "probabilities",
                "shape": [rows, int(proba.shape[1])],
                "datatype": "FP64",
                "data": [round(float(p), 6) for p in proba.ravel()],
            },
        ],
    }


class ModelServer:
    """The request handlers of one variant (``build_app`` mounts them)."""

    def __init__(self, kind: str, name: str = "cancer", delay_ms: float = 8.0, seed: int = 0):
        self.variant = VARIANTS[kind]
        self.name = name
        self.model = Model(self.variant)
        self.delay = delay_ms / 1000.0 * self.variant.delay_factor
        self.rng = random.Random(seed)
        self.served = 0

    def _think_time(self) -> float:
        # lognormal around the mean: a model server's inference time is right-skewed
        sigma = 0.25
        return self.delay * math.exp(self.rng.gauss(0.0, sigma) - sigma * sigma / 2)

    async def infer(self, request: web.Request) -> web.Response:
        if request.match_info["name"] != self.name:
            return _error(404, f"unknown model {request.match_info['name']!r}")
        try:
            x = parse_inputs(await request.json())
        except (BadRequest, ValueError) as exc:
            return _error(400, str(exc))
        self.served += 1
        if self.delay > 0:
            await asyncio.sleep(self._think_time())
        error_rate = self.variant.error_rate
        if self.variant.live_error_rate and request.headers.get("X-Shadowgate-Mirror") != "1":
            error_rate = self.variant.live_error_rate  # serving live: after the promotion
        if error_rate and self.rng.random() < error_rate:
            return _error(500, "inference failed: the model raised an internal error")
        proba = self.model.predict_proba(x)
        return web.json_response(infer_response(self.name, self.variant.version, proba))

    async def metadata(self, request: web.Request) -> web.Response:
        if request.match_info["name"] != self.name:
            return _error(404, f"unknown model {request.match_info['name']!r}")
        return web.json_response(
            {
                "name": self.name,
                "versions": [self.variant.version],
                "platform": "sklearn",
                "description": self.variant.description,
                "inputs": [{"name": "input-0", "datatype": "FP64", "shape": [-1, N_FEATURES]}],
                "outputs": [
                    {"name": "label", "datatype": "INT64", "shape": [-1]},
                    {"name": "probabilities", "datatype": "FP64", "shape": [-1, 2]},
                ],
            }
        )

    async def ready(self, request: web.Request) -> web.Response:
        return web.json_response({"ready": True})


def _error(status: int, message: str) -> web.Response:
    return web.json_response({"error": message}, status=status)


def build_app(server: ModelServer) -> web.Application:
    app = web.Application()
    app.router.add_post("/v2/models/{name}/infer", server.infer)
    app.router.add_get("/v2/models/{name}", server.metadata)
    app.router.add_get("/v2/models/{name}/ready", server.ready)
    app.router.add_get("/v2/health/ready", server.ready)
    app.router.add_get("/v2/health/live", server.ready)
    return app


async def serve(server: ModelServer, host: str, port: int) -> None:
    """Listen until SIGTERM/SIGINT; print the bound URL once ready (read by ``demo``)."""
    runner = web.AppRunner(build_app(server), access_log=None, shutdown_timeout=1.0)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()
    sockets = getattr(site._server, "sockets", None) or []
    bound = int(sockets[0].getsockname()[1]) if sockets else port
    print(f"listening on http://{host}:{bound}", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        await runner.cleanup()


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m shadowgate.demo.models",
        description="Serve a scikit-learn demo model over the Open Inference Protocol v2.",
    )
    p.add_argument("--kind", choices=KINDS, default="production")
    p.add_argument("--name", default="cancer", help="model name in /v2/models/{name}")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=0, help="0 picks a free port (printed)")
    p.add_argument("--delay-ms", type=float, default=8.0, help="mean simulated inference time")
    p.add_argument("--seed", type=int, default=0, help="seed of the jitter and error draws")
    args = p.parse_args(argv)
    server = ModelServer(args.kind, args.name, args.delay_ms, args.seed)
    try:
        asyncio.run(serve(server, args.host, args.port))
    except OSError as exc:
        print(f"cannot listen on {args.host}:{args.port}: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
