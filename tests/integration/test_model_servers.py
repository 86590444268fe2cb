"""Adapters against real model servers serving two scikit-learn models.

- **MLServer** (``mlserver`` + ``mlserver-sklearn`` from PyPI, Open Inference Protocol v2):
  two server processes on loopback, production serving a logistic regression and the
  candidate a decision tree under the same model name, as a real rollout would. Also
  through a real gateway with tritonclient's HTTP client in its JSON settings
  (``binary_data=False``: MLServer refuses Triton's binary tensor extension).
- **TF Serving, KServe v1, MLflow and a custom JSON API**: in-process aiohttp servers that
  answer with those protocols' documented request/response shapes, running the same models.

Every test sends a real batch request to both sides, builds the outcome as the recorder
would, and checks the per-row predictions and agreement against scikit-learn run locally.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import joblib
import numpy as np
import pytest
import yaml
from aiohttp import web
from aiohttp.test_utils import TestServer
from sklearn.datasets import load_breast_cancer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import log_loss
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.tree import DecisionTreeClassifier

from gwhelpers import config, free_port, until
from gwhelpers import route as route_dict
from shadowgate.app import attach_control
from shadowgate.compare.loss import paired_loss
from shadowgate.compare.outcome import build_outcome
from shadowgate.config import ConfigHolder, parse_config
from shadowgate.config.model import RouteConfig
from shadowgate.gateway import Gateway
from shadowgate.model.exchange import Exchange, Side

N = 40  # rows per batch request


@dataclass
class Models:
    prod: Pipeline
    cand: DecisionTreeClassifier
    X: np.ndarray
    y: np.ndarray

    def agree(self) -> list[bool]:
        return (self.prod.predict(self.X) == self.cand.predict(self.X)).tolist()


@pytest.fixture(scope="module")
def models() -> Models:
    X, y = load_breast_cancer(return_X_y=True)
    rng = np.random.default_rng(0)
    idx = rng.permutation(len(y))
    train, test = idx[:400], idx[400 : 400 + N]
    prod = make_pipeline(StandardScaler(), LogisticRegression()).fit(X[train], y[train])
    cand = DecisionTreeClassifier(max_depth=2, random_state=0).fit(X[train], y[train])
    m = Models(prod, cand, X[test], y[test])
    assert 0 < sum(not a for a in m.agree()) < N, "the models must disagree on some rows"
    return m


def route(protocol: str, **prediction: Any) -> RouteConfig:
    return RouteConfig.model_validate(
        {
            "name": "cancer",
            "match": {"path_prefix": "/"},
            "production": {"url": "http://127.0.0.1:1"},
            "candidate": {"url": "http://127.0.0.1:2"},
            "protocol": protocol,
            "prediction": prediction,
        }
    )


async def call(session: aiohttp.ClientSession, url: str, body: bytes) -> Side:
    start = time.perf_counter()
    async with session.post(url, data=body, headers={"Content-Type": "application/json"}) as r:
        data = await r.read()
        return Side(r.status, time.perf_counter() - start, data, r.content_type)


async def pair(
    prod_url: str, cand_url: str, request: dict[str, Any], cfg: RouteConfig, kind: Any = "shadow"
) -> Any:
    body = json.dumps(request).encode()
    async with aiohttp.ClientSession() as s:
        prod, cand = await call(s, prod_url, body), await call(s, cand_url, body)
    ex = Exchange(
        route="cancer",
        request_id=str(uuid.uuid4()),
        ts=time.time(),
        kind=kind,
        variant="production",
        method="POST",
        path="/",
        request_body=body,
        request_content_type="application/json",
        segment=None,
        production=prod,
        candidate=cand,
    )
    return build_outcome(ex, cfg, "rollout-1")


# -------------------------------------------------------------------------------- MLServer


def _start_mlserver(root: Path, model: Any, version: str) -> tuple[subprocess.Popen[bytes], str]:
    (root / "cancer").mkdir(parents=True)
    joblib.dump(model, root / "cancer" / "model.joblib")
    (root / "cancer" / "model-settings.json").write_text(
        json.dumps(
            {
                "name": "cancer",
                "implementation": "mlserver_sklearn.SKLearnModel",
                "parameters": {"uri": "./model.joblib", "version": version},
            }
        )
    )
    port = free_port()
    settings = {
        "host": "127.0.0.1",
        "http_port": port,
        "grpc_port": free_port(),
        "metrics_port": free_port(),
        "metrics_dir": str(root / "metrics"),
        "parallel_workers": 0,  # one process: nothing to fork, quick to stop
        "load_models_at_startup": True,
    }
    (root / "settings.json").write_text(json.dumps(settings))
    log = open(root / "server.log", "wb")  # noqa: SIM115 (closed with the process)
    cli = Path(sys.executable).with_name("mlserver")
    proc = subprocess.Popen(
        [str(cli), "start", str(root)],
        cwd=root,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
        env={**os.environ, "PYTHONWARNINGS": "ignore"},
    )
    log.close()
    return proc, f"http://127.0.0.1:{port}"


def _wait_ready(proc: subprocess.Popen[bytes], url: str, log: Path, timeout: float = 90) -> None:
    import urllib.request

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"MLServer exited with {proc.returncode}:\n{log.read_text()[-3000:]}")
        ready = f"{url}/v2/models/cancer/ready"
        with contextlib.suppress(OSError), urllib.request.urlopen(ready, timeout=1) as r:
            if r.status == 200:
                return
        time.sleep(0.2)
    pytest.fail(f"MLServer not ready after {timeout}s:\n{log.read_text()[-3000:]}")


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)  # the session this fixture started
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(5)


@pytest.fixture(scope="module")
def mlserver(models: Models, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """Production (v1, logistic regression) and candidate (v2, decision tree) MLServers."""
    for pkg in ("mlserver", "mlserver_sklearn"):
        if importlib.util.find_spec(pkg) is None:
            pytest.skip(f"{pkg} is not installed (pip install mlserver mlserver-sklearn)")
    procs: list[subprocess.Popen[bytes]] = []
    try:
        urls = {}
        roots = {}
        for name, model, version in (("prod", models.prod, "1"), ("cand", models.cand, "2")):
            root = tmp_path_factory.mktemp(f"mlserver-{name}")
            proc, url = _start_mlserver(root, model, version)
            procs.append(proc)
            urls[name], roots[name] = url, root
        for proc, name in zip(procs, ("prod", "cand"), strict=True):
            _wait_ready(proc, urls[name], roots[name] / "server.log")
        yield urls
    finally:
        for proc in procs:
            _stop(proc)


def oip_request(X: np.ndarray, outputs: list[str] | None = None) -> dict[str, Any]:
    req: dict[str, Any] = {
        "id": str(uuid.uuid4()),
        "inputs": [
            {"name": "x", "shape": list(X.shape), "datatype": "FP64", "data": X.ravel().tolist()}
        ],
    }
    if outputs:
        req["outputs"] = [{"name": o} for o in outputs]
    return req


async def test_mlserver_labels_batch_paired_row_by_row(
    mlserver: dict[str, str], models: Models
) -> None:
    infer = "/v2/models/cancer/infer"
    rec = await pair(
        mlserver["prod"] + infer,
        mlserver["cand"] + infer,
        oip_request(models.X),
        route("open-inference-v2"),
    )
    assert rec.prod_error is None and rec.cand_error is None, rec.extra
    assert rec.rows == N
    assert rec.prod_pred == models.prod.predict(models.X).tolist()
    assert rec.cand_pred == models.cand.predict(models.X).tolist()
    assert rec.agree == models.agree()


async def test_mlserver_probabilities_agree_by_argmax_with_gap(
    mlserver: dict[str, str], models: Models
) -> None:
    infer = "/v2/models/cancer/infer"
    cfg = route("open-inference-v2", output="predict_proba")
    rec = await pair(
        mlserver["prod"] + infer,
        mlserver["cand"] + infer,
        oip_request(models.X, ["predict_proba"]),
        cfg,
    )
    p, c = models.prod.predict_proba(models.X), models.cand.predict_proba(models.X)
    assert np.allclose(rec.prod_pred, p) and np.allclose(rec.cand_pred, c)
    assert rec.agree == (p.argmax(1) == c.argmax(1)).tolist()
    assert np.allclose(rec.prob_gap, np.abs(p - c).max(1))
    # labels arrive later: the paired loss is sklearn's log loss of each side
    scores = paired_loss(rec.prod_pred, rec.cand_pred, models.y.tolist(), "classification")
    assert scores.prod_loss == pytest.approx(log_loss(models.y, p))
    assert scores.cand_loss == pytest.approx(log_loss(models.y, c))


async def test_mlserver_production_against_itself_is_the_noise_floor(
    mlserver: dict[str, str], models: Models
) -> None:
    url = mlserver["prod"] + "/v2/models/cancer/infer"
    rec = await pair(url, url, oip_request(models.X), route("open-inference-v2"), kind="noise")
    assert rec.kind == "noise" and rec.agree == [True] * N  # ids differ, predictions do not


async def test_mlserver_bad_request_is_classified(mlserver: dict[str, str]) -> None:
    infer = "/v2/models/cancer/infer"
    bad = {"inputs": [{"name": "x", "shape": [1, 3], "datatype": "FP64", "data": [1, 2, 3]}]}
    rec = await pair(
        mlserver["prod"] + infer, mlserver["cand"] + infer, bad, route("open-inference-v2")
    )
    assert rec.prod_error in ("invalid", "5xx") and rec.cand_error in ("invalid", "5xx")
    assert rec.agree is None


# ------------------------------------------ tritonclient, JSON settings, through shadowgate


def _triton_json(address: str, X: np.ndarray, output: str) -> dict[str, Any]:
    """tritonclient's HTTP client with JSON tensors both ways (``binary_data=False``)."""
    import tritonclient.http as httpclient

    client = httpclient.InferenceServerClient(url=address)
    try:
        x = httpclient.InferInput("x", list(X.shape), "FP64")
        x.set_data_from_numpy(X, binary_data=False)
        out = httpclient.InferRequestedOutput(output, binary_data=False)
        result = client.infer("cancer", [x], outputs=[out], request_id="triton-json-1")
        return {
            "server_ready": client.is_server_ready(),
            "model_ready": client.is_model_ready("cancer"),
            "missing_ready": client.is_model_ready("no-such-model"),
            "id": result.get_response().get("id"),
            "values": result.as_numpy(output),
        }
    finally:
        client.close()


