"""The report renders from a real store: the HTML holds every plot as an embedded PNG."""

from __future__ import annotations

import asyncio
import base64
import random
import re
from pathlib import Path

import pytest

from shadowgate.cli import main
from shadowgate.report.build import write_report
from shadowgate.store import AuditRecord, JudgeState, OutcomeRecord, open_store

IMG = re.compile(r'<img alt="([^"]*)" src="data:image/png;base64,([A-Za-z0-9+/=]+)"')
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


async def fill_store(url: str, n: int = 600) -> str:
    """A shadow rollout whose candidate is slower and less accurate, then a rollback."""
    rng = random.Random(3)
    store = open_store(url)
    await store.open()
    t0 = 1_700_000_000.0
    rid = await store.start_rollout("cancer", "http://cand#v2", "digest", t0)
    records, labels = [], []
    for i in range(n):
        truth = rng.randrange(2)
        p_right = rng.random() < 0.95
        c_right = rng.random() < 0.85
        prod = [0.9, 0.1] if (truth == 0) == p_right else [0.1, 0.9]
        cand = [0.8, 0.2] if (truth == 0) == c_right else [0.2, 0.8]
        failed = rng.random() < 0.02
        records.append(
            OutcomeRecord(
                route="cancer",
                rollout_id=rid,
                request_id=f"r{i}",
                ts=t0 + i * 0.02,
                kind="shadow",
                variant="production",
                prod_status=200,
                prod_latency=rng.lognormvariate(-4.6, 0.25),
                cand_status=500 if failed else 200,
                cand_latency=rng.lognormvariate(-4.3, 0.25),
                rows=1,
                agree=None if failed else [(prod[0] > 0.5) == (cand[0] > 0.5)],
                prod_pred=[prod],
                cand_pred=None if failed else [cand],
            )
        )
        labels.append((f"r{i}", truth))
    await store.insert_outcomes(records)
    await store.add_labels(labels, now=t0 + n * 0.02)
    audit = AuditRecord(
        time=t0 + n * 0.015,
        route="cancer",
        rollout_id=rid,
        decision="harm:rolled_back",
        check="latency",
        p_value=0.001,
        estimate=0.3,
        ci_lower=0.2,
        ci_upper=0.4,
        n=int(n * 0.75),
        reason="latency: candidate worse than production beyond the margin",
    )
    await store.commit_decision("cancer", rid, JudgeState(state="rolled_back", version=0), [audit])
    await store.close()
    return rid


def images(html: str) -> dict[str, bytes]:
    return {alt: base64.b64decode(b64) for alt, b64 in IMG.findall(html)}


async def test_report_embeds_every_plot(tmp_path: Path) -> None:
    url = f"sqlite:///{(tmp_path / 'sg.db').as_posix()}"
    rid = await fill_store(url)
    path = await write_report(store_url=url, route="cancer", out=tmp_path / "report")
    html = path.read_text()
    imgs = images(html)
    # one figure per default check, plus latency, disagreement and accuracy
    assert set(imgs) == {
        "check errors",
        "check latency",
        "check agreement",
        "check accuracy",
        "latency per variant",
        "disagreement",
        "accuracy on labels",
    }
    assert all(data.startswith(PNG_MAGIC) and len(data) > 5000 for data in imgs.values())
    assert rid in html and "rolled_back" in html
    assert "harm:rolled_back" in html  # the audit table
    assert 'src="http' not in html and "<script" not in html  # self-contained


def test_report_cli_from_a_store_url(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    url = f"sqlite:///{(tmp_path / 'sg.db').as_posix()}"
    asyncio.run(fill_store(url, n=300))
    code = main(["report", "--route", "cancer", "--store", url, "--out", str(tmp_path / "r")])
    assert code == 0
    assert "report written" in capsys.readouterr().out
    assert len(images((tmp_path / "r" / "index.html").read_text())) >= 7


def test_report_cli_unknown_route_is_an_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"sqlite:///{(tmp_path / 'empty.db').as_posix()}"
    code = main(["report", "--route", "nope", "--store", url, "--out", str(tmp_path / "r")])
    assert code == 1
    assert "no rollout of route 'nope'" in capsys.readouterr().err
