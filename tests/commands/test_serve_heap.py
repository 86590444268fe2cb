"""``settle_heap``: what ``shadowgate serve`` does to the garbage collector after start-up."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from shadowgate.commands.serve import GC_THRESHOLD, settle_heap


@pytest.fixture
def restore_gc() -> Iterator[None]:
    before = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*before)


def _tracked(obj: object) -> bool:
    """Whether the collector would walk ``obj`` in a collection of any generation."""
    return any(o is obj for o in gc.get_objects())


def test_start_up_objects_are_frozen_and_young_collections_are_rare(restore_gc: None) -> None:
    gc.unfreeze()
    start_up = [object()]  # stands for the modules, config and compiled code
    assert _tracked(start_up)
    settle_heap()
    # frozen: no collection walks what existed at start-up ...
    assert not _tracked(start_up)
    # ... while what a request allocates afterwards is collected as usual
    later = [object()]
    assert any(o is later for o in gc.get_objects(generation=0))
    # young collections wait for many times CPython's default of 700 net allocations
    assert gc.get_threshold() == GC_THRESHOLD
    assert GC_THRESHOLD[0] >= 50 * 700 // 2
    before = gc.get_stats()[0]["collections"]
    alive = [[i] for i in range(GC_THRESHOLD[0] // 2)]
    assert gc.get_stats()[0]["collections"] == before
    del alive
