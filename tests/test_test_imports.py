"""Tests import shared helpers the way ``make test`` can resolve them.

pytest puts ``tests/`` on ``sys.path`` (``tests/conftest.py``), so helpers are imported as
``gwhelpers``, ``pghelpers``, ``integration.test_rollout_e2e`` and so on. ``from tests.…``
only works when the repository root happens to be on ``sys.path`` too (``PYTHONPATH=.``),
which ``make test`` and CI do not set: such an import breaks collection there.
"""

from __future__ import annotations

import re
from pathlib import Path

TESTS = Path(__file__).resolve().parent


def test_no_test_imports_through_the_repository_root() -> None:
    bad = [
        f"{p.relative_to(TESTS.parent)}:{i}"
        for p in TESTS.rglob("*.py")
        for i, line in enumerate(p.read_text(encoding="utf-8").splitlines(), 1)
        if re.match(r"\s*(from|import) tests(\.|\b)", line)
    ]
    assert not bad, f"import these without the 'tests.' prefix: {bad}"
