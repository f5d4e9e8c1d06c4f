"""PIRLS's shortcuts against what they stand in for: the compiled logit deviance
(lmmpy/glmm/_kernels.py) against the family's numpy expressions, and the first-order
prediction of û (``mode_derivatives``, the Hessian's warm starts) against û itself, and
that of (û, β̂) with β inside PIRLS (``stage1_mode_slopes``, the nAGQ = 0 descent's warm
starts) against them."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from lmmpy._families import Binomial
from lmmpy.glmm._gradient import laplace_gradient, mode_derivatives
from lmmpy.glmm._pirls import pirls
from lmmpy.glmm.fit import glmm_setup


def _data(seed: int = 2, n: int = 300) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    g, h = rng.integers(0, 15, n), rng.integers(0, 6, n)
    x = rng.normal(size=n)
    eta = -0.3 + 0.8 * x + rng.normal(0, 0.8, 15)[g] + 0.5 * x * rng.normal(0, 1, 15)[g] \
        + rng.normal(0, 0.5, 6)[h]
    return pd.DataFrame({"y": rng.binomial(1, 1 / (1 + np.exp(-eta))),
                         "k": rng.binomial(5, 1 / (1 + np.exp(-eta))), "x": x,
                         "count": rng.poisson(np.exp(eta / 2)),
                         "g": [f"g{i}" for i in g], "h": [f"h{i}" for i in h]})


@pytest.mark.parametrize("formula", ["y ~ x + (1 | g)", "cbind(k, 5 - k) ~ x + (1 | g)"])
def test_logit_kernels_are_the_families_expressions(formula):
    system = glmm_setup(formula, _data(), "binomial")
    response = system.response
    rng = np.random.default_rng(3)
    eta = rng.normal(0, 4, response.y.shape)
    eta[:6] = [-45.0, 45.0, -30.0, 30.0, 0.0, -1e-300]   # R's clamps and their edges
    offset = rng.normal(0, 1, eta.shape)
    weights, z = response.working(eta, offset)
    family = Binomial("logit")
    mu, mu_eta = family.linkinv(eta), family.mu_eta(eta)
    np.testing.assert_allclose(weights, response.weights * mu_eta**2 / family.variance(mu),
                               rtol=1e-14)
    np.testing.assert_allclose(z, eta - offset + (response.y - mu) / mu_eta, rtol=1e-14,
                               atol=1e-14)
    expected = np.sum(family.deviance_residuals(response.y, mu, response.weights))
    assert response.deviance_at(eta) == pytest.approx(expected, rel=1e-13)


def test_other_links_keep_the_numpy_expressions():
    system = glmm_setup("y ~ x + (1 | g)", _data(), "binomial", link="probit")
    response = system.response
    eta = np.linspace(-3, 3, len(response.y))
    mu = response.mu(eta)
    assert response.deviance_at(eta) == np.sum(response.deviance_residuals(mu))


@pytest.mark.parametrize(("formula", "family", "link"), [
    ("y ~ x + (1 | g) + (1 | h)", "binomial", None),
    ("y ~ x + (x | g)", "binomial", "probit"),
    ("count ~ x + (1 | g) + (1 | h)", "poisson", None),
])
def test_mode_derivatives_predict_the_modes(formula, family, link):
    """û at x ± h e_j from û + h dû/dx_j is O(h²) off (the prediction's point), where û
    itself moves O(h)."""
    system = glmm_setup(formula, _data(), family, link=link)
    n_theta = len(system.design.theta_start())
    theta = np.full(n_theta, 0.7)
    theta[system.design.theta_lower_bounds() != 0] = 0.2
    beta = np.full(system.n_fixed, 0.1)
    center = pirls(system, theta, beta, None, False, 1e-14)
    D = mode_derivatives(system, center)
    h = 1e-4
    for j in range(n_theta + system.n_fixed):
        x = np.concatenate([theta, beta])
        x[j] += h
        moved = pirls(system, x[:n_theta], x[n_theta:], center.u, False, 1e-14).u
        scale = np.max(np.abs(moved - center.u))
        error = np.max(np.abs(moved - center.u - h * D[:, j]))
        assert error <= (1e-3 if link is None else 0.2) * scale + 1e-12


@pytest.mark.parametrize(("formula", "family", "link"), [
    ("y ~ x + (1 | g) + (1 | h)", "binomial", None),
    ("y ~ x + (x | g)", "binomial", "probit"),
    ("count ~ x + (1 | g) + (1 | h)", "poisson", None),
])
def test_stage1_slopes_predict_the_modes_and_beta(formula, family, link):
    """(û, β̂) at θ + h e_j from their slopes (filled in by the nAGQ = 0 gradient) is O(h²)
    off, where they move O(h); the slopes leave the gradient as it was."""
    system = glmm_setup(formula, _data(), family, link=link)
    n_theta = len(system.design.theta_start())
    theta = np.full(n_theta, 0.7)
    theta[system.design.theta_lower_bounds() != 0] = 0.2
    center = pirls(system, theta, None, None, True, 1e-14)
    slopes = []
    gradient = laplace_gradient(system, center, True, slopes=slopes)
    np.testing.assert_array_equal(gradient, laplace_gradient(system, center, True))
    du, dbeta = slopes
    assert du.shape == (system.q, n_theta) and dbeta.shape == (system.n_fixed, n_theta)
    h = 1e-4
    for j in range(n_theta):
        moved_theta = theta.copy()
        moved_theta[j] += h
        moved = pirls(system, moved_theta, center.beta, center.u, True, 1e-14)
        for new, old, slope in ((moved.u, center.u, du[:, j]),
                                (moved.beta, center.beta, dbeta[:, j])):
            scale = np.max(np.abs(new - old))
            error = np.max(np.abs(new - old - h * slope))
            assert error <= (1e-3 if link is None else 0.2) * scale + 1e-12
