"""Cross-check p-values against the reference packages (the `bench` extra).

- CountShareTest vs savvi.multinomial.Multinomial(alpha, theta_0, k) and
  ssrm_test.sequential_p_values(data, null_probabilities, dirichlet_concentration=k):
  the same Dirichlet-multinomial Bayes factor, compared after every event.
- SignTest (two-sided, p0 = 1/2) vs the same references with two categories and
  concentration k = p0 (1 - p0) / mde^2 - 1 (a beta-binomial mixture is a two-category
  Dirichlet-multinomial).
- PairedMeanTest vs the closed-form mSPRT of Johari et al. written out independently.

    python3 -m venv /tmp/xcheck && /tmp/xcheck/bin/pip install -e '.[bench]'
    /tmp/xcheck/bin/python benchmarks/stats_crosscheck.py

savvi and ssrm-test pin numpy < 2, so they get a venv of their own rather than the
project's (which runs on numpy 2).
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

import numpy as np

from shadowgate.stats import CountShareTest, PairedMeanTest, SignTest
from shadowgate.stats.sign import sign_prior

TOL = 1e-8


def ours_count_share(v: np.ndarray, shares: tuple[float, float], k: float) -> np.ndarray:
    t = CountShareTest(shares=shares, k=k)
    out = []
    for x in v:
        t.update([x])
        out.append(t.p_value)
    return np.array(out)


def savvi_path(v: np.ndarray, shares: tuple[float, float], k: float) -> np.ndarray:
    from savvi.multinomial import Multinomial

    m = Multinomial(0.05, np.array(shares), k=k)
    out, best = [], 1.0
    for x in v:
        m.update(np.array([1 - x, x]))
        best = min(best, float(m.calculate_p_value()))
        out.append(best)
    return np.array(out)


def ssrm_path(v: np.ndarray, shares: tuple[float, float], k: float) -> np.ndarray:
    from ssrm_test.ssrm_test import sequential_p_values

    data = np.stack([1 - v, v], axis=1)
    return np.array(sequential_p_values(data, np.array(shares), dirichlet_concentration=k))


def compare(name: str, ours: np.ndarray, ref: np.ndarray) -> dict[str, object]:
    rel = np.abs(np.log(ours) - np.log(ref)).max()  # relative error of the p-values
    ok = bool(rel <= TOL)
    print(f"{name:<60} max |log p - log p_ref| = {rel:.2e}  {'ok' if ok else 'MISMATCH'}")
    return {"case": name, "max_abs_log_p_diff": float(rel), "ok": ok}


def jpw_two_sided(x: np.ndarray, burn_in: int) -> np.ndarray:
    """Johari-Pekelis-Walsh mSPRT, tau = 0.1 sigma_hat, plug-in variance, min over prefixes."""
    p, best = [], 1.0
    for n in range(1, len(x) + 1):
        if n >= burn_in:
            s2 = float(np.var(x[:n], ddof=1))
            tau2 = 0.01 * s2
            v = s2 / n
            mean = float(np.mean(x[:n]))
            lam = math.sqrt(v / (v + tau2)) * math.exp(tau2 * mean * mean / (2 * v * (v + tau2)))
            best = min(best, 1 / lam) if lam > 1 else best
        p.append(best)
    return np.array(p)


def main() -> int:
    rng = np.random.default_rng(42)
    rows = []
    have_refs = True
    try:
        import savvi  # noqa: F401
        import ssrm_test  # noqa: F401
    except ImportError:
        have_refs = False
        print("savvi / ssrm-test not installed (pip install -e '.[bench]'); skipping them")
    for shares, k, rate in (
        ((0.9, 0.1), 100.0, 0.1),
        ((0.9, 0.1), 100.0, 0.13),
        ((0.5, 0.5), 1000.0, 0.53),
        ((0.99, 0.01), 100.0, 0.02),
    ):
        v = (rng.random(1500) < rate).astype(int)
        ours = ours_count_share(v, shares, k)
        if have_refs:
            label = f"CountShareTest shares={shares} k={k:g} cand={rate}"
            rows.append(compare(label + " vs savvi", ours, savvi_path(v, shares, k)))
            rows.append(compare(label + " vs ssrm-test", ours, ssrm_path(v, shares, k)))
    a, b = sign_prior(0.5, 0.1)
    for p_plus in (0.5, 0.58):
        signs = np.where(rng.random(1500) < p_plus, 1, -1)
        t = SignTest()
        ours = []
        for s in signs:
            t.update([s])
            ours.append(t.p_value)
        if have_refs:
            v = (signs > 0).astype(int)
            ref = ssrm_path(v, (0.5, 0.5), a + b)
            rows.append(
                compare(f"SignTest p(+1)={p_plus} vs ssrm-test (k={a + b:g})", np.array(ours), ref)
            )
    x = rng.normal(0.08, 1.0, 1500)
    t2 = PairedMeanTest()
    ours_p = []
    for xi in x:
        t2.update([xi])
        ours_p.append(t2.p_value)
    rows.append(
        compare(
            "PairedMeanTest vs closed-form JPW mSPRT",
            np.array(ours_p),
            jpw_two_sided(x, t2.burn_in),
        )
    )
    out = Path(__file__).parent / "results" / "stats_crosscheck.json"
    out.write_text(json.dumps({"tolerance": TOL, "results": rows}, indent=2) + "\n")
    return 0 if all(r["ok"] for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
