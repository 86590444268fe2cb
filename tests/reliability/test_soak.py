"""A bounded soak in CI: ``benchmarks/soak.py`` for 40 s at half the measured maximum.

Zero client errors, flat memory (RSS growth after warm-up < 50 MB) and, after a graceful
stop, stored + dropped == pairs == mirrored. The 10-minute run is
``python benchmarks/soak.py --duration 600`` (results in benchmarks/results/soak.json).
"""

from __future__ import annotations

import importlib.util
import shutil
import sys
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.slow

SOAK = Path(__file__).resolve().parents[2] / "benchmarks" / "soak.py"


def _soak() -> Any:
    spec = importlib.util.spec_from_file_location("sg_soak", SOAK)
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    sys.modules["sg_soak"] = mod
    spec.loader.exec_module(mod)
    return mod


@pytest.mark.skipif(shutil.which("wrk") is None, reason="wrk missing: apt-get install wrk")
@pytest.mark.timeout(180)
def test_soak_at_half_max_is_clean_flat_and_accounted(tmp_path: Path) -> None:
    soak = _soak()
    r = soak.run(duration=40, probe=5, workdir=tmp_path)
    summary = {k: v for k, v in r.items() if k != "rss_samples"}
    print(summary)
    assert r["soak_requests"] > 0
    assert soak.passed(r) == [], summary
