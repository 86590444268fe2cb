"""The configs shipped in deploy/ load, and the manifests reference each other correctly."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from shadowgate.config.loader import load_config

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"


def test_compose_config_loads() -> None:
    cfg = load_config(DEPLOY / "compose" / "shadowgate.yaml")
    assert [r.name for r in cfg.routes] == ["cancer"]
    assert cfg.server.admin_listen.startswith("0.0.0.0:")  # Prometheus scrapes it


def test_k8s_configmap_config_loads(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    doc = yaml.safe_load((DEPLOY / "k8s" / "configmap.yaml").read_text())
    path = tmp_path / "shadowgate.yaml"
    path.write_text(doc["data"]["shadowgate.yaml"])
    monkeypatch.setenv("SHADOWGATE_STORE_URL", "postgresql://sg@db.example/sg")
    monkeypatch.setenv("SHADOWGATE_ADMIN_TOKEN", "a-long-enough-token")
    cfg = load_config(path)
    assert cfg.store.url.startswith("postgresql://")


def test_deployment_reads_the_secret_and_probes_the_admin_port() -> None:
    dep = yaml.safe_load((DEPLOY / "k8s" / "deployment.yaml").read_text())
    spec = dep["spec"]["template"]["spec"]
    (container,) = spec["containers"]
    env = {e["name"]: e["valueFrom"]["secretKeyRef"] for e in container["env"]}
    secret = yaml.safe_load((DEPLOY / "k8s" / "secret.example.yaml").read_text())
    for ref in env.values():
        assert ref["name"] == secret["metadata"]["name"]
        assert ref["key"] in secret["stringData"]
    assert container["readinessProbe"]["httpGet"]["port"] == "admin"
    assert spec["securityContext"]["runAsNonRoot"] is True
    assert dep["spec"]["replicas"] > 1


def test_dashboard_is_provisioned_with_a_prometheus_datasource() -> None:
    dash = json.loads((DEPLOY / "grafana" / "shadowgate.json").read_text())
    assert dash["uid"] == "shadowgate"
    ds = yaml.safe_load(
        (DEPLOY / "grafana" / "provisioning" / "datasources" / "prometheus.yaml").read_text()
    )
    assert ds["datasources"][0]["type"] == "prometheus"
