"""Config loading: located errors, did-you-mean, env interpolation, scalar types."""

from __future__ import annotations

from pathlib import Path

import pytest

from shadowgate.config import load_config, parse_config
from shadowgate.config.types import parse_duration, parse_fraction, parse_percent, parse_size
from shadowgate.errors import ConfigError

ROUTE = """\
routes:
  - name: m
    match: {path_prefix: /v2/models/m}
    production: {url: "http://127.0.0.1:8001"}
    candidate: {url: "http://127.0.0.1:8002"}
"""


def problems(text: str) -> list[str]:
    with pytest.raises(ConfigError) as info:
        parse_config(text, "c.yaml")
    return [str(p) for p in info.value.problems]


def test_example_config_is_valid() -> None:
    cfg = load_config(Path(__file__).parents[2] / "config" / "shadowgate.yaml")
    assert cfg.routes[0].name == "cancer"


def test_minimal_route_gets_defaults() -> None:
    cfg = parse_config(ROUTE)
    r = cfg.routes[0]
    assert (r.mode, r.mirror.percent, r.canary.weight, r.production.timeout) == (
        "shadow",
        100.0,
        0.0,
        2.0,
    )
    assert cfg.server.max_body_size == 10_000_000


def test_unknown_key_is_located_with_did_you_mean() -> None:
    errs = problems(ROUTE + "    mirorr: {percent: 5}\n")
    assert len(errs) == 1
    assert errs[0].startswith(
        "c.yaml:6: routes[0].mirorr: unknown key 'mirorr'; did you mean 'mirror'? (valid keys: "
    )


def test_nested_unknown_key_and_wrong_type_are_each_located() -> None:
    text = ROUTE + "    mirror: {percent: 5, max_in_flght: 3}\n    canary: {weight: lots}\n"
    errs = problems(text)
    assert len(errs) == 2
    assert errs[0].startswith("c.yaml:6: routes[0].mirror.max_in_flght: unknown key")
    assert "did you mean 'max_in_flight'?" in errs[0]
    assert errs[1].startswith("c.yaml:7: routes[0].canary.weight: invalid percentage 'lots'")


def test_every_error_is_reported_not_just_the_first() -> None:
    text = "server: {listen: nowhere, max_body_size: -1}\n" + ROUTE + "    mode: blue\n"
    errs = problems(text)
    assert any(e.startswith("c.yaml:1: server.listen:") for e in errs)
    assert any(e.startswith("c.yaml:1: server.max_body_size:") for e in errs)
    assert any(e.startswith("c.yaml:7: routes[0].mode:") and "'blue'" in e for e in errs)


def test_bad_yaml_is_located() -> None:
    errs = problems("routes:\n  - name: m\n   bad indent: [\n")
    assert len(errs) == 1 and errs[0].startswith("c.yaml:") and "invalid YAML" in errs[0]


def test_duplicate_route_names_and_prefixes() -> None:
    errs = problems(ROUTE + ROUTE.replace("routes:\n", ""))
    assert any(e.startswith("c.yaml:6: routes[1].name: duplicate route name 'm'") for e in errs)
    assert any("routes[1].match.path_prefix" in e and "ambiguous" in e for e in errs)


def test_missing_required_key() -> None:
    # (a route may leave out its candidate: a steady state; production is required)
    errs = problems(
        "routes:\n  - name: m\n    match: {path_prefix: /m}\n    candidate: {url: 'http://a'}\n"
    )
    assert errs == ["c.yaml:2: routes[0].production: required key is missing"]


def test_env_interpolation(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PROD_URL", "http://prod:9000")
    monkeypatch.delenv("CAND_URL", raising=False)
    text = ROUTE.replace('"http://127.0.0.1:8001"', '"${PROD_URL}"').replace(
        '"http://127.0.0.1:8002"', '"${CAND_URL:-http://cand:9001}"'
    )
    r = parse_config(text).routes[0]
    assert (r.production.url, r.candidate.url) == ("http://prod:9000", "http://cand:9001")


def test_unset_env_var_without_default_is_located(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NOPE_NOT_SET", raising=False)
    errs = problems(ROUTE.replace('"http://127.0.0.1:8001"', '"${NOPE_NOT_SET}"'))
    assert any(
        e.startswith("c.yaml:4: routes[0].production.url:") and "NOPE_NOT_SET is not set" in e
        for e in errs
    ), errs


def test_durations_percents_fractions_in_yaml() -> None:
    text = ROUTE + (
        "    mirror: {percent: 25%, timeout: 500ms}\n"
        "    canary: {weight: 10, steps: [5%, 50, 100]}\n"
        "    analysis: {deadline: 24h, interval: 2s, "
        "checks: [{metric: latency, margin: 10%}, {metric: errors, margin: 0.002}]}\n"
    )
    r = parse_config(text).routes[0]
    assert (r.mirror.percent, r.mirror.timeout) == (25.0, 0.5)
    assert (r.canary.weight, r.canary.steps) == (10.0, (5.0, 50.0, 100.0))
    assert (r.analysis.deadline, r.analysis.interval) == (86400.0, 2.0)
    assert [c.margin for c in r.analysis.checks] == [pytest.approx(0.1), 0.002]


@pytest.mark.parametrize(
    ("text", "seconds"), [("500ms", 0.5), ("2s", 2.0), ("5m", 300.0), ("24h", 86400.0), (3, 3.0)]
)
def test_parse_duration(text: object, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("bad", ["2 weeks", "-1s", "", True, None, "1.2.3s"])
def test_parse_duration_rejects(bad: object) -> None:
    with pytest.raises(ValueError):
        parse_duration(bad)


def test_parse_percent_fraction_size() -> None:
    assert parse_percent("10%") == parse_percent(10) == 10.0
    assert parse_fraction("10%") == pytest.approx(parse_fraction(0.1))
    assert parse_size("10MB") == 10_000_000 and parse_size("1KiB") == 1024
    for bad in ("ten", True):
        with pytest.raises(ValueError):
            parse_percent(bad)
    with pytest.raises(ValueError):
        parse_size("0")


def test_out_of_range_percent_is_located() -> None:
    errs = problems(ROUTE + "    canary: {weight: 150}\n")
    assert len(errs) == 1 and errs[0].startswith("c.yaml:6: routes[0].canary.weight:")
