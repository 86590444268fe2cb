"""`make demo` installs only the demo extra; the dev extra has everything the demo needs."""

from __future__ import annotations

import shutil
import subprocess
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _requirement_names(reqs: list[str]) -> set[str]:
    return {r.split(">")[0].split("=")[0].split("<")[0].split(";")[0].strip() for r in reqs}


def test_dev_extra_includes_the_demo_extra() -> None:
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"][
        "optional-dependencies"
    ]
    assert _requirement_names(extras["demo"]) <= _requirement_names(extras["dev"])


@pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")
def test_make_demo_installs_the_demo_extra_into_its_own_stamp(tmp_path: Path) -> None:
    for name in ("Makefile", "pyproject.toml"):
        shutil.copy(ROOT / name, tmp_path / name)
    venv = tmp_path / "venv"
    out = subprocess.run(
        ["make", "-n", "-C", str(tmp_path), "demo", f"VENV={venv}"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "pip install --quiet -e '.[demo]'" in out
    assert ".[dev]" not in out
    assert f"touch {venv}/.demo-installed" in out
    assert f"{venv}/bin/shadowgate demo" in out
    # the stamp is the demo's own: a dev install's stamp does not stand in for it, and
    # a demo install does not make `make test` skip installing the dev tools
    test_out = subprocess.run(
        ["make", "-n", "-C", str(tmp_path), "venv", f"VENV={venv}"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "pip install --quiet -e '.[dev]'" in test_out
