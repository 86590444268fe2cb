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


def test_start_up_objects_are_frozen_and_young_collections_are_rare(restore_gc: None) -> None:
    gc.unfreeze()
    settle_heap()
    assert gc.get_freeze_count() > 10_000  # modules, config, compiled code
    assert gc.get_threshold() == GC_THRESHOLD
    # objects in flight (here: 5 000 live containers, like ~100 mirrors' worth) no longer
    # trigger young collections every few hundred allocations
    before = gc.get_stats()[0]["collections"]
    alive = [[i] for i in range(5_000)]
    assert gc.get_stats()[0]["collections"] == before
    del alive
