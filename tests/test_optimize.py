"""The optimizer stage: Newton with a Hessian, BFGS with a gradient, BOBYQA without, lme4's
boundary rules."""

from __future__ import annotations

import itertools
import warnings

import numpy as np
import pytest
from reference import case_design, case_files

import lmmpy
from lmmpy.design import build_design
from lmmpy.formula import parse_formula
from lmmpy.objective import ProfiledDeviance, cross_products
from lmmpy.optimize import (
    _CountingObjective,
    _derivatives,
    _derivatives_from_gradient,
    minimize_deviance,
    optimize_theta,
)


def _quadratic(theta):
    return float((theta[0] - 2.0) ** 2 + 10 * (theta[1] + 0.5) ** 2)


def _quadratic_with_gradient(theta):
    return _quadratic(theta), np.array([2 * (theta[0] - 2.0), 20 * (theta[1] + 0.5)])


def test_with_a_gradient_bfgs_finds_the_bounded_minimum():
    summary = optimize_theta(_quadratic, np.array([1.0, 1.0]), np.array([0.0, 0.0]),
                             value_and_gradient=_quadratic_with_gradient)
    assert summary.optimizer == "projected BFGS (analytic gradient)"
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
    """BFGS started on the bound sees a zero gradient; lme4's edge check moves it off."""
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


@pytest.mark.parametrize(("path", "optimizer"), [
    ("dense", "projected Newton (analytic Hessian)"),
    ("blocked", "projected BFGS (analytic gradient)")])
def test_dense_fits_use_newton_and_blocked_fits_bfgs(path, optimizer):
    design = _design()
    f = ProfiledDeviance(cross_products(design), design.terms, True, _path=path)
    summary = minimize_deviance(f, design.theta_start(), design.theta_lower_bounds())
    assert summary.optimizer == optimizer
    assert summary.objective == pytest.approx(1743.6282719585, abs=1e-7)
    assert summary.converged


def _with_hessian(theta):
    value, gradient = _quadratic_with_gradient(theta)
    return value, gradient, np.diag([2.0, 20.0])


def test_newton_finds_the_bounded_minimum_in_one_step():
    summary = optimize_theta(_quadratic, np.array([1.0, 1.0]), np.array([0.0, 0.0]),
                             value_gradient_hessian=_with_hessian)
    assert summary.optimizer == "projected Newton (analytic Hessian)"
    assert summary.theta == pytest.approx([2.0, 0.0], abs=1e-12)
    assert summary.n_evaluations <= 4   # start, one projected step, the check


def _double_well(theta):
    """(t² − 1)² + u²: an indefinite Hessian between the wells; minima at t = ±1."""
    t, u = theta
    value = (t * t - 1.0) ** 2 + u * u
    gradient = np.array([4 * t * (t * t - 1.0), 2 * u])
    hessian = np.diag([12 * t * t - 4.0, 2.0])
    return value, gradient, hessian


def test_newton_descends_where_the_hessian_is_indefinite():
    summary = optimize_theta(lambda t: _double_well(t)[0], np.array([0.3, 1.0]),
                             np.array([-np.inf, -np.inf]), value_gradient_hessian=_double_well)
    assert summary.theta == pytest.approx([1.0, 0.0], abs=1e-8)
    assert summary.converged


def test_newton_leaves_a_stationary_boundary_point_along_negative_curvature():
    """On the bound with a zero gradient and H < 0, Newton itself moves off (no restart)."""
    def even(theta):
        value, gradient = _even(theta)
        return value, gradient, np.array([[12 * theta[0] ** 2 - 4.0]])

    summary = optimize_theta(lambda t: _even(t)[0], np.array([0.0]), np.array([0.0]),
                             value_gradient_hessian=even)
    assert summary.n_restarts == 0
    assert summary.theta == pytest.approx([1.0], abs=1e-8)


def test_newton_stops_on_a_bound_that_is_a_minimum():
    def bowl(theta):
        return float(theta[0] ** 2), np.array([2 * theta[0]]), np.array([[2.0]])

    summary = optimize_theta(lambda t: bowl(t)[0], np.array([0.0]), np.array([0.0]),
                             value_gradient_hessian=bowl)
    assert summary.theta == pytest.approx([0.0]) and summary.n_evaluations <= 3


def test_the_cholmod_path_uses_its_gradient_and_reaches_the_same_optimum():
    design = _design()
    f = ProfiledDeviance(cross_products(design), design.terms, True, _path="cholmod")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        summary = minimize_deviance(f, design.theta_start(), design.theta_lower_bounds())
    assert summary.optimizer == "projected BFGS (analytic gradient)"   # a selected inverse
    assert summary.objective == pytest.approx(1743.6282719585, abs=1e-6)


def test_em_steps_start_bfgs_closer_and_reach_the_same_optimum():
    """From lme4's start BFGS spends evaluations finding each term's scale; EM finds it."""
    design = _design()
    summaries = []
    for em_start in (True, False):
        f = ProfiledDeviance(cross_products(design), design.terms, True, _path="blocked")
        summaries.append(minimize_deviance(f, design.theta_start(), design.theta_lower_bounds(),
                                           em_start=em_start))
    with_em, without = summaries
    assert with_em.objective == pytest.approx(without.objective, abs=1e-8)
    assert with_em.theta_start == pytest.approx(design.theta_start())
    assert with_em.n_evaluations < without.n_evaluations