@pytest.mark.parametrize("output", ["predict", "predict_proba"])
async def test_tritonclient_json_settings_through_shadowgate_against_mlserver(
    mlserver: dict[str, str], models: Models, tmp_path: Path, output: str
) -> None:
    """Both real MLServers behind a real gateway: the client sees production's answer,
    the recorded pair holds each side's predictions as scikit-learn makes them, compared
    row by row; readiness reaches production through the proxy and is no pair."""
    pytest.importorskip("tritonclient.http")
    prediction = {"output": output}
    r = route_dict(
        "cancer",
        "/v2/models/cancer",
        mlserver["prod"],
        mlserver["cand"],
        protocol="open-inference-v2",
        prediction=prediction,
    )
    cfg = config(r)
    cfg["store"] = {"url": f"sqlite:///{tmp_path}/sg.db", "flush_interval": "20ms"}
    gw = Gateway(ConfigHolder(parse_config(yaml.safe_dump(cfg))), watch_config=False)
    control = attach_control(gw)
    await gw.start()
    try:
        address = gw.data_url.removeprefix("http://")
        got = await asyncio.to_thread(_triton_json, address, models.X, output)
        assert got["server_ready"] and got["model_ready"] and not got["missing_ready"]
        assert got["id"] == "triton-json-1"  # MLServer echoes tritonclient's request_id
        if output == "predict":
            assert got["values"].ravel().tolist() == models.prod.predict(models.X).tolist()
        else:
            assert np.allclose(got["values"], models.prod.predict_proba(models.X))

        async def stored() -> bool:
            return bool(await control.store.read_outcomes("cancer", 0, 10))

        await until(stored, timeout=10, what="the pair stored")
        await asyncio.sleep(0.2)  # readiness calls, had they been recorded, would be in too
        (row,) = await control.store.read_outcomes("cancer", 0, 10)
        rec = row.record
        assert rec.request_id == "triton-json-1"  # the body's id is the join key
        assert rec.kind == "shadow" and rec.rows == N
        assert rec.prod_error is None and rec.cand_error is None, rec.extra
        assert "kind_mismatch" not in rec.extra
        if output == "predict":
            assert rec.prod_pred == models.prod.predict(models.X).tolist()
            assert rec.cand_pred == models.cand.predict(models.X).tolist()
        else:
            p, c = models.prod.predict_proba(models.X), models.cand.predict_proba(models.X)
            assert np.allclose(rec.prod_pred, p) and np.allclose(rec.cand_pred, c)
            assert np.allclose(rec.prob_gap, np.abs(p - c).max(1))
        assert rec.agree == models.agree()
        assert 0 < rec.agree.count(False) < N  # the two models differ on some rows
    finally:
        await gw.stop()


