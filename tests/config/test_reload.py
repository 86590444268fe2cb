"""Live reload: valid edits swap atomically, invalid ones keep the running config."""

from __future__ import annotations

import asyncio
import contextlib
import subprocess
import sys
from pathlib import Path

import pytest

from gwhelpers import until
from shadowgate.config import ConfigHolder, ReloadResult, ShadowgateConfig, load_config, watch

GOOD = """\
routes:
  - name: m
    match: {path_prefix: /m}
    production: {url: "http://127.0.0.1:8001"}
    candidate: {url: "http://127.0.0.1:8002"}
    canary: {weight: WEIGHT}
"""


def write(path: Path, text: str) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(text)
    tmp.replace(path)


@pytest.fixture
def holder(tmp_path: Path) -> ConfigHolder:
    path = tmp_path / "c.yaml"
    write(path, GOOD.replace("WEIGHT", "10"))
    return ConfigHolder(load_config(path), path)


def weight(h: ConfigHolder) -> float:
    return h.current.routes[0].canary.weight


def test_valid_reload_swaps_and_notifies(holder: ConfigHolder) -> None:
    seen: list[tuple[float, float]] = []
    results: list[ReloadResult] = []

    def listener(old: ShadowgateConfig, new: ShadowgateConfig) -> None:
        seen.append((old.routes[0].canary.weight, new.routes[0].canary.weight))

    holder.subscribe(listener)
    holder.on_result = results.append
    before = holder.current
    assert holder.path is not None
    write(holder.path, GOOD.replace("WEIGHT", "50"))
    assert holder.reload().ok
    assert weight(holder) == 50 and seen == [(10, 50)]
    assert before.routes[0].canary.weight == 10  # snapshots are immutable
    assert [r.ok for r in results] == [True] and holder.reloads_ok == 1


@pytest.mark.parametrize(
    ("text", "expect"),
    [
        ("routes: [\n", "invalid YAML"),
        (GOOD.replace("WEIGHT", "'heavy'"), "routes[0].canary.weight: invalid percentage"),
        (GOOD.replace("WEIGHT", "10") + "    colour: red\n", "routes[0].colour: unknown key"),
    ],
)
def test_broken_reload_keeps_the_old_config(holder: ConfigHolder, text: str, expect: str) -> None:
    before = holder.current
    swaps: list[object] = []
    holder.subscribe(lambda old, new: swaps.append(new))
    assert holder.path is not None
    write(holder.path, text)
    result = holder.reload()
    assert not result.ok and holder.current is before and swaps == []
    assert holder.last_reload is result and holder.reloads_error == 1
    assert any(expect in e and e.startswith(f"{holder.path}:") for e in result.errors), result
    assert result.to_dict()["ok"] is False


def test_listener_bug_does_not_undo_a_valid_reload(holder: ConfigHolder) -> None:
    def broken(old: ShadowgateConfig, new: ShadowgateConfig) -> None:
        raise RuntimeError("bug")

    holder.subscribe(broken)
    assert holder.path is not None
    write(holder.path, GOOD.replace("WEIGHT", "20"))
    assert holder.reload().ok and weight(holder) == 20


async def test_watch_applies_edits_debounced_and_skips_broken_ones(holder: ConfigHolder) -> None:
    results: list[ReloadResult] = []
    holder.on_result = results.append
    assert holder.path is not None
    # an edit made before the watcher's first look is still picked up
    write(holder.path, GOOD.replace("WEIGHT", "30"))
    task = asyncio.create_task(watch(holder, poll=0.02, debounce=0.05))
    try:
        assert await until(lambda: weight(holder) == 30) < 2.0
        write(holder.path, "routes: [\n")
        await until(lambda: len(results) == 2)
        assert results[-1].ok is False and weight(holder) == 30
        await asyncio.sleep(0.2)
        assert len(results) == 2  # the same broken content is not re-reported
        write(holder.path, GOOD.replace("WEIGHT", "40"))
        await until(lambda: weight(holder) == 40)
        # a deleted file keeps the running config
        holder.path.unlink()
        await asyncio.sleep(0.2)
        assert weight(holder) == 40 and len(results) == 3
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


def test_check_config_prints_located_errors_and_exits_1(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(GOOD.replace("WEIGHT", "10") + "    mirorr: {}\n")
    out = subprocess.run(
        [sys.executable, "-m", "shadowgate.cli", "check-config", str(bad)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert out.returncode == 1
    assert f"{bad}:7: routes[0].mirorr: unknown key 'mirorr'; did you mean 'mirror'?" in out.stderr
    good = tmp_path / "good.yaml"
    good.write_text(GOOD.replace("WEIGHT", "10"))
    ok = subprocess.run(
        [sys.executable, "-m", "shadowgate.cli", "check-config", str(good)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert ok.returncode == 0 and "OK" in ok.stdout
