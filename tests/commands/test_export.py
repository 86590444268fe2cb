"""``shadowgate export``: JSONL and CSV, labels joined, stable on a live store."""

from __future__ import annotations

import asyncio
import csv
import io
import json
from pathlib import Path

import pytest

from shadowgate.cli import main
from shadowgate.commands.export import COLUMNS, export_rows
from shadowgate.store import OutcomeRecord, open_store


def rec(rid: str, rollout: str = "r-1", route: str = "r") -> OutcomeRecord:
    return OutcomeRecord(
        route, rollout, rid, 5.0, "shadow", "production", 200, 0.01, rows=2,
        agree=[True, False], prod_pred=[1, 2], cand_pred=[1, 3], request_body=b"{}",
    )  # fmt: skip


def seed(url: str) -> None:
    async def go() -> None:
        s = open_store(url)
        await s.open()
        await s.insert_outcomes([rec(f"q{i}") for i in range(25)] + [rec("z", route="other")])
        await s.insert_outcomes([rec("n1", rollout="r-2")])
        await s.add_labels([("q3", [1, 2]), ("n1", [0, 0]), ("ghost", 1)])
        await s.add_labels([("q3", [1, 3])])
        await s.close()

    asyncio.run(go())


@pytest.fixture
def url(tmp_path: Path) -> str:
    u = f"sqlite:///{tmp_path}/e.db"
    seed(u)
    return u


def test_jsonl_to_stdout_joins_labels(url: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["export", "--store", url, "--route", "r", "--page-size", "4"]) == 0
    out, err = capsys.readouterr()
    rows = [json.loads(line) for line in out.splitlines()]
    assert [r["request_id"] for r in rows] == [f"q{i}" for i in range(25)] + ["n1"]
    assert [r["id"] for r in rows] == sorted(r["id"] for r in rows)
    q3 = rows[3]
    assert (q3["label"], q3["label_revision"]) == ([1, 3], 2)
    assert q3["agree"] == [True, False] and q3["request_body"] is None
    assert rows[0]["label"] is None
    assert list(rows[0]) == COLUMNS
    assert "exported 26 outcomes (2 labeled) of route r" in err


def test_csv_file_for_one_rollout_with_bodies(url: str, tmp_path: Path) -> None:
    out = tmp_path / "out.csv"
    args = ["export", "--store", url, "--route", "r", "--rollout", "r-2", "--format", "csv"]
    assert main([*args, "--out", str(out), "--bodies"]) == 0
    with out.open(encoding="utf-8") as f:
        (row,) = list(csv.DictReader(f))
    assert row["request_id"] == "n1" and row["label"] == "[0,0]" and row["request_body"] == "e30="
    assert row["prod_error"] == "" and row["rows"] == "2"


def test_labeled_only_and_config(
    url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cfg = tmp_path / "c.yaml"
    cfg.write_text(f"store: {url}\n", encoding="utf-8")
    assert main(["export", "--config", str(cfg), "--route", "r", "--labeled-only"]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [r["request_id"] for r in rows] == ["q3", "n1"]


def test_store_errors_exit_1(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = f"sqlite:///{tmp_path}/missing-dir/x.db"
    assert main(["export", "--store", bad, "--route", "r"]) == 1
    assert "export failed" in capsys.readouterr().err


async def test_export_on_a_live_store_is_a_clean_prefix(tmp_path: Path) -> None:
    store = open_store(f"sqlite:///{tmp_path}/live.db")
    await store.open()
    await store.insert_outcomes([rec(f"a{i}") for i in range(300)])
    stop = asyncio.Event()

    async def keep_writing() -> None:
        i = 0
        while not stop.is_set():
            await store.insert_outcomes([rec(f"b{i}-{k}") for k in range(20)])
            i += 1
            await asyncio.sleep(0)

    writer = asyncio.create_task(keep_writing())
    out = io.StringIO()
    await asyncio.sleep(0.01)
    n, _ = await export_rows(store, out, route="r", page_size=7)
    stop.set()
    await writer
    ids = [json.loads(line)["id"] for line in out.getvalue().splitlines()]
    assert n == len(ids) >= 300
    assert ids == list(range(1, n + 1))  # no gaps, no duplicates, ends at the start snapshot
    assert await store.max_outcome_id("r") > n  # the writer kept going past it
    await store.close()