# ------------------------------------------------- TF Serving, KServe v1, MLflow, custom JSON

FEATURES = [f"f{i}" for i in range(30)]


def _matrix(rows: Any) -> np.ndarray:
    """Rows as lists or as {feature: value} records → a feature matrix."""
    if rows and isinstance(rows[0], dict):
        return np.array([[r[f] for f in FEATURES] for r in rows], dtype=float)
    return np.array(rows, dtype=float)


def protocol_app(protocol: str, model: Any, version: str) -> web.Application:
    """A model server speaking one protocol, with the shapes its documentation gives."""

    def tf_like(req: dict[str, Any], scores: bool) -> web.Response:
        # TF Serving REST: row format in, row format out; columnar in, columnar out
        if "instances" in req:
            X = _matrix(req["instances"])
            out = model.predict_proba(X).tolist() if scores else model.predict(X).tolist()
            return web.json_response({"predictions": out, "model_version": version})
        if "inputs" in req:
            X = _matrix(req["inputs"])
            return web.json_response({"outputs": model.predict_proba(X).tolist()})
        return web.json_response({"error": "Missing 'instances' or 'inputs'"}, status=400)

    def mlflow(req: dict[str, Any]) -> web.Response:
        if "dataframe_split" in req:
            split = req["dataframe_split"]
            X = _matrix([dict(zip(split["columns"], r, strict=True)) for r in split["data"]])
        elif "dataframe_records" in req:
            X = _matrix(req["dataframe_records"])
        elif "instances" in req or "inputs" in req:
            X = _matrix(req.get("instances", req.get("inputs")))
        else:
            return web.json_response(
                {"error_code": "BAD_REQUEST", "message": "unknown input format"}, status=400
            )
        return web.json_response({"predictions": model.predict(X).tolist()})

    def custom(req: dict[str, Any]) -> web.Response:
        X = _matrix(req["features"])
        names = ["malignant", "benign"]
        results = [
            {"id": str(uuid.uuid4()), "label": names[int(k)], "probability": float(p.max())}
            for k, p in zip(model.predict(X), model.predict_proba(X), strict=True)
        ]
        doc = {
            "request_id": str(uuid.uuid4()),
            "timestamp": time.time(),
            "model_version": version,
            "results": results,
        }
        return web.json_response(doc)

    async def handle(request: web.Request) -> web.Response:
        req = await request.json()
        if protocol == "tfserving":
            return tf_like(req, scores=True)
        if protocol == "kserve-v1":
            return tf_like(req, scores=False)
        if protocol == "mlflow":
            return mlflow(req)
        return custom(req)

    app = web.Application()
    app.router.add_post("/v1/models/cancer:predict", handle)  # TF Serving, KServe v1
    app.router.add_post("/invocations", handle)  # MLflow
    app.router.add_post("/score", handle)  # a custom JSON API
    return app


