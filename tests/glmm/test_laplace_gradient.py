"""The analytic gradient of the Laplace criterion (lmmpy/glmm/_gradient.py) against central
differences of the criterion, over (θ, β) (stage 2) and over θ with β inside PIRLS
(nAGQ = 0), for canonical and non-canonical links, scalar, vector and crossed terms, on
the dense, blocked and CHOLMOD factorizations; and the derivatives of the families."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import lmmpy
from lmmpy._families import LINKS, Binomial, Gamma, InverseGaussian, NegativeBinomial, Poisson
from lmmpy.glmm._gradient import laplace_gradient, row_derivatives
from lmmpy.glmm._laplace import laplace_deviance
from lmmpy.glmm._pirls import pirls
from lmmpy.glmm.fit import glmm_setup

STEP = 1e-5
TIGHT = 1e-13   # PIRLS to rounding: the differences then see the criterion's own slope


def _simulated(family: str, seed: int = 1) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    n = 240
    g, h = rng.integers(0, 12, n), rng.integers(0, 8, n)
    x = rng.normal(size=n)
    eta = 0.3 + 0.5 * x + rng.normal(0, 0.6, 12)[g] + 0.4 * x * rng.normal(0, 1, 12)[g] \
        + rng.normal(0, 0.5, 8)[h]
    if family == "binomial":
        y = rng.binomial(1, 1 / (1 + np.exp(-eta)))
    elif family in ("poisson", "nb"):
        y = rng.poisson(np.exp(eta))
    elif family == "Gamma":
        y = rng.gamma(3.0, np.exp(eta) / 3.0)
    else:
        y = rng.wald(1 / np.sqrt(3 + 0.5 * eta), 4.0)   # 1/μ² linear in η, and positive
    return pd.DataFrame({"y": y, "x": x, "g": [f"g{i}" for i in g], "h": [f"h{i}" for i in h]})


CASES = [   # (family, link, formula, data)
    ("binomial", "logit", "cbind(incidence, size - incidence) ~ period + (1 | herd)", "cbpp"),
    ("binomial", "probit", "cbind(incidence, size - incidence) ~ period + (1 | herd)", "cbpp"),
    ("binomial", "cloglog", "y ~ x + (1 | g) + (1 | h)", "binomial"),
    ("binomial", "cauchit", "y ~ x + (1 | g)", "binomial"),
    ("poisson", "log", "y ~ x + (1 + x | g) + (1 | h)", "poisson"),
    ("poisson", "sqrt", "y ~ x + (1 | g) + (1 | h)", "poisson"),
    ("Gamma", "log", "y ~ x + (1 + x | g)", "Gamma"),
    ("Gamma", "inverse", "y ~ x + (1 | g)", "Gamma"),
    ("inverse.gaussian", "1/mu^2", "y ~ x + (1 | g)", "ig"),
    ("inverse.gaussian", "log", "y ~ x + (1 | g) + (1 | h)", "ig"),
    (NegativeBinomial(2.0), "log", "y ~ x + (1 + x | g)", "nb"),
]


def _data(name: str) -> pd.DataFrame:
    return lmmpy.datasets.load("cbpp") if name == "cbpp" else _simulated(name)


def _start(system, vary_beta: bool):
    """A point away from the optimum: θ from lme4's start shrunk, β from PIRLS there."""
    theta = 0.7 * system.design.theta_start() + 0.1 * (system.design.theta_start() == 0)
    if vary_beta:
        return theta
    beta = pirls(system, theta, None, None, True, TIGHT).beta
    return np.concatenate([theta, beta + 0.05])


def _criterion(system, x, vary_beta: bool) -> tuple[float, object]:
    n_theta = len(system.design.theta_start())
    if vary_beta:
        result = pirls(system, x, None, None, True, TIGHT)
    else:
        result = pirls(system, x[:n_theta], x[n_theta:], None, False, TIGHT)
    return laplace_deviance(system, result), result


def _differences(system, x, vary_beta: bool) -> np.ndarray:
    out = np.empty(len(x))
    for i in range(len(x)):
        step = np.zeros(len(x))
        step[i] = STEP
        out[i] = (_criterion(system, x + step, vary_beta)[0]
                  - _criterion(system, x - step, vary_beta)[0]) / (2 * STEP)
    return out


@pytest.mark.parametrize("vary_beta", [False, True], ids=["theta_beta", "nagq0"])
@pytest.mark.parametrize("family, link, formula, data", CASES,
                         ids=[f"{c[0] if isinstance(c[0], str) else 'nb'}-{c[1]}-{i}"
                              for i, c in enumerate(CASES)])
