"""The config ``shadowgate demo`` writes: one route in shadow mode, checks tuned for minutes.

The numbers are chosen so that, at the default 50 requests/s with labels 3 s late, every
scenario is decided in well under two minutes while each decision still means what it
says in production: the same tests, the same α; only margins a production team might
pick for a first rollout, and a judge that looks twice a second.
"""

from __future__ import annotations

from pathlib import Path

TEMPLATE = """\
# Written by `shadowgate demo --scenario {scenario}`; edit it while the demo runs and
# shadowgate reloads it live (an invalid edit is rejected and the old config keeps serving).
server:
  listen: 127.0.0.1:{port}
  admin_listen: 127.0.0.1:{admin_port}
store:
  # one SQLite file next to this config; use postgresql://... when replicas share rollouts
  url: sqlite:///{db}
  flush_interval: 100ms
routes:
  - name: {route}
    match: {{path_prefix: /v2/models/{route}}}
    production: {{url: "{production}", timeout: 2s, version: v1}}
    candidate: {{url: "{candidate}", timeout: 2s, version: "v2-{scenario}"}}
    mode: shadow                # every request is mirrored; clients only see production
    mirror: {{percent: 100, max_in_flight: 128}}
    protocol: open-inference-v2
    # Compare the class probabilities: two answers agree when their most likely class is
    # the same; labels score them (accuracy = argmax equals the true class).
    prediction: {{output: probabilities, task: classification}}
    analysis:
      alpha: 0.05               # P(any wrong decision) <= 5%, however often the judge looks
      min_samples: 300          # never promote on fewer pairs than this
      deadline: 10m             # then inconclusive (the demo stops long before)
      interval: 500ms           # the judge looks twice a second: anytime-valid tests allow it
      checks:
        # Errors: roll back if the candidate's error rate is more than 2 points above
        # production's; pass once it is shown to be within 2 points. With no errors on
        # either side that takes ~800 pairs (a 1-point margin ~1600; the default, 0.1
        # point, tens of thousands: right for production traffic, too slow for a demo).
        - {{metric: errors, margin: 2%}}
        # Latency: the candidate may be at most 10% slower (paired log-latency ratio).
        - {{metric: latency, margin: 10%}}
        # Agreement: at least 80% of answers must name the same class. A more accurate
        # model legitimately disagrees with production where production is wrong (~5% of
        # rows here), so the floor guards against a candidate that answers something else
        # altogether, not against an improvement; accuracy judges which side is right.
        - {{metric: agreement, min: 0.8}}
        # Accuracy on the late labels: non-inferior within 1 point (harm: more than
        # 1 point worse). Shown once a few hundred labelled pairs have arrived.
        - {{metric: accuracy, goal: non_inferior, margin: 1%}}
{after_promotion}"""

#: the ``regress`` scenario watches the promoted model: a bake with reverse shadow
BAKE = """    # After the checks pass: watch the promoted model for 2 minutes against half of the
    # requests mirrored to the former production; any harm reverts on its own.
    after_promotion: {bake: 2m, mirror_percent: 50, min_samples: 200}
"""


def demo_config(
    *,
    scenario: str,
    production: str,
    candidate: str,
    port: int,
    admin_port: int,
    db: Path,
    route: str = "cancer",
) -> str:
    """The YAML text of the demo's config (see the comments in it for each choice)."""
    return TEMPLATE.format(
        scenario=scenario,
        production=production,
        candidate=candidate,
        port=port,
        admin_port=admin_port,
        db=db.resolve().as_posix(),  # absolute: sqlite:////abs/path.db
        route=route,
        after_promotion=BAKE if scenario == "regress" else "",
    )
