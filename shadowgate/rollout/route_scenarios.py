"""The route-level table of ``shadowgate simulate``: dependent nulls and the powers asked.

Nulls put the truth where the counted decision is wrong (an identical candidate for
rollback; exactly at the margin for promotion). Default checks and margins (errors 0.1
point, latency 10 %) with α = 0.05: harm shares α/2 in total, pass α/2 (DESIGN §5).
"""

from __future__ import annotations

from shadowgate.rollout.machine import Event
from shadowgate.rollout.route_sim import RouteScenario
from shadowgate.rollout.route_streams import (
    AgreementRuns,
    Canary,
    LabelledAccuracy,
    LatencyPairs,
    Losses,
)

DEFAULT = ({"metric": "errors"}, {"metric": "latency"})
AGREE = (*DEFAULT, {"metric": "agreement", "min": 0.9})
ACC = (*DEFAULT, {"metric": "accuracy", "margin": 0.01})
LOSS = (*DEFAULT, {"metric": "loss", "margin": 0.01})
LOSS3 = (*DEFAULT, {"metric": "loss", "margin": 0.03})
LOSS_BOUND = (*DEFAULT, {"metric": "loss", "margin": 0.01, "bound": 15.0})
H, P = Event.HARM, Event.PASSED


def build() -> list[RouteScenario]:
    sc = [
        RouteScenario(
            "A/A i.i.d.",
            "identical candidate, log-latency noise sd 0.3",
            True,
            H,
            DEFAULT,
            LatencyPairs(),
        )
    ]
    for phi in (0.9, 0.99, 0.999):
        sc.append(
            RouteScenario(
                f"A/A AR(1) phi={phi}",
                f"identical; each side's own AR(1) load, phi {phi}, sd 0.3 (+ noise sd 0.1)",
                True,
                H,
                DEFAULT,
                LatencyPairs(phi=phi, load_sd=0.3, noise_sd=0.1),
            )
        )
    for rate, burst in ((0.001, 20.0), (0.01, 50.0)):
        sc.append(
            RouteScenario(
                f"A/A bursty errors {rate:.1%}",
                f"identical; each side fails {rate:.1%} of requests in bursts of ~{burst:g}",
                True,
                H,
                DEFAULT,
                LatencyPairs(prod_err=rate, cand_err=rate, burst=burst),
            )
        )
    # a worse candidate whose errors come in bursts: without ``burst`` its quiet stretches
    # pass it (a known failure, kept as a row); with a burst bound of five mean burst
    # lengths declared, the pass is valid
    for rate, burst, declared in ((0.001, 20.0, 100), (0.01, 50.0, 250)):
        worse = LatencyPairs(prod_err=rate, cand_err=rate + 0.01, burst=burst)
        what = f"candidate fails {rate + 0.01:.1%} vs {rate:.1%} (10 margins worse)"
        sc += [
            RouteScenario(
                f"worse errors in bursts {rate:.1%}",
                f"{what} in bursts of ~{burst:g}; errors taken as independent (no burst)",
                True,
                P,
                DEFAULT,
                worse,
                beyond=True,
            ),
            RouteScenario(
                f"worse errors in bursts {rate:.1%}, burst {declared}",
                f"as above, the errors check declaring burst: {declared}",
                True,
                P,
                ({"metric": "errors", "burst": declared}, {"metric": "latency"}),
                worse,
                beyond=True,
            ),
        ]
    for phi in (0.5, 0.9):
        sc.append(
            RouteScenario(
                f"latency at +10% margin, AR {phi}",
                f"candidate exactly 10 % slower; AR(1) loads phi {phi}, sd 0.3",
                True,
                P,
                DEFAULT,
                LatencyPairs(slowdown=1.1, phi=phi, load_sd=0.3, noise_sd=0.1),
            )
        )
    sc += [
        RouteScenario(
            "agreement at min 0.9, runs",
            "agreement 0.85 and 0.95 in runs of ~50 requests (mean 0.9 = min)",
            True,
            P,
            AGREE,
            AgreementRuns(low=0.85, high=0.95, run=50.0),
        ),
        RouteScenario(
            "accuracy at margin, label delay",
            "accuracy 1 point worse (= margin); positives labelled 5 000 requests late; "
            "label window 8 000",
            True,
            P,
            ACC,
            LabelledAccuracy(),
            label_window=8_000.0,
        ),
        RouteScenario(
            "0/1 loss at margin",
            "0/1 loss 0.10 vs 0.11 (margin +0.01), every pair labelled",
            True,
            P,
            LOSS,
            Losses(kind="01", shift=0.01),
        ),
        RouteScenario(
            "0/1 loss beyond margin, 10% labelled",
            "0/1 loss 0.10 vs 0.13 (margin +0.03 is the null boundary), 10 % labelled",
            True,
            P,
            LOSS3,
            Losses(kind="01", shift=0.03, labelled=0.1),
        ),
        RouteScenario(
            "log loss at margin, rare mistakes",
            "log loss +0.01 from a 0.1 % chance of a 10-nat mistake",
            True,
            P,
            LOSS,
            Losses(kind="log", shift=0.01),
        ),
        RouteScenario(
            "log loss at margin, rare mistakes, bound 15",
            "as above, with the check's loss bound set to 15 nats (tested by betting)",
            True,
            P,
            LOSS_BOUND,
            Losses(kind="log", shift=0.01),
        ),
        RouteScenario(
            "log loss identical, bound 15",
            "identical log losses, loss bound 15 nats: how fast a bounded loss passes",
            False,
            P,
            LOSS_BOUND,
            Losses(kind="log", shift=0.0),
        ),
        RouteScenario(
            "canary errors at margin",
            "canary 50 %, errors 0.2 % vs 0.3 % (margin 0.1 point), promotion needs the "
            "canary pass tests",
            True,
            P,
            DEFAULT,
            Canary(),
            canary=True,
        ),
        RouteScenario(
            "canary A/A bursty errors 1.0%",
            "canary 50 %, each variant fails 1 % of its requests in bursts of ~50",
            True,
            H,
            DEFAULT,
            Canary(prod_err=0.01, cand_err=0.01, burst=50.0),
            canary=True,
        ),
        RouteScenario(
            "canary worse errors in bursts 1.0%",
            "canary 50 %, the candidate fails 2 % vs 1 % (10 margins worse), in bursts of ~50",
            True,
            P,
            DEFAULT,
            Canary(prod_err=0.01, cand_err=0.02, burst=50.0),
            canary=True,
            beyond=True,
        ),
        RouteScenario(
            "canary worse errors in bursts 1.0%, burst 250",
            "as above, the errors check declaring burst: 250 (interleaved paired bets)",
            True,
            P,
            ({"metric": "errors", "burst": 250}, {"metric": "latency"}),
            Canary(prod_err=0.01, cand_err=0.02, burst=50.0),
            canary=True,
            beyond=True,
        ),
        # ---- power
        RouteScenario(
            "i.i.d. 20% slower",
            "candidate 20 % slower, i.i.d.",
            False,
            H,
            DEFAULT,
            LatencyPairs(slowdown=1.2),
        ),
        RouteScenario(
            "i.i.d. +1 point errors",
            "errors 0.5 % vs 1.5 %, i.i.d.",
            False,
            H,
            DEFAULT,
            LatencyPairs(prod_err=0.005, cand_err=0.015),
        ),
        RouteScenario(
            "AR 0.99 20% slower",
            "20 % slower; AR(1) loads phi 0.99, sd 0.3 (+ noise sd 0.1)",
            False,
            H,
            DEFAULT,
            LatencyPairs(slowdown=1.2, phi=0.99, load_sd=0.3, noise_sd=0.1),
        ),
        RouteScenario(
            "AR 0.99 sd 0.1 20% slower",
            "20 % slower; noise sd 0.3 plus AR(1) loads phi 0.99, sd 0.1",
            False,
            H,
            DEFAULT,
            LatencyPairs(slowdown=1.2, phi=0.99, load_sd=0.1, noise_sd=0.3),
        ),
        RouteScenario(
            "identical promoted",
            "identical candidate, i.i.d., errors 0.01 % per side",
            False,
            P,
            DEFAULT,
            LatencyPairs(),
        ),
    ]
    return sc
