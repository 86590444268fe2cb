"""What the report shows: lines inside their plots, shares as shares, the candidate plainly,
and a note when the checks' n differs from the decision's."""

from __future__ import annotations

import re
from pathlib import Path

from test_report import fill_store

from shadowgate.report.build import candidate_parts, write_report
from shadowgate.report.plots import y_range
from shadowgate.report.replay import Trajectory


def _trajectory(metric: str, margin: float, lower: list[float], upper: list[float]) -> Trajectory:
    t = Trajectory(check=metric, metric=metric, margin=margin)
    t.n = list(range(1, len(lower) + 1))
    t.lower, t.upper = lower, upper
    t.estimate = [(a + b) / 2 for a, b in zip(lower, upper, strict=True)]
    return t


def test_the_minimum_and_margin_lines_are_inside_the_y_range() -> None:
    # agreement near 1 with a minimum of 0.8: the interval alone would hide the line
    t = _trajectory("agreement", 0.8, [0.5] + [0.95] * 9, [1.0] * 10)
    lo, hi = y_range(t)  # type: ignore[misc]
    assert lo < 0.8 < hi and hi >= 1.0
    # latency far below its margin: the +10 % line stays on the plot too
    t = _trajectory("latency", 0.1, [-0.02] * 10, [0.01] * 10)
    lo, hi = y_range(t)  # type: ignore[misc]
    assert lo <= -0.02 and hi > 0.1
    assert y_range(Trajectory(check="x", metric="errors", margin=0.01)) is None


def test_candidate_url_and_version_are_shown_apart() -> None:
    assert candidate_parts("http://cand:8080#v2-better") == ("http://cand:8080", "v2-better")
    assert candidate_parts("http://cand:8080#") == ("http://cand:8080", None)


async def test_the_page_shows_shares_the_candidate_and_the_n_note(tmp_path: Path) -> None:
    url = f"sqlite:///{(tmp_path / 'sg.db').as_posix()}"
    await fill_store(url, n=300)  # candidate "http://cand#v2"; decision on latency, n=225
    # (the default minimum agreement, 0.9, applies: the report is made without a config)
    html = (await write_report(store_url=url, route="cancer", out=tmp_path / "r")).read_text()
    assert "candidate <code>http://cand</code>, version <code>v2</code>" in html
    assert "http://cand#v2" not in html
    row = re.search(
        r"<td class='l'>agreement</td><td class='l'>shadow</td><td>\d+</td><td>([^<]+)</td>"
        r"<td>\[([^,]+), ([^\]]+)\]</td><td>min 0\.9</td>",
        html,
    )
    assert row is not None, "agreement row in 'Checks now'"
    for shown in row.groups():
        assert not shown.startswith("+") and 0.0 <= float(shown) <= 1.0
    latency = re.search(r"<td class='l'>latency</td><td class='l'>shadow</td><td>(\d+)</td>", html)
    assert latency is not None and int(latency.group(1)) != 225
    assert f"(latency: n = {latency.group(1)}); the decision itself was taken on n = 225" in html