@contextlib.asynccontextmanager
async def servers(protocol: str, models: Models) -> Any:
    prod = TestServer(protocol_app(protocol, models.prod, "1"), host="127.0.0.1")
    cand = TestServer(protocol_app(protocol, models.cand, "2"), host="127.0.0.1")
    await prod.start_server()
    await cand.start_server()
    try:
        yield str(prod.make_url("")), str(cand.make_url(""))
    finally:
        await prod.close()
        await cand.close()


def _requests(X: np.ndarray) -> dict[str, dict[str, Any]]:
    rows = X.tolist()
    return {
        "dataframe_split": {"dataframe_split": {"columns": FEATURES, "data": rows}},
        "dataframe_records": {
            "dataframe_records": [dict(zip(FEATURES, r, strict=True)) for r in rows]
        },
        "instances": {"instances": rows},
        "inputs": {"inputs": rows},
    }


async def test_tfserving_row_format_probabilities(models: Models) -> None:
    async with servers("tfserving", models) as (prod, cand):
        path = "/v1/models/cancer:predict"
        rec = await pair(
            prod + path, cand + path, {"instances": models.X.tolist()}, route("tfserving")
        )
    p, c = models.prod.predict_proba(models.X), models.cand.predict_proba(models.X)
    assert rec.rows == N and np.allclose(rec.prod_pred, p) and np.allclose(rec.cand_pred, c)
    assert rec.agree == models.agree()  # argmax of the probabilities is the predicted label
    assert np.allclose(rec.prob_gap, np.abs(p - c).max(1))


