"""Fuzzing what users type: the config loader and the feedback API (hypothesis).

The loader either returns a config or raises ``ConfigError`` whose every problem is
located (file and message); nothing else escapes. The feedback API, served by a real
gateway on loopback, answers any body with 200 or a 4xx that says why, never a 5xx.
"""

from __future__ import annotations

import asyncio
import http.client
import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gwhelpers import config, route, write_config
from shadowgate.app import attach_control
from shadowgate.config import ConfigHolder, load_config
from shadowgate.config.loader import parse_config
from shadowgate.config.model import ShadowgateConfig
from shadowgate.errors import ConfigError
from shadowgate.gateway import Gateway
from shadowgate.metrics import Metrics

VALID = config(
    route(
        "m",
        "/m",
        "http://127.0.0.1:9",
        "http://127.0.0.1:9",
        mirror={"percent": 50, "drop_headers": ["Authorization"]},
        canary={"weight": 0, "steps": [5, 50]},
        analysis={"min_samples": 200, "checks": [{"metric": "errors"}]},
    )
)

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**20), max_value=10**20),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=30),
    st.sampled_from(["1s", "-1s", "10%", "150%", "${NOPE}", "http://", "ftp://x", "0.0.0.0:x"]),
)
values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=12), inner, max_size=4)
    ),
    max_leaves=12,
)


def _paths(doc: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    yield prefix
    if isinstance(doc, dict):
        for k, v in doc.items():
            yield from _paths(v, (*prefix, k))
    elif isinstance(doc, list):
        for i, v in enumerate(doc):
            yield from _paths(v, (*prefix, i))


PATHS = [p for p in _paths(VALID) if p]


def _mutate(doc: Any, path: tuple[Any, ...], value: Any) -> Any:
    doc = json.loads(json.dumps(doc))
    cur = doc
    for part in path[:-1]:
        cur = cur[part]
    cur[path[-1]] = value
    return doc


def _check(text: str) -> None:
    try:
        cfg = parse_config(text, "fuzz.yaml")
    except ConfigError as exc:
        assert exc.problems, "ConfigError without problems"
        for p in exc.problems:
            assert p.file == "fuzz.yaml" and p.message, p
            assert str(p).startswith("fuzz.yaml")
    else:
        assert isinstance(cfg, ShadowgateConfig)


@settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
@given(path=st.sampled_from(PATHS), value=values)
def test_config_loader_mutated_valid_config(path: tuple[Any, ...], value: Any) -> None:
    text = yaml.safe_dump(_mutate(VALID, path, value), sort_keys=False, allow_unicode=True)
    _check(text)


@settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
@given(text=st.text(max_size=300))
def test_config_loader_arbitrary_text(text: str) -> None:
    _check(text)


@settings(max_examples=200, deadline=None, suppress_health_check=list(HealthCheck))
@given(cut=st.integers(min_value=0, max_value=2000), junk=st.sampled_from(["", ":", "- ", "\t"]))
def test_config_loader_truncated_and_spliced(cut: int, junk: str) -> None:
    text = yaml.safe_dump(VALID, sort_keys=False)
    _check(text[:cut] + junk + text[cut:][: cut // 2])


# -- the feedback API ----------------------------------------------------------------------


class _Background:
    """A gateway with its store and feedback API, running on its own loop in a thread."""

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.loop = asyncio.new_event_loop()
        self.gw: Gateway | None = None
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)

    def start(self) -> tuple[str, int]:
        self.thread.start()
        asyncio.run_coroutine_threadsafe(self._start(), self.loop).result(30)
        assert self.gw is not None and self.gw.admin_address is not None
        return self.gw.admin_address

    async def _start(self) -> None:
        path = self.tmp / "sg.yaml"
        cfg = dict(VALID)
        cfg["store"] = f"sqlite:///{self.tmp}/fb.db"
        write_config(path, cfg)
        gw = Gateway(ConfigHolder(load_config(path), path), metrics=Metrics())
        attach_control(gw, judge_enabled=False)
        await gw.start()
        self.gw = gw

    def stop(self) -> None:
        if self.gw is not None:
            asyncio.run_coroutine_threadsafe(self.gw.stop(), self.loop).result(30)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()


@pytest.fixture(scope="module")
def admin_address(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, int]]:
    bg = _Background(tmp_path_factory.mktemp("feedback"))
    try:
        yield bg.start()
    finally:
        bg.stop()


def _post(address: tuple[str, int], body: bytes) -> tuple[int, dict[str, Any]]:
    conn = http.client.HTTPConnection(*address, timeout=30)
    try:
        conn.request("POST", "/api/feedback", body, {"Content-Type": "application/json"})
        resp = conn.getresponse()
        return resp.status, json.loads(resp.read())
    finally:
        conn.close()


json_values = st.recursive(
    st.one_of(
        st.none(),
        st.booleans(),
        st.integers(),
        st.floats(allow_nan=True, allow_infinity=True),
        st.text(max_size=20),
    ),
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=10), inner, max_size=4)
    ),
    max_leaves=10,
)
items = st.fixed_dictionaries(
    {"request_id": st.one_of(st.text(max_size=40), json_values), "label": json_values}
)
bodies = st.one_of(
    items.map(lambda d: json.dumps(d).encode()),
    st.lists(items, max_size=5).map(lambda xs: json.dumps({"items": xs}).encode()),
    json_values.map(lambda v: json.dumps(v).encode()),
    st.binary(max_size=200),
    st.text(max_size=100).map(lambda t: t.encode("utf-8", "surrogatepass")),
)


@settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
@given(body=bodies)
def test_feedback_api_never_answers_5xx(admin_address: tuple[str, int], body: bytes) -> None:
    status, doc = _post(admin_address, body)
    assert status < 500, (status, doc, body[:200])
    if status >= 400:
        assert isinstance(doc.get("error"), str) and doc["error"], doc


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"{not json", "body is not valid JSON"),
        (b'{"request_id": "\xc3\x28"}', "not UTF-8"),
        (b"[1, 2]", "must be an object"),
        (b'{"request_id": "a"}', "label: is missing"),
        (b'{"request_id": "", "label": 1}', "request_id: must be a non-empty string"),
        (b'{"request_id": "a", "label": {"x": 1}}', "label: must be a number"),
        (b'{"request_id": "a", "label": 1, "extra": 2}', "unknown field 'extra'"),
        (b'{"items": 5}', "items: must be a list"),
        (b'{"items": [{"request_id": "a", "label": 1}, 7]}', "items[1]: must be an object"),
        (b"[" * 100_000 + b"]" * 100_000, "nested too deeply"),
    ],
)
def test_invalid_feedback_is_400_with_the_reason(
    admin_address: tuple[str, int], body: bytes, reason: str
) -> None:
    status, doc = _post(admin_address, body)
    assert status == 400, (status, doc)
    assert reason in doc["error"], doc
