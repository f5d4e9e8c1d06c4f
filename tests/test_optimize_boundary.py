"""The boundary of θ: canonical factors of singular covariances, the escape through a term's
correlation θ's, and convergence checks confirmed before they warn."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from lmmpy._boundary import boundary_columns, canonical_theta
from lmmpy._warnings import ConvergenceWarning
from lmmpy.optimize import _checked_optimum, _CountingObjective, optimize_theta

LOWER_2 = np.array([0.0, -np.inf, 0.0])
TARGET = np.array([[1.0, 0.5], [0.5, 1.0]])


def _factor(theta):
    return np.array([[theta[0], 0.0], [theta[1], theta[2]]])


def _distance(theta):
    """‖TT' − S‖²: a function of Σ = TT' only, as the deviance is; its minimum Σ = S is
    interior."""
    T = _factor(theta)
    return float(np.sum((T @ T.T - TARGET) ** 2))


def _distance_gradient(theta):
    T = _factor(theta)
    G = 2 * (T @ T.T - TARGET)                  # ∂f/∂Σ
    dT = 2 * G @ T
    return _distance(theta), np.array([dT[0, 0], dT[1, 0], dT[1, 1]])


def _distance_hessian(theta):
    T = _factor(theta)
    units = [_factor(e) for e in np.eye(3)]
    d_sigma = [E @ T.T + T @ E.T for E in units]
    residual = T @ T.T - TARGET
    H = np.array([[2 * np.sum(a * b) + 2 * np.sum(residual * (Ea @ Eb.T + Eb @ Ea.T))
                   for b, Eb in zip(d_sigma, units, strict=True)]
                  for a, Ea in zip(d_sigma, units, strict=True)])
    return (*_distance_gradient(theta), H)


# T = [[0, 0], [-0.6, 0.8]]: Σ₂₂ = S₂₂, and the derivative in T₁₁ (2(GT)₁₁ = 1.2) points out
# of the feasible region: a KKT point in θ, but Σ + vv' with v = (1, 0.5)ε is lower
TRAP = np.array([0.0, -0.6, 0.8])


def test_the_trap_is_a_kkt_point_in_theta():
    _, gradient = _distance_gradient(TRAP)
    assert gradient == pytest.approx([1.2, 0.0, 0.0], abs=1e-12)


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("zero", [0, 1])
def test_canonical_form_keeps_sigma_and_clears_the_column_below_a_zero_diagonal(seed, zero):
    rng = np.random.default_rng(seed)
    rows, cols = np.tril_indices(3)
    order = np.lexsort((rows, cols))                  # θ is T's lower triangle by columns
    T = np.tril(rng.normal(size=(3, 3)))
    np.fill_diagonal(T, np.abs(np.diag(T)))
    T[zero, zero] = 0.0
    theta = T[rows[order], cols[order]]
    lower = np.where(rows[order] == cols[order], 0.0, -np.inf)
    canonical = canonical_theta(theta, lower, [(3, True)])
    C = np.zeros((3, 3))
    C[rows[order], cols[order]] = canonical
    sigma = C @ C.T
    assert sigma == pytest.approx(T @ T.T, abs=1e-12)
    assert np.all(C[zero:, zero] == 0.0)
    assert np.all(np.diag(C) >= 0.0)


def test_boundary_columns_hold_the_diagonal_and_the_correlations_below_it():
    theta = np.array([0.0, 0.0, 0.0, 0.5, 0.1, 0.0, 0.0])   # (k=3, correlated), scalar
    lower = np.array([0.0, -np.inf, -np.inf, 0.0, -np.inf, 0.0, 0.0])
    columns = boundary_columns(theta, lower, [(3, True), (1, False)])
    assert [c.tolist() for c in columns] == [[0, 1, 2], [5], [6]]
    assert [c.tolist() for c in boundary_columns(theta, lower, None)] == [[0], [5], [6]]


@pytest.mark.parametrize("method", ["newton", "bfgs", "bobyqa"])
def test_the_optimizer_leaves_the_trap_through_the_correlation(method):
    derivatives = {"newton": {"value_gradient_hessian": _distance_hessian},
                   "bfgs": {"value_and_gradient": _distance_gradient}, "bobyqa": {}}
    with warnings.catch_warnings():
        warnings.simplefilter("error" if method != "bobyqa" else "ignore", ConvergenceWarning)
        summary = optimize_theta(_distance, TRAP, LOWER_2, term_shapes=[(2, True)],
                                 **derivatives[method])
    assert summary.objective < (1e-8 if method != "bobyqa" else 1e-6)
    assert summary.n_restarts >= 1
    without_shapes = optimize_theta(_distance, TRAP, LOWER_2, check_convergence=False,
                                    **derivatives[method])
    assert without_shapes.objective > 0.5      # each θ alone: lme4's rule stays in the trap


def _biased(theta):
    """An exact value and a gradient off by 0.01, as rounding can make it on a large model:
    at θ = 1, the minimum, lme4's check sees a scaled gradient of 0.007 (tol 0.002)."""
    t = theta[0]
    return float((t - 1.0) ** 2), np.array([2 * (t - 1.0) + 0.01])


def test_a_failed_check_that_no_step_confirms_does_not_warn():
    counted = _CountingObjective(lambda t: _biased(t)[0], _biased)
    theta, value, gradient, _, messages, note = _checked_optimum(
        "bfgs", counted, np.array([1.0]), 0.0, np.array([0.0]),
        lambda start: (start, counted(start), "stopped at once"))
    assert gradient == pytest.approx([0.01])
    assert messages == ()
    assert note.startswith("not confirmed") and "max|grad|" in note
    assert theta.tolist() == [1.0] and value == 0.0


def _rosenbrock(theta):
    return float((1 - theta[0]) ** 2 + 100 * (theta[1] - theta[0] ** 2) ** 2)


def test_a_fit_stopped_away_from_a_stationary_point_warns():
    with pytest.warns(ConvergenceWarning, match="max\\|grad\\|"):
        summary = optimize_theta(_rosenbrock, np.array([-1.2, 1.0]), np.full(2, -np.inf),
                                 max_evaluations=12)
    assert not summary.converged