def test_gradient_matches_differences(family, link, formula, data, vary_beta):
    system = glmm_setup(formula, _data(data), family, link=link)
    x = _start(system, vary_beta)
    _, result = _criterion(system, x, vary_beta)
    gradient = laplace_gradient(system, result, vary_beta)
    expected = _differences(system, x, vary_beta)
    np.testing.assert_allclose(gradient, expected, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("path", ["dense", "blocked", "cholmod"])
@pytest.mark.parametrize("vary_beta", [False, True], ids=["theta_beta", "nagq0"])
def test_gradient_on_every_factorization(path, vary_beta):
    system = glmm_setup("y ~ x + (1 | g) + (1 | h)", _simulated("binomial"), "binomial",
                        link="probit", path=path)
    x = _start(system, vary_beta)
    _, result = _criterion(system, x, vary_beta)
    assert result.objective.path == path
    gradient = laplace_gradient(system, result, vary_beta)
    np.testing.assert_allclose(gradient, _differences(system, x, vary_beta), rtol=1e-5,
                               atol=1e-5)


@pytest.mark.parametrize("name", sorted(LINKS))
def test_second_derivative_of_each_inverse_link(name):
    link = LINKS[name]
    eta = {"sqrt": np.array([0.5, 1.0, 2.0]), "inverse": np.array([0.5, 1.0, 2.0]),
           "1/mu^2": np.array([0.5, 1.0, 2.0])}.get(name, np.array([-1.5, -0.2, 0.4, 2.0]))
    h = 1e-6
    expected = (link.mu_eta(eta + h) - link.mu_eta(eta - h)) / (2 * h)
    np.testing.assert_allclose(link.mu_eta2(eta), expected, rtol=1e-6, atol=1e-9)


@pytest.mark.parametrize("family", [Binomial(), Poisson(), Gamma(), InverseGaussian(),
                                    NegativeBinomial(1.5)], ids=repr)
def test_aic_and_variance_derivatives(family):
    rng = np.random.default_rng(3)
    if isinstance(family, Binomial):
        trials = rng.integers(1, 6, 20).astype(float)
        y = rng.integers(0, 6, 20) % (trials + 1) / trials
        mu = rng.uniform(0.2, 0.8, 20)
    else:
        trials = np.ones(20)
        y = rng.poisson(3, 20) + (0.5 if isinstance(family, Gamma | InverseGaussian) else 0)
        mu = rng.uniform(1, 5, 20)
    weights = trials if isinstance(family, Binomial) else rng.uniform(0.5, 2, 20)
    h = 1e-6
    expected = np.empty(20)
    for i in range(20):
        step = np.zeros(20)
        step[i] = h
        deviance_at = [np.sum(family.deviance_residuals(y, m, weights)) for m in (mu + step,
                                                                                  mu - step)]
        aic = [family.aic(y, trials, m, weights, d)
               for m, d in zip((mu + step, mu - step), deviance_at, strict=True)]
        expected[i] = (aic[0] - aic[1]) / (2 * h)
    np.testing.assert_allclose(family.aic_derivative(y, trials, mu, weights), expected,
                               rtol=1e-6, atol=1e-6)
    V = (family.variance(mu + h) - family.variance(mu - h)) / (2 * h)
    np.testing.assert_allclose(family.variance_derivative(mu), V, rtol=1e-6)


def test_row_derivatives_are_fisher_weights_for_a_canonical_link():
    system = glmm_setup("y ~ x + (1 | g)", _simulated("poisson"), "poisson")
    eta = np.log(system.response.y + 0.5)
    rows = row_derivatives(system, eta)
    np.testing.assert_allclose(rows.d2, 2 * rows.W, rtol=1e-12)
    np.testing.assert_allclose(rows.W, system.response.working(eta, system.design.offset)[0],
                               rtol=1e-12)


def _with_shape(system, k: float):
    from dataclasses import replace

    family = NegativeBinomial(k, system.response.family.link.name)
    system.response = replace(system.response, family=family)
    return system


@pytest.mark.parametrize("vary_beta", [False, True], ids=["theta_beta", "nagq0"])
@pytest.mark.parametrize("link, formula", [("log", "y ~ x + (1 + x | g)"),
                                           ("log", "y ~ x + (1 | g) + (1 | h)"),
                                           ("sqrt", "y ~ x + (1 | g)")])
def test_shape_derivative_matches_differences_in_log_k(link, formula, vary_beta):
    """glmer_nb's joint search: the gradient's last entry is dF/d log k."""
    system = glmm_setup(formula, _simulated("nb"), NegativeBinomial(2.0), link=link)
    x = _start(system, vary_beta)
    log_k = np.log(1.7)
    _, result = _criterion(_with_shape(system, np.exp(log_k)), x, vary_beta)
    gradient = laplace_gradient(system, result, vary_beta, with_shape=True)
    values = [_criterion(_with_shape(system, np.exp(log_k + sign * STEP)), x, vary_beta)[0]
              for sign in (1, -1)]
    assert gradient.shape == (len(x) + 1,)
    np.testing.assert_allclose(gradient[-1], (values[0] - values[1]) / (2 * STEP), rtol=1e-5,
                               atol=1e-5)
    _with_shape(system, np.exp(log_k))
    np.testing.assert_allclose(gradient[:-1], _differences(system, x, vary_beta), rtol=1e-5,
                               atol=1e-5)


def test_negative_binomial_shape_derivatives():
    rng = np.random.default_rng(4)
    y, mu, weights = rng.poisson(3, 20).astype(float), rng.uniform(1, 5, 20), rng.uniform(
        0.5, 2, 20)
    k, h = 1.5, 1e-6
    aic_k, V_k = NegativeBinomial(k).shape_derivatives(y, mu, weights)
    for i in range(20):
        at = [NegativeBinomial(k + s).aic(y[i:i + 1], np.ones(1), mu[i:i + 1], weights[i:i + 1],
                                          0.0) for s in (h, -h)]
        np.testing.assert_allclose(aic_k[i], (at[0] - at[1]) / (2 * h), rtol=1e-6, atol=1e-8)
    V = (NegativeBinomial(k + h).variance(mu) - NegativeBinomial(k - h).variance(mu)) / (2 * h)
    np.testing.assert_allclose(V_k, V, rtol=1e-6)