def test_an_em_step_that_does_not_descend_is_not_taken():
    evaluated = []

    def recorded(theta):
        evaluated.append(theta.copy())
        return _quadratic_with_gradient(theta)

    summary = optimize_theta(_quadratic, np.array([1.0, 1.0]), np.array([0.0, 0.0]),
                             value_and_gradient=recorded,
                             em_update=lambda theta, gradient: theta + 5.0)
    assert [list(t) for t in evaluated[:2]] == [[1.0, 1.0], [6.0, 6.0]]   # tried, uphill
    assert not any(np.array_equal(t, [6.0, 6.0]) for t in evaluated[2:])
    assert summary.theta == pytest.approx([2.0, 0.0], abs=1e-7)


def test_hessian_check_reuses_gradients_near_the_optimum():
    """BFGS's last steps are forward differences too: fewer new gradients, the same Hessian
    as coordinate steps of 1e-4 (to their own accuracy)."""
    design = _design()
    f = ProfiledDeviance(cross_products(design), design.terms, True, _path="blocked")
    summary = minimize_deviance(f, design.theta_start(), design.theta_lower_bounds())
    theta, h = summary.theta, 1e-4
    gradient = f.value_and_gradient(theta)[1]
    coordinate = np.column_stack([(f.value_and_gradient(theta + h * e)[1] - gradient) / h
                                  for e in np.eye(len(theta))])
    coordinate = (coordinate + coordinate.T) / 2
    scale = np.max(np.abs(coordinate))
    assert np.max(np.abs(summary.hessian - coordinate)) < 1e-2 * scale


def test_nearby_gradients_give_the_exact_hessian_of_a_quadratic():
    A = np.array([[4.0, 1.0, 0.5], [1.0, 3.0, 0.2], [0.5, 0.2, 2.0]])
    counted = _CountingObjective(lambda t: 0.5 * t @ A @ t, lambda t: (0.5 * t @ A @ t, A @ t))
    theta = np.array([0.3, 0.2, 0.1])
    for step in ([1e-5, 2e-5, 0.0], [2e-5, 1e-5, 0.0], [0.0, 0.0, 5e-3]):  # 2 near, 1 far
        counted.with_gradient(theta + np.array(step))
    before = counted.count
    _, hessian = _derivatives_from_gradient(counted, theta, np.full(3, -np.inf))
    assert hessian == pytest.approx(A, rel=1e-7)
    assert counted.count - before == 2   # ĝ and one coordinate step (θ₃, uncovered)


def test_nearby_gradients_count_relative_to_theta():
    """A gradient 0.4 % of θ away (past 2e-4) is a difference too; one 2 % away is not."""
    A = np.array([[4.0, 1.0], [1.0, 3.0]])
    counted = _CountingObjective(lambda t: 0.5 * t @ A @ t, lambda t: (0.5 * t @ A @ t, A @ t))
    theta = np.array([1.0, 2.0])
    for step in ([4e-3, 0.0], [0.0, 8e-3]):
        counted.with_gradient(theta + np.array(step))
    before = counted.count
    _, hessian = _derivatives_from_gradient(counted, theta, np.full(2, -np.inf))
    assert hessian == pytest.approx(A, rel=1e-7)
    assert counted.count - before == 1   # ĝ only
    counted = _CountingObjective(lambda t: 0.5 * t @ A @ t, lambda t: (0.5 * t @ A @ t, A @ t))
    counted.with_gradient(theta + np.array([2e-2, 0.0]))
    before = counted.count
    _derivatives_from_gradient(counted, theta, np.full(2, -np.inf))
    assert counted.count - before == 3   # ĝ and both coordinate steps


def test_forward_mixed_differences_cost_one_value_a_pair():
    """An estimated deviance's checks: 2n + n(n − 1)/2 values, exact on a quadratic as
    lme4's central differences are."""
    A = np.array([[4.0, 1.0, 0.5], [1.0, 3.0, 0.2], [0.5, 0.2, 2.0]])
    b = np.array([1.0, -2.0, 0.5])
    counted = _CountingObjective(lambda t: 0.5 * t @ A @ t + b @ t)
    theta = np.array([0.3, 0.2, 0.1])
    f0 = counted(theta)
    gradient, hessian = _derivatives(counted, theta, f0, np.zeros(3), cross="forward")
    assert counted.count == 1 + 2 * 3 + 3
    assert gradient == pytest.approx(A @ theta + b, rel=1e-6)
    assert hessian == pytest.approx(A, rel=1e-5)
    central = _derivatives(counted, theta, f0, np.zeros(3))
    assert counted.count == 1 + 2 * 3 + 3 + 2 * 9
    assert hessian == pytest.approx(central[1], rel=1e-5)


@pytest.mark.parametrize("name", case_files("fit"))
def test_em_and_bfgs_reach_lme4s_optimum_or_better_on_every_reference_case(name):
    """The blocked path's optimizer on every case (the fits take it only for the large ones)."""
    case, design = case_design(name)
    f = ProfiledDeviance(cross_products(design), design.terms, case["REML"], _path="blocked")
    summary = minimize_deviance(f, design.theta_start(), design.theta_lower_bounds())
    assert summary.optimizer == "projected BFGS (analytic gradient)"
    assert summary.objective <= f(np.array(list(case["theta"].values()))) + 1e-7
    assert summary.converged, summary.convergence_messages
