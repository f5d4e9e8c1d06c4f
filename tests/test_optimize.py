"""The optimizer stage: L-BFGS-B with a gradient, BOBYQA without, lme4's boundary rules."""

from __future__ import annotations

import itertools
import warnings

import numpy as np
import pytest

import lmmpy
from lmmpy.design import build_design
from lmmpy.formula import parse_formula
from lmmpy.objective import ProfiledDeviance, cross_products
from lmmpy.optimize import minimize_deviance, optimize_theta


def _quadratic(theta):
    return float((theta[0] - 2.0) ** 2 + 10 * (theta[1] + 0.5) ** 2)


def _quadratic_with_gradient(theta):
    return _quadratic(theta), np.array([2 * (theta[0] - 2.0), 20 * (theta[1] + 0.5)])


def test_with_a_gradient_lbfgsb_finds_the_bounded_minimum():
    summary = optimize_theta(_quadratic, np.array([1.0, 1.0]), np.array([0.0, 0.0]),
                             value_and_gradient=_quadratic_with_gradient)
    assert summary.optimizer == "L-BFGS-B (scipy)"
    assert summary.theta == pytest.approx([2.0, 0.0], abs=1e-7)   # θ₂ held at its bound
    assert summary.converged
    assert summary.n_evaluations < 15


def test_without_a_gradient_bobyqa_finds_the_same_minimum():
    summary = optimize_theta(_quadratic, np.array([1.0, 1.0]), np.array([0.0, 0.0]))
    assert summary.optimizer == "bobyqa (NLopt)"
    assert summary.theta == pytest.approx([2.0, 0.0], abs=1e-6)


def _even(theta):
    """Even in θ, like the deviance in a scalar term's θ: a zero derivative at θ = 0."""
    t = theta[0]
    return float((t * t - 1.0) ** 2), np.array([4 * t * (t * t - 1.0)])


def test_edge_restart_leaves_a_stationary_boundary_point():
    """L-BFGS-B started on the bound sees a zero gradient; lme4's edge check moves it off."""
    summary = optimize_theta(lambda t: _even(t)[0], np.array([0.0]), np.array([0.0]),
                             value_and_gradient=_even)
    assert summary.n_restarts == 1
    assert summary.theta == pytest.approx([1.0], abs=1e-6)


def test_checks_reuse_the_optimizers_last_gradient():
    calls = []

    def counted(theta):
        calls.append(theta.copy())
        return _quadratic_with_gradient(theta)

    summary = optimize_theta(_quadratic, np.array([1.0, 1.0]), np.array([-np.inf, -np.inf]),
                             value_and_gradient=counted)
    assert summary.n_evaluations == len(calls)
    assert not any(np.array_equal(a, b) for a, b in itertools.pairwise(calls))
    assert summary.hessian == pytest.approx(np.diag([2.0, 20.0]), rel=1e-6)


def _design(formula="Reaction ~ Days + (Days | Subject)"):
    return build_design(parse_formula(formula), lmmpy.datasets.load("sleepstudy"))


@pytest.mark.parametrize("path", ["dense", "blocked"])
def test_dense_and_blocked_fits_use_the_gradient(path):
    design = _design()
    f = ProfiledDeviance(cross_products(design), design.terms, True, _path=path)
    summary = minimize_deviance(f, design.theta_start(), design.theta_lower_bounds())
    assert summary.optimizer == "L-BFGS-B (scipy)"
    assert summary.objective == pytest.approx(1743.6282719585, abs=1e-7)


def test_the_cholmod_path_uses_bobyqa_and_reaches_the_same_optimum():
    design = _design()
    f = ProfiledDeviance(cross_products(design), design.terms, True, _path="cholmod")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        summary = minimize_deviance(f, design.theta_start(), design.theta_lower_bounds())
    assert summary.optimizer == "bobyqa (NLopt)"
    assert summary.objective == pytest.approx(1743.6282719585, abs=1e-6)
