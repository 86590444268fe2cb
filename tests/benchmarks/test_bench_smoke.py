"""The benchmark scripts still run end to end (tiny durations; the numbers are not checked)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
needs_tools = pytest.mark.skipif(
    shutil.which("nginx") is None or shutil.which("wrk") is None,
    reason="needs nginx and wrk (apt-get install nginx-light wrk)",
)


def _run(script: str, *args: str, timeout: float) -> None:
    cmd = [sys.executable, str(ROOT / "benchmarks" / script), *args]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, cwd=ROOT)
    assert done.returncode == 0, done.stderr[-3000:]


@pytest.mark.slow
@needs_tools
def test_proxy_benchmark_quick_mode_writes_every_table(tmp_path: Path) -> None:
    _run(
        "proxy.py",
        "--quick",
        "--fixed",
        "0.5",
        "--warmup",
        "0.2",
        "--out",
        str(tmp_path),
        timeout=110,
    )
    doc = json.loads((tmp_path / "proxy.json").read_text())
    s = doc["summary"]
    assert set(s["throughput"]) >= {"direct", "nginx-mirror", "aiohttp-mirror", "shadowgate"}
    assert all(r["rps"] > 0 for r in s["throughput"].values())
    assert s["candidates"]["shadowgate"]["dead_p99_ms"] > 0
    assert sum(ok is not None for _, ok in s["budgets"].values()) == 6
    assert "aa_change_pct" in s["candidates"]["shadowgate"]  # the noise floor, measured
    assert doc["machine"]["cpu"]
    assert "## Budgets" in (tmp_path / "proxy.md").read_text()


@pytest.mark.slow
@needs_tools
def test_memory_benchmark_runs(tmp_path: Path) -> None:
    _run("memory.py", "--requests", "500", "--out", str(tmp_path), timeout=110)
    doc = json.loads((tmp_path / "memory.json").read_text())
    assert set(doc["results"]) == {
        "slow/steady",
        "dead/steady",
        "slow/saturation",
        "dead/saturation",
    }
    assert all(r["requests"] >= 490 and r["end_mb"] > 0 for r in doc["results"].values())


@pytest.mark.slow
@needs_tools
def test_scaling_benchmark_runs(tmp_path: Path) -> None:
    out = tmp_path / "scaling"
    _run("scaling.py", "--quick", "--max-replicas", "2", "--out", str(out), timeout=150)
    rows = json.loads(out.with_suffix(".json").read_text())["rows"]
    assert [(r["shape"], r["n"]) for r in rows] == [
        ("workers", 1),
        ("workers", 2),
        ("replicas", 1),
        ("replicas", 2),
    ]
    assert all(r["rps"] > 0 and r["non_2xx"] == 0 for r in rows)
