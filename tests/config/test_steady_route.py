"""A route may have no candidate: a steady state of production alone."""

from __future__ import annotations

from shadowgate.config.model import ShadowgateConfig
from shadowgate.rollout.machine import initial_routing


def test_a_route_without_a_candidate_is_production_alone() -> None:
    cfg = ShadowgateConfig.model_validate(
        {
            "routes": [
                {"name": "m", "match": {"path_prefix": "/m"}, "production": {"url": "http://a"}}
            ]
        }
    )
    route = cfg.routes[0]
    assert route.candidate is None and route.candidate_identity == ""
    assert route.upstreams == (route.production,)
    r = initial_routing(route)
    assert (r.mode, r.mirror, r.candidate_share, r.final, r.rollout_id) == (
        "shadow",
        False,
        0.0,
        True,
        "",
    )
