"""The report of a rollout reverted while baking: the judge on a real SQLite store decides,
and the report replays the bake's own evidence apart from the shadow phase's."""

from __future__ import annotations

import math
import re
from pathlib import Path

import numpy as np
import yaml

from shadowgate.config import ConfigHolder, parse_config
from shadowgate.judge.judge import Judge
from shadowgate.report.build import write_report
from shadowgate.rollout.machine import State
from shadowgate.store import OutcomeRecord, open_store

ROW = re.compile(
    r"<tr><td class='l'>(\w+)</td><td class='l'>(\w+)</td><td>(\d+)</td><td>([^<]*)</td>"
    r".*?<td class='l[^']*'>(\w+)</td></tr>"
)


def config_text(db: Path) -> str:
    route = {
        "name": "m",
        "match": {"path_prefix": "/m"},
        "production": {"url": "http://127.0.0.1:1"},
        "candidate": {"url": "http://127.0.0.1:2", "version": "v2"},
        "analysis": {
            "min_samples": 100,
            "interval": "10ms",
            "checks": [{"metric": "errors", "margin": 0.02}, {"metric": "latency", "margin": 0.1}],
        },
        "after_promotion": {"bake": "10m", "mirror_percent": 10, "min_samples": 100},
    }
    return yaml.safe_dump({"store": f"sqlite:///{db}", "routes": [route]})


def pairs(
    rng: np.random.Generator, rollout: str, n: int, ts: float, *, baking: bool, fail: float = 0.0
) -> list[OutcomeRecord]:
    out = []
    for i in range(n):
        latency = float(rng.lognormal(math.log(0.02), 0.3))
        failed = bool(rng.random() < fail)
        out.append(
            OutcomeRecord(
                route="m",
                rollout_id=rollout,
                request_id=f"r{ts}-{i}",
                ts=ts + i * 1e-3,
                kind="shadow",
                variant="candidate" if baking else "production",
                prod_status=200,
                prod_latency=latency,
                cand_status=500 if failed else 200,
                cand_latency=latency * float(rng.lognormal(0, 0.05)),
                rows=1,
                agree=None if failed else [True],
            )
        )
    return out


async def test_a_bake_regression_shows_the_bakes_checks_apart_from_the_shadow_phase(
    tmp_path: Path,
) -> None:
    db = tmp_path / "bake.db"
    text = config_text(db)
    (tmp_path / "shadowgate.yaml").write_text(text, encoding="utf-8")
    store = open_store(f"sqlite:///{db}")
    await store.open()
    clock: list[float] = [1_700_000_000.0]
    judge = Judge(store, ConfigHolder(parse_config(text)), clock=lambda: clock[0])
    route = judge.holder.current.routes[0]
    rng = np.random.default_rng(5)
    ctx = await judge.context(route)
    for _ in range(40):  # an identical candidate passes the shadow checks
        await store.insert_outcomes(pairs(rng, ctx.rollout_id, 100, clock[0], baking=False))
        clock[0] += 1
        if await judge.look(route) is not None:
            break
    assert ctx.rollout.state is State.BAKING
    for _ in range(40):  # then, serving everyone, it fails on a quarter of the requests
        await store.insert_outcomes(
            pairs(rng, ctx.rollout_id, 50, clock[0], baking=True, fail=0.25)
        )
        clock[0] += 0.1
        if await judge.look(route) is not None:
            break
    assert ctx.rollout.state is State.ROLLED_BACK
    audit = await store.read_audit("m", ctx.rollout_id)
    await store.close()
    promoted, reverted = audit[-2], audit[-1]
    assert (promoted.decision, reverted.decision) == ("passed:baking", "harm:rolled_back")

    path = await write_report(
        store_url=f"sqlite:///{db}",
        route="m",
        out=tmp_path / "r",
        config_path=tmp_path / "shadowgate.yaml",
    )
    html = path.read_text(encoding="utf-8")
    rows: dict[tuple[str, str], tuple[int, str, str]] = {
        (check, phase): (int(n), est, verdict)
        for check, phase, n, est, verdict in ROW.findall(html)
    }
    assert set(rows) == {
        ("errors", "shadow"), ("latency", "shadow"), ("errors", "bake"), ("latency", "bake"),
    }  # fmt: skip
    # the shadow rows are what the promotion was decided on, untouched by the bake's pairs
    assert rows["errors", "shadow"][0] == promoted.n and rows["errors", "shadow"][2] == "passed"
    # the bake's row is the evidence of the revert, as the judge had it when it decided
    n, estimate, verdict = rows["errors", "bake"]
    assert (n, verdict) == (reverted.n, "harm")
    assert reverted.estimate is not None and float(estimate) == float(f"{reverted.estimate:+.4g}")
    alts = set(re.findall(r'<img alt="([^"]*)"', html))
    assert {"check errors", "check errors:bake", "check latency:bake"} <= alts
    assert "The bake's evidence over samples" in html
    assert f"{n} of the outcomes were recorded while baking" in html
