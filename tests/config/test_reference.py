"""The config reference documents exactly the keys the model accepts."""

from __future__ import annotations

import re
from pathlib import Path

from shadowgate.config.reference import key_paths

DOC = Path(__file__).resolve().parents[2] / "docs" / "configuration.md"


def documented() -> set[str]:
    keys = set()
    for line in DOC.read_text().splitlines():
        m = re.match(r"^\| `([a-z_.\[\]]+)` \|", line)
        if m:
            keys.add(m.group(1))
    return keys


def test_every_config_key_is_documented() -> None:
    missing = set(key_paths()) - documented()
    assert not missing, f"document these keys in docs/configuration.md: {sorted(missing)}"


def test_every_documented_key_exists() -> None:
    unknown = documented() - set(key_paths())
    assert not unknown, f"docs/configuration.md documents unknown keys: {sorted(unknown)}"