async def test_tfserving_columnar_format(models: Models) -> None:
    async with servers("tfserving", models) as (prod, cand):
        path = "/v1/models/cancer:predict"
        req = {"signature_name": "serving_default", "inputs": models.X.tolist()}
        rec = await pair(prod + path, cand + path, req, route("tfserving"))
    assert rec.rows == N and rec.agree == models.agree()


async def test_kserve_v1_labels(models: Models) -> None:
    async with servers("kserve-v1", models) as (prod, cand):
        path = "/v1/models/cancer:predict"
        rec = await pair(
            prod + path, cand + path, {"instances": models.X.tolist()}, route("kserve-v1")
        )
    assert rec.prod_pred == models.prod.predict(models.X).tolist()
    assert rec.cand_pred == models.cand.predict(models.X).tolist()
    assert rec.agree == models.agree()


@pytest.mark.parametrize("fmt", ["dataframe_split", "dataframe_records", "instances", "inputs"])
async def test_mlflow_invocations_every_input_format(models: Models, fmt: str) -> None:
    async with servers("mlflow", models) as (prod, cand):
        req = _requests(models.X)[fmt]
        rec = await pair(prod + "/invocations", cand + "/invocations", req, route("mlflow"))
    assert rec.rows == N
    assert rec.prod_pred == models.prod.predict(models.X).tolist()
    assert rec.agree == models.agree()


async def test_mlflow_error_answer_is_invalid(models: Models) -> None:
    async with servers("mlflow", models) as (prod, cand):
        rec = await pair(
            prod + "/invocations", cand + "/invocations", {"data": []}, route("mlflow")
        )
    assert rec.prod_error == rec.cand_error == "invalid" and rec.prod_status == 400


async def test_json_path_to_labels_ignores_ids_and_versions(models: Models) -> None:
    req = {"features": models.X.tolist()}
    async with servers("json", models) as (prod, cand):
        rec = await pair(
            prod + "/score", cand + "/score", req, route("json", path="results[*].label")
        )
        whole = route(
            "json", ignore_fields=["id", "request_id", "timestamp", "model_version", "probability"]
        )
        rec_whole = await pair(prod + "/score", cand + "/score", req, whole)
        noise = await pair(prod + "/score", prod + "/score", req, whole, kind="noise")
    assert rec.rows == N and rec.agree == models.agree()
    assert rec.prod_pred is not None and set(rec.prod_pred) <= {"malignant", "benign"}
    # the whole body is one prediction: it agrees only if every row's label does
    assert rec_whole.rows == 1 and rec_whole.agree == [all(models.agree())]
    # production against itself: fresh ids, timestamps and row ids, yet it agrees
    assert noise.agree == [True]
