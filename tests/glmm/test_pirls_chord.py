"""PIRLS's chord steps (the factor of an earlier iteration reused near û) reach the Newton
iteration's solution, with fewer factorizations, for canonical and other links, with β
inside PIRLS (nAGQ = 0) or fixed, from a cold and from a warm start."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from lmmpy.glmm import _pirls
from lmmpy.glmm._laplace import laplace_deviance
from lmmpy.glmm._optimize import carried_modes
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


@pytest.mark.parametrize(("family", "link"), [("binomial", None), ("binomial", "probit"),
                                              ("poisson", None)])
@pytest.mark.parametrize("vary_beta", [True, False])
def test_chord_steps_across_theta_reach_the_newton_solution(monkeypatch, family, link,
                                                            vary_beta):
    """An evaluation started on the last one's system (another θ, its b carried) reaches
    the Newton iteration's solution there with fewer factorizations."""
    data = _crossed("log" if family == "poisson" else "logit")
    system = glmm_setup("y ~ x + (1 | subject) + (1 | item)", data, family, link=link)
    beta = None if vary_beta else np.array([-0.3, 0.5])
    old, new = np.array([0.9, 0.5]), np.array([0.92, 0.51])
    first = _pirls.pirls(system, old, beta, None, vary_beta)
    start_beta = first.beta if vary_beta else beta
    u = carried_modes(system.design.terms, first.u, old, new)
    factorizations = []
    objective_at = system.objective_at
    monkeypatch.setattr(system, "objective_at",
                        lambda eta: factorizations.append(1) or objective_at(eta))
    monkeypatch.setattr(_pirls, "CHORD_MIN_Q", 0)
    across = _pirls.pirls(system, new, start_beta, u, vary_beta, previous=first)
    n_across = len(factorizations)
    factorizations.clear()
    monkeypatch.setattr(_pirls, "CHORD_MIN_Q", 10**9)
    newton = _pirls.pirls(system, new, start_beta, u, vary_beta)
    assert n_across < len(factorizations)
    np.testing.assert_allclose(across.u, newton.u, rtol=1e-8, atol=1e-9)
    np.testing.assert_allclose(across.beta, newton.beta, rtol=1e-9, atol=1e-10)
    assert laplace_deviance(system, across) == pytest.approx(laplace_deviance(system, newton),
                                                             rel=1e-12)


def test_chord_across_theta_only_near_the_last_theta():
    data = _crossed("logit")
    system = glmm_setup("y ~ x + (1 | subject) + (1 | item)", data, "binomial")
    first = _pirls.pirls(system, np.array([0.9, 0.5]), None, None, True)
    near = 0.9 * (1 + _pirls.CHORD_ACROSS / 2)
    far = 0.9 * (1 + 2 * _pirls.CHORD_ACROSS)
    assert _pirls._chord_across(system, first, np.array([near, 0.5]), True) is not None
    assert _pirls._chord_across(system, first, np.array([far, 0.5]), True) is None
    assert _pirls._chord_across(system, None, np.array([near, 0.5]), True) is None


def test_carried_modes_keep_b():
    """u at the new θ gives the same b = Λu, term by term (a correlated vector term and a
    scalar one); a term whose T collapses keeps its u."""
    rng = np.random.default_rng(5)
    n = 400
    data = pd.DataFrame({"y": (rng.uniform(size=n) < 0.5).astype(float),
                         "x": rng.normal(size=n), "g": rng.integers(0, 20, n).astype(str),
                         "h": rng.integers(0, 8, n).astype(str)})
    system = glmm_setup("y ~ x + (1 + x | g) + (1 | h)", data, "binomial")
    q = system.q
    u = rng.normal(size=q)
    old, new = np.array([1.0, 0.3, 0.8, 0.6]), np.array([1.2, -0.1, 0.7, 0.5])
    carried = carried_modes(system.design.terms, u, old, new)
    np.testing.assert_allclose(system.Lambda(new) @ carried, system.Lambda(old) @ u,
                               rtol=1e-12, atol=1e-12)
    collapsed = np.array([1.2, -0.1, 0.7, 0.01])
    kept = carried_modes(system.design.terms, u, old, collapsed)
    np.testing.assert_array_equal(kept[40:], u[40:])
