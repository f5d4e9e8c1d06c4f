"""The factorizations' written interface and their declared capabilities."""

from dataclasses import replace

import numpy as np
import pytest

from lmmpy.datasets import load
from lmmpy.design import build_design
from lmmpy.formula import parse_formula
from lmmpy.objective import Capabilities, Factorization, ProfiledDeviance, cross_products

PATHS = ["dense", "blocked", "cholmod"]
THETA = np.array([0.9, 0.1, 0.2])


@pytest.fixture(scope="module")
def design():
    return build_design(parse_formula("Reaction ~ Days + (Days | Subject)"), load("sleepstudy"))


@pytest.mark.parametrize("path", PATHS)
def test_each_factorization_has_the_interface(design, path):
    objective = ProfiledDeviance(cross_products(design), design.terms, _path=path)
    factor = objective.factor
    assert isinstance(factor, Factorization)
    assert factor.name == path
    assert isinstance(factor.capabilities, Capabilities)
    other = factor.with_crossprods(cross_products(replace(design, weights=np.full(180, 2.0))))
    assert isinstance(other, Factorization) and other.name == path
    logdet, R = factor.update(THETA)
    assert factor.logdet() == pytest.approx(logdet)
    assert R.shape == (3, 3)
    Lambda = factor.Lambda(THETA)
    assert np.allclose(np.asarray(Lambda.todense() if hasattr(Lambda, "todense") else Lambda),
                       objective.layout.Lambda(THETA).toarray())


@pytest.mark.parametrize("path", PATHS)
def test_the_objective_reads_the_declared_capabilities(design, path):
    objective = ProfiledDeviance(cross_products(design), design.terms, _path=path)
    capabilities = objective.factor.capabilities
    assert objective.has_gradient == (capabilities.gradient is not None)
    assert objective.has_hessian == capabilities.hessian
    assert capabilities.exact   # the exact factorizations; the stochastic one is not


def test_the_stochastic_factorization_declares_itself_inexact(design):
    objective = ProfiledDeviance(cross_products(design), design.terms, _path="stochastic")
    assert not objective.factor.capabilities.exact


@pytest.mark.parametrize("path", PATHS)
def test_a_declared_gradient_is_the_derivative(design, path):
    objective = ProfiledDeviance(cross_products(design), design.terms, _path=path)
    if not objective.has_gradient:
        pytest.skip(f"the {path} factorization declares no analytic gradient")
    step = 1e-6
    numeric = [(objective(THETA + step * e) - objective(THETA - step * e)) / (2 * step)
               for e in np.eye(3)]
    np.testing.assert_allclose(objective.value_and_gradient(THETA)[1], numeric, rtol=1e-5)


def test_the_dense_factorization_declares_its_hessian(design):
    objective = ProfiledDeviance(cross_products(design), design.terms, _path="dense")
    value, gradient, hessian = objective.value_gradient_hessian(THETA)
    assert value == objective(THETA)
    np.testing.assert_allclose(gradient, objective.value_and_gradient(THETA)[1], rtol=1e-10)
    step = 1e-5
    numeric = np.array([(objective.value_and_gradient(THETA + step * e)[1]
                         - objective.value_and_gradient(THETA - step * e)[1]) / (2 * step)
                        for e in np.eye(3)])
    np.testing.assert_allclose(hessian, numeric, rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("path", PATHS)
def test_returning_to_an_earlier_theta_with_or_without_snapshots(design, path):
    objective = ProfiledDeviance(cross_products(design), design.terms, _path=path)
    first = objective.solve(THETA)
    objective(THETA * 2)
    again = objective.solve(THETA)   # the kept state (snapshots) or a refactorization
    np.testing.assert_allclose(again.u, first.u, rtol=1e-12)
    assert again.deviance == first.deviance


@pytest.mark.parametrize("kwargs, message", [
    (dict(gradient="numeric"), "gradient must be None, 'augmented' or 'trace_terms'"),
    (dict(gradient="trace_terms", hessian=True), "a factorization with a Hessian has the augmented"),
])
def test_capabilities_that_cannot_be(kwargs, message):
    with pytest.raises(ValueError, match=message):
        Capabilities(**kwargs)
