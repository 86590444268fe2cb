"""Which calls are inference, per protocol, and which address the server itself."""

from __future__ import annotations

import pytest

from shadowgate.compare.calls import is_inference, is_server_call, knows_paths


@pytest.mark.parametrize(
    ("protocol", "method", "path", "inference"),
    [
        ("open-inference-v2", "POST", "/v2/models/cancer/infer", True),
        ("open-inference-v2", "POST", "/v2/models/cancer/versions/3/infer", True),
        ("open-inference-v2", "POST", "/v2/models/llm/generate", True),
        ("open-inference-v2", "GET", "/v2/models/cancer", False),  # metadata
        ("open-inference-v2", "GET", "/v2/models/cancer/ready", False),
        ("open-inference-v2", "GET", "/v2/models/cancer/infer", False),  # not a POST
        ("open-inference-v2", "POST", "/v2/repository/models/cancer/unload", False),
        ("kserve-v1", "POST", "/v1/models/cancer:predict", True),
        ("kserve-v1", "GET", "/v1/models/cancer", False),
        ("tfserving", "POST", "/v1/models/m/versions/2:classify", True),
        ("tfserving", "GET", "/v1/models/m/metadata", False),
        ("mlflow", "POST", "/invocations", True),
        ("mlflow", "GET", "/ping", False),
        ("json", "GET", "/anything", True),
    ],
)
def test_inference_calls_per_protocol(
    protocol: str, method: str, path: str, inference: bool
) -> None:
    assert is_inference(protocol, method, path) is inference  # type: ignore[arg-type]


def test_server_calls() -> None:
    assert is_server_call("open-inference-v2", "/v2/health/ready")
    assert is_server_call("open-inference-v2", "/v2/health/live/")
    assert is_server_call("open-inference-v2", "/v2")
    assert not is_server_call("open-inference-v2", "/v2/models/m/ready")
    assert is_server_call("mlflow", "/ping")
    assert not is_server_call("json", "/v2/health/ready")
    assert knows_paths("tfserving") and not knows_paths("json")
