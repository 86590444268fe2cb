"""The HTML report of one rollout: one self-contained file, every plot embedded as PNG.

``write_report`` opens the store, replays the rollout (``report.replay``), draws the
figures (``report.plots``) and writes ``<out>/index.html``; the file can be mailed or
attached to a ticket as it is, it loads nothing from anywhere.
"""

from __future__ import annotations

import datetime as dt
import html
import math
from pathlib import Path
from typing import Any

from shadowgate.config.model import AnalysisConfig, CheckConfig, RouteConfig
from shadowgate.report import plots
from shadowgate.report.replay import RolloutData, latencies, load, samples_at
from shadowgate.store import open_store

#: checks assumed when the report is made from a store alone (no config file)
DEFAULT_CHECKS = (
    CheckConfig(metric="errors"),
    CheckConfig(metric="latency"),
    CheckConfig(metric="agreement"),
    CheckConfig(metric="accuracy"),
)

CSS = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1080px; color: #222; }
h1 { margin-bottom: 0.2em; } h2 { margin-top: 1.6em; border-bottom: 1px solid #ddd; }
table { border-collapse: collapse; margin: 0.6em 0; font-size: 0.92em; }
th, td { border: 1px solid #ddd; padding: 4px 8px; text-align: right; }
th { background: #f4f4f4; } td.l, th.l { text-align: left; }
.state { font-weight: bold; padding: 2px 8px; border-radius: 4px; color: white; }
.promoted { background: #2ca02c; } .rolled_back { background: #d62728; }
.other { background: #777; } .muted { color: #777; } img { max-width: 100%; }
td.harm { color: #d62728; font-weight: bold; }
"""


def route_without_config(name: str) -> RouteConfig:
    """A stand-in route config for ``--store`` without ``--config``: the default checks."""
    return RouteConfig.model_validate(
        {
            "name": name,
            "match": {"path_prefix": f"/{name}"},
            "production": {"url": "http://production.invalid"},
            "candidate": {"url": "http://candidate.invalid"},
            "analysis": AnalysisConfig(checks=DEFAULT_CHECKS),
        }
    )


async def write_report(
    *,
    store_url: str,
    route: str,
    out: Path,
    config_path: Path | None = None,
    rollout_id: str | None = None,
) -> Path:
    """Write ``out/index.html`` for one rollout of ``route``; returns its path.

    The route's checks come from ``config_path`` (as the judge ran them); without it the
    default checks are replayed. Raises ``LookupError`` for an unknown route or rollout.
    """
    route_cfg: RouteConfig | None
    if config_path is not None:
        from shadowgate.config.loader import load_config

        route_cfg = load_config(config_path).route(route)
        if route_cfg is None:
            raise LookupError(f"route {route!r} is not in {config_path}")
    else:
        route_cfg = route_without_config(route)
    store = open_store(store_url)
    await store.open()
    try:
        data = await load(store, route_cfg, rollout_id)
    finally:
        await store.close()
    out.mkdir(parents=True, exist_ok=True)
    path = out / "index.html"
    path.write_text(render_html(data), encoding="utf-8")
    return path


def _when(ts: float) -> str:
    return dt.datetime.fromtimestamp(ts, dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _num(x: Any, fmt: str = "{:+.4g}") -> str:
    if x is None or (isinstance(x, float) and not math.isfinite(x)):
        return "—"
    return fmt.format(x)


#: metrics whose estimate is a share (shown as 0.954), not a difference (shown as +0.012)
SHARE_METRICS = frozenset({"agreement"})


def _est_fmt(metric: str | None) -> str:
    return "{:.4g}" if metric in SHARE_METRICS else "{:+.4g}"


def _metric_of(d: RolloutData, check: str | None) -> str | None:
    """The metric of a check label as the audit names it (``latency``, ``errors:canary``)."""
    if check is None:
        return None
    label = check.split(":")[0]
    return next((c.metric for c in d.route.analysis.checks if c.label == label), label)


def candidate_parts(identity: str) -> tuple[str, str | None]:
    """``url#version`` (how the store names a candidate) → the URL and the version label."""
    url, _, version = identity.partition("#")
    return url, version or None


def _candidate_html(identity: str) -> str:
    url, version = candidate_parts(identity)
    label = f", version <code>{html.escape(version)}</code>" if version else ""
    return f"candidate <code>{html.escape(url)}</code>{label}"


def _img(b64: str, alt: str) -> str:
    return f'<img alt="{html.escape(alt)}" src="data:image/png;base64,{b64}">'


def render_html(d: RolloutData) -> str:
    """The whole page (figures included) as one string."""
    e = html.escape
    t0 = d.rollout.started_at
    judged = [a for a in d.audit if a.decision]
    last = judged[-1] if judged else None
    state = last.decision.split(":")[-1] if last else "undecided"
    cls = state if state in ("promoted", "rolled_back") else "other"
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'>",
        f"<title>shadowgate report: {e(d.route.name)} {e(d.rollout.rollout_id)}</title>",
        f"<style>{CSS}</style></head><body>",
        f"<h1>Rollout {e(d.rollout.rollout_id)} of route {e(d.route.name)}</h1>",
        f"<p><span class='state {cls}'>{e(state)}</span> &nbsp; "
        f"{_candidate_html(d.rollout.candidate_identity)}, started {_when(t0)}; "
        f"{len(d.outcomes)} outcomes, {len(d.labeled)} labelled; "
        f"α = {d.route.analysis.alpha:g} (harm tests {d.alpha_harm:.3g} each, "
        f"pass tests {d.alpha_pass:.3g}).</p>",
    ]
    if d.bake_windows:
        parts.append(_bake_intro(d))
    if d.after_decision:
        parts.append(
            f"<p class='muted'>{d.after_decision} outcomes recorded after the final decision "
            "are not evidence and are left out.</p>"
        )
    if last is not None:
        parts.append(f"<p><b>Decision:</b> {e(last.reason)}</p>")
    parts += ["<h2>Decisions and actions</h2>", _audit_table(d)]
    parts += ["<h2>Checks now</h2>", _final_table(d), _n_note(d, last)]
    parts.append("<h2>Evidence over samples</h2>")
    parts.append(
        "<p class='muted'>Each check, replayed from the stored outcomes: the estimate with its "
        "anytime-valid confidence sequence (valid at every sample at once, so watching it "
        "costs nothing), and the always-valid p-values of its two questions: <i>harm</i> "
        "(worse beyond the margin → roll back) and <i>pass</i> (within the margin → may "
        "promote). A question is answered when its p-value crosses its α.</p>"
    )
    parts += _figures(d, judged, bake=False)
    if d.bake_windows:
        parts.append("<h2>The bake's evidence over samples</h2>")
        parts.append(
            "<p class='muted'>The bake's own tests, replayed from the pairs recorded while "
            "baking: the promoted candidate served and the former production was mirrored "
            "as the reference. They start from zero at the promotion, with their own α; any "
            "harm reverts the promotion.</p>"
        )
        parts += _figures(d, judged, bake=True)
    times = [a.time - t0 for a in judged]
    spans = [(a - t0, b - t0) for a, b in d.bake_windows]
    parts += [
        "<h2>Latency per variant</h2>",
        _img(plots.latency_figure(latencies(d.outcomes)), "latency per variant"),
        "<h2>Disagreement over time</h2>",
        _img(plots.disagreement_figure(d.outcomes, t0, times, spans), "disagreement"),
        "<h2>Accuracy on labels</h2>",
        _img(plots.accuracy_figure(d.route, d.labeled, _label_marks(d)), "accuracy on labels"),
        f"<p class='muted'>Generated {_when(dt.datetime.now(dt.UTC).timestamp())} by "
        "<code>shadowgate report</code>.</p></body></html>",
    ]
    return "\n".join(parts)


def _figures(d: RolloutData, judged: list[Any], bake: bool) -> list[str]:
    """One figure per check of a phase (the bake's, or the ones before it), with the
    decisions taken on that phase's evidence marked."""
    out = []
    for name, t in d.trajectories.items():
        if not t.n or name.endswith(":bake") is not bake:
            continue
        when = [a.time for a in judged if d.in_bake(a.time) is bake]
        marks = [x for w in when if (x := samples_at(t, w)) is not None]
        fig = plots.check_figure(t, d.alpha_harm, d.alpha_pass, marks)
        out.append(f"<h3>{html.escape(name)}</h3>{_img(fig, f'check {name}')}")
    return out


def _bake_intro(d: RolloutData) -> str:
    """When the rollout baked, and on how many pairs."""
    spans = ", ".join(
        f"{_when(a)} – {'now' if not math.isfinite(b) else _when(b)}" for a, b in d.bake_windows
    )
    return (
        f"<p><b>Bake after the promotion:</b> {spans}; {d.bake_outcomes} of the outcomes were "
        "recorded while baking (the promoted candidate serving, the former production "
        "mirrored as the reference) and feed the bake's own checks.</p>"
    )


def _label_marks(d: RolloutData) -> list[float]:
    """Decisions placed on the labelled-pairs axis (labels joined before the decision)."""
    marks = []
    for a in d.audit:
        n = sum(1 for lo in d.labeled if lo.outcome.record.ts <= a.time)
        if n:
            marks.append(float(n))
    return marks


def _audit_table(d: RolloutData) -> str:
    e = html.escape
    if not d.audit:
        return "<p class='muted'>No decision yet.</p>"
    rows = [
        "<table><tr><th class='l'>time</th><th class='l'>decision</th><th class='l'>by</th>"
        "<th class='l'>check</th><th>n</th><th>estimate</th><th>CI</th><th>p</th>"
        "<th class='l'>reason</th></tr>"
    ]
    for a in d.audit:
        fmt = _est_fmt(_metric_of(d, a.check))
        ci = "—"
        if a.ci_lower is not None:
            ci = f"[{_num(a.ci_lower, fmt)}, {_num(a.ci_upper, fmt)}]"
        rows.append(
            f"<tr><td class='l'>{_when(a.time)}</td><td class='l'>{e(a.decision)}</td>"
            f"<td class='l'>{e(a.actor)}</td><td class='l'>{e(a.check or '—')}</td>"
            f"<td>{a.n if a.n is not None else '—'}</td><td>{_num(a.estimate, fmt)}</td>"
            f"<td>{ci}</td><td>{_num(a.p_value, '{:.3g}')}</td>"
            f"<td class='l'>{e(a.reason)}</td></tr>"
        )
    rows.append("</table>")
    return "".join(rows)


def _final_table(d: RolloutData) -> str:
    e = html.escape
    rows = [
        "<table><tr><th class='l'>check</th><th class='l'>phase</th><th>n</th>"
        "<th>estimate</th><th>CI</th><th>margin</th><th>p (harm)</th><th>p (pass)</th>"
        "<th class='l'>verdict</th></tr>"
    ]
    rows_of = [(r, r.phase) for r in d.final] + [(r, "bake") for r in d.bake_final]
    for r, phase in rows_of:
        if r.segment is not None:
            continue
        fmt = _est_fmt(r.metric)
        margin = f"min {r.margin:g}" if r.metric in SHARE_METRICS else f"{r.margin:g}"
        rows.append(
            f"<tr><td class='l'>{e(r.check)}</td><td class='l'>{phase}</td><td>{r.n}</td>"
            f"<td>{_num(r.estimate, fmt)}</td>"
            f"<td>[{_num(r.ci_lower, fmt)}, {_num(r.ci_upper, fmt)}]</td>"
            f"<td>{margin}</td><td>{_num(r.p_harm, '{:.3g}')}</td>"
            f"<td>{_num(r.p_pass, '{:.3g}')}</td>"
            f"<td class='l{' harm' if r.verdict == 'harm' else ''}'>{e(r.verdict)}</td></tr>"
        )
    rows.append("</table>")
    if d.bake_final:
        rows.append(
            "<p class='muted'>The <i>bake</i> rows are the bake's own tests on the pairs "
            "recorded while baking; the rows above them are the evidence the promotion was "
            "decided on, as it stood when the bake began.</p>"
        )
    return "".join(rows)


def _n_note(d: RolloutData, last: Any) -> str:
    """Say why "Checks now" can count more samples than the decision did."""
    if last is None or last.n is None or not last.check:
        return ""
    label = last.check.split(":")[0]
    final = d.bake_final if d.in_bake(last.time) else d.final
    now = next((r for r in final if r.check == label and r.segment is None), None)
    if now is None or now.n == last.n:
        return ""
    return (
        f"<p class='muted'>Checks now replays the stored outcomes up to the decision's time "
        f"({html.escape(label)}: n = {now.n}); the decision itself was taken on n = {last.n}, "
        "what the judge had read when it decided. The two differ when outcomes reach the "
        "store after the judge's last read, or were dropped or pruned; the tests are "
        "anytime-valid, so each reading is valid at its own n.</p>"
    )
