"""The opt-in stochastic factorization (objective/_stochastic.py) against the exact one.

Its log|A| is a mean over independent probes (Hutchinson), so its error is judged in its
own standard errors: within 4 of them (a normal deviate beyond 4 has probability 6e-5; the
probes are fixed, so each test is deterministic), once the Lanczos quadrature has enough
steps (doubling them moves the estimate by far less than one standard error).  Its solves
are conjugate gradients to a relative residual of 1e-10: R and û match the exact ones.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from lmmpy.design import build_design
from lmmpy.formula import parse_formula
from lmmpy.objective import ProfiledDeviance, cross_products
from lmmpy.objective._lambda import theta_layout
from lmmpy.objective._stochastic import StochasticFactorization


def _design(seed=4, users=600, items=150, per_user=6):
    rng = np.random.default_rng(seed)
    weights = 1.0 / (np.arange(items) + 10.0) ** 0.9
    user = np.repeat(np.arange(users), per_user)
    item = np.concatenate([rng.choice(items, per_user, replace=False, p=weights / weights.sum())
                           for _ in range(users)])
    y = 3 + rng.normal(size=users)[user] * 0.5 + rng.normal(size=items)[item] * 0.7 \
        + rng.normal(size=len(user))
    data = pd.DataFrame({"y": y, "user": pd.Categorical(user), "item": pd.Categorical(item)})
    return build_design(parse_formula("y ~ 1 + (1 | user) + (1 | item)"), data)


@pytest.mark.parametrize("theta", [[0.5, 0.7], [1.2, 0.3], [0.2, 2.0]])
def test_the_log_determinant_is_within_four_standard_errors(theta):
    design = _design()
    cp = cross_products(design)
    exact = ProfiledDeviance(cp, design.terms, False, _path="cholmod")
    theta = np.array(theta)
    exact(theta)
    estimate = StochasticFactorization(cp, theta_layout(design.terms))
    logdet, _ = estimate.update(theta)
    assert abs(logdet - exact.factor.logdet()) <= 4 * estimate.standard_error
    longer = StochasticFactorization(cp, theta_layout(design.terms), steps=80)
    assert abs(longer.update(theta)[0] - logdet) <= 0.1 * estimate.standard_error


@pytest.mark.parametrize("reml", [False, True])
def test_the_solves_are_exact_to_their_tolerance(reml):
    design = _design(seed=5)
    cp = cross_products(design)
    exact = ProfiledDeviance(cp, design.terms, reml, _path="cholmod")
    approximate = ProfiledDeviance(cp, design.terms, reml, _path="stochastic")
    theta = np.array([0.6, 0.8])
    ours, theirs = approximate.solve(theta), exact.solve(theta)
    assert ours.pwrss == pytest.approx(theirs.pwrss, rel=1e-8)
    np.testing.assert_allclose(ours.beta, theirs.beta, rtol=1e-8)
    np.testing.assert_allclose(ours.u, theirs.u, rtol=1e-6, atol=1e-8)
    error = approximate.factor.standard_error
    assert abs(ours.deviance - theirs.deviance) <= 4 * error


def test_it_is_opt_in_and_has_no_gradient():
    design = _design(seed=6, users=100, items=40)
    cp = cross_products(design)
    assert ProfiledDeviance(cp, design.terms, False).path != "stochastic"
    approximate = ProfiledDeviance(cp, design.terms, False, _path="stochastic")
    assert approximate.path == "stochastic" and not approximate.has_gradient
