"""PIRLS's chord steps (the factor of an earlier iteration reused near û) reach the Newton
iteration's solution, with fewer factorizations, for canonical and other links, with β
inside PIRLS (nAGQ = 0) or fixed, from a cold and from a warm start."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from lmmpy.glmm import _pirls
from lmmpy.glmm._laplace import laplace_deviance
from lmmpy.glmm.fit import glmm_setup


def _crossed(link: str, seed: int = 3, n: int = 8_000) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    subject, item = rng.integers(0, 1_500, n), rng.integers(0, 120, n)
    x = rng.normal(size=n)
    eta = -0.3 + 0.5 * x + rng.normal(size=1_500)[subject] + 0.6 * rng.normal(size=120)[item]
    if link == "log":
        y = rng.poisson(np.exp(0.3 * eta)).astype(float)
    else:
        y = (rng.uniform(size=n) < 1 / (1 + np.exp(-eta))).astype(float)
    return pd.DataFrame({"y": y, "x": x, "subject": subject.astype(str),
                         "item": item.astype(str)})


def _solve(monkeypatch, family, link, data, vary_beta, chord: bool):
    monkeypatch.setattr(_pirls, "CHORD_MIN_Q", 0 if chord else 10**9)
    system = glmm_setup("y ~ x + (1 | subject) + (1 | item)", data, family, link=link)
    factorizations = []
    objective_at = system.objective_at
    monkeypatch.setattr(system, "objective_at",
                        lambda eta: factorizations.append(1) or objective_at(eta))
    beta = None if vary_beta else np.array([-0.3, 0.5])
    cold = _pirls.pirls(system, np.array([0.9, 0.5]), beta, None, vary_beta)
    warm = _pirls.pirls(system, np.array([1.0, 0.55]), cold.beta if vary_beta else beta,
                        cold.u, vary_beta)
    return system, (cold, warm), len(factorizations)


@pytest.mark.parametrize(("family", "link"), [("binomial", None), ("binomial", "probit"),
                                              ("poisson", None)])
@pytest.mark.parametrize("vary_beta", [True, False])
def test_chord_steps_reach_the_newton_solution(monkeypatch, family, link, vary_beta):
    data = _crossed("log" if family == "poisson" else "logit")
    system, newton, newton_count = _solve(monkeypatch, family, link, data, vary_beta, False)
    system_c, chord, chord_count = _solve(monkeypatch, family, link, data, vary_beta, True)
    assert chord_count < newton_count
    for a, b in zip(newton, chord, strict=True):
        np.testing.assert_allclose(b.u, a.u, rtol=1e-8, atol=1e-9)
        np.testing.assert_allclose(b.beta, a.beta, rtol=1e-9, atol=1e-10)
        assert laplace_deviance(system_c, b) == pytest.approx(laplace_deviance(system, a),
                                                              rel=1e-12)
