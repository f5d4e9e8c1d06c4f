"""The analytic gradient of the profiled deviance against finite differences.

On every lme4 reference case, on the dense, the blocked and the CHOLMOD factorization,
REML and ML, at lme4's θ, a perturbed θ and θ on its boundary, and on
vector-valued terms in both blocks (rests whose Λ is not diagonal, a
diagonal θ of 0, the compiled rank update): the gradient equals a
fourth-order central difference of the deviance to 1e-6 relative.
"""

from __future__ import annotations

import numpy as np
import pytest
from reference import case_design, case_files
from test_blocked import FORMULAS, _random_theta, _thetas, _vector_terms

from lmmpy.objective import ProfiledDeviance, _rankupdate, _selinv, cross_products

PATHS = ["dense", "blocked", "cholmod"]


def _finite_difference(f, theta, h=1e-4):
    steps = np.eye(len(theta)) * h
    return np.array([(-f(theta + 2 * e) + 8 * f(theta + e) - 8 * f(theta - e)
                      + f(theta - 2 * e)) / (12 * h) for e in steps])


def _assert_gradient(f, theta, h=1e-4):
    """1e-6 relative, plus the difference quotient's rounding: f's last ~4 digits over h."""
    value, gradient = f.value_and_gradient(theta)
    assert value == pytest.approx(f(theta), rel=1e-13)
    expected = _finite_difference(f, theta, h)
    tolerance = 1e-6 * max(1.0, np.max(np.abs(expected))) + 1e-12 * abs(value) / h
    assert np.max(np.abs(gradient - expected)) <= tolerance, (theta, gradient, expected)
    return gradient


def _deviance(design, reml, path):
    try:
        return ProfiledDeviance(cross_products(design), design.terms, reml, _path=path)
    except ValueError:
        pytest.skip(f"the {path} path does not apply")


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("name", [n for n in case_files() if "insteval" not in n])
def test_gradient_matches_finite_differences_on_reference_cases(name, path):
    case, design = case_design(name)
    f = _deviance(design, case["REML"], path)
    assert f.has_gradient
    for theta in _thetas(case, design):
        _assert_gradient(f, theta)


@pytest.mark.parametrize("name", [n for n in case_files() if "insteval" not in n])
def test_blocked_and_dense_gradients_agree(name):
    """Two different algebras for the same derivative: agree to rounding, even at θ̂."""
    case, design = case_design(name)
    dense = _deviance(design, case["REML"], "dense")
    blocked = _deviance(design, case["REML"], "blocked")
    for theta in _thetas(case, design):
        a, b = dense.value_and_gradient(theta)[1], blocked.value_and_gradient(theta)[1]
        assert np.max(np.abs(a - b)) <= 1e-8 * max(1.0, np.max(np.abs(a)))


@pytest.mark.parametrize("reml", [True, False])
@pytest.mark.parametrize("formula", FORMULAS)
@pytest.mark.parametrize("path", PATHS)
def test_gradient_with_vector_terms_and_zero_diagonals(formula, reml, path):
    design = _vector_terms(formula, seed=5)
    f = _deviance(design, reml, path)
    lower = design.theta_lower_bounds()
    first_diagonal = np.flatnonzero(lower == 0)[0]
    theta = _random_theta(design, 3)
    on_bound = theta.copy()
    on_bound[first_diagonal] = 0.0          # a singular T of the first term
    tiny = np.where(lower == 0, 1e-9, theta)  # all diagonals near their bound
    for point in (theta, on_bound, tiny):
        _assert_gradient(f, point)


def test_gradient_on_the_compiled_rank_update(monkeypatch):
    pytest.importorskip("numba")
    monkeypatch.setattr(_rankupdate, "PAIR_BUDGET", 0)
    monkeypatch.setattr(_rankupdate, "DENSE_BUDGET", 0)
    design = _vector_terms(FORMULAS[1], seed=2)
    f = _deviance(design, False, "blocked")
    assert type(f.factor.structure.update).__name__ == "CompiledUpdate"
    _assert_gradient(f, _random_theta(design, 8))


@pytest.mark.parametrize("formula", [*FORMULAS, "y ~ x + (1 | g1) + (1 | g2)"])
def test_gradient_on_the_pair_table(formula, monkeypatch):
    """The table of pair products (made where the compiled loop would run in threads, or
    without numba) gives the gradient the compiled loop gives."""
    design = _vector_terms(formula, seed=2)
    theta = _random_theta(design, 8)
    expected = _deviance(design, False, "blocked").value_and_gradient(theta)[1]
    monkeypatch.setattr(_rankupdate, "THREADED_WORK", 0)
    monkeypatch.setattr(_rankupdate, "DENSE_BUDGET", 0)
    f = _deviance(design, False, "blocked")
    assert type(f.factor.structure.update).__name__ == "PairProducts"
    gradient = _assert_gradient(f, theta)
    assert np.max(np.abs(gradient - expected)) <= 1e-8 * max(1.0, np.max(np.abs(expected)))


@pytest.mark.parametrize("max_tail", [0, 7, 10_000])
@pytest.mark.parametrize("formula", FORMULAS)
def test_cholmod_gradient_whatever_the_dense_tail(formula, max_tail, monkeypatch):
    """The selected inverse's dense tail (none, part of the filled columns, all of them)
    changes how A⁻¹ is computed, not the gradient."""
    monkeypatch.setattr(_selinv, "_max_tail", lambda: max_tail)
    design = _vector_terms(formula, seed=7)
    f = _deviance(design, True, "cholmod")
    blocked = _deviance(design, True, "blocked")
    theta = _random_theta(design, 11)
    gradient = _assert_gradient(f, theta)
    expected = blocked.value_and_gradient(theta)[1]
    assert np.max(np.abs(gradient - expected)) <= 1e-8 * max(1.0, np.max(np.abs(expected)))


@pytest.mark.parametrize("name", [n for n in case_files() if "insteval" not in n])
def test_dense_hessian_matches_differences_of_the_gradient(name):
    case, design = case_design(name)
    f = _deviance(design, case["REML"], "dense")
    assert f.has_hessian
    for theta in _thetas(case, design):
        value, gradient, hessian = f.value_gradient_hessian(theta)
        assert value == pytest.approx(f(theta), rel=1e-13)
        assert gradient == pytest.approx(f.value_and_gradient(theta)[1], rel=1e-9, abs=1e-9)
        h = 1e-5
        expected = np.array([(f.value_and_gradient(theta + h * e)[1]
                              - f.value_and_gradient(theta - h * e)[1]) / (2 * h)
                             for e in np.eye(len(theta))])
        scale = max(1.0, np.max(np.abs(expected)))
        assert np.max(np.abs(hessian - expected)) <= 1e-6 * scale
        assert hessian == pytest.approx(hessian.T)


@pytest.mark.parametrize("reml", [True, False])
@pytest.mark.parametrize("formula", FORMULAS)
def test_dense_hessian_with_vector_terms_and_zero_diagonals(formula, reml):
    design = _vector_terms(formula, seed=5)
    f = _deviance(design, reml, "dense")
    lower = design.theta_lower_bounds()
    for theta in (_random_theta(design, 3), np.where(lower == 0, 0.0, _random_theta(design, 4))):
        hessian = f.value_gradient_hessian(theta)[2]
        h = 1e-5
        expected = np.array([(f.value_and_gradient(theta + h * e)[1]
                              - f.value_and_gradient(theta - h * e)[1]) / (2 * h)
                             for e in np.eye(len(theta))])
        assert np.max(np.abs(hessian - expected)) <= 1e-6 * max(1.0, np.max(np.abs(expected)))


def test_only_the_dense_path_has_a_hessian():
    design = _vector_terms(FORMULAS[0])
    f = ProfiledDeviance(cross_products(design), design.terms, True, _path="blocked")
    assert f.has_gradient and not f.has_hessian


def test_gradient_on_the_dense_rank_update():
    """Penicillin's plates meet every sample: the rank update is the dense product."""
    _, design = case_design("penicillin_reml")
    for reml in (True, False):
        f = _deviance(design, reml, "blocked")
        assert type(f.factor.structure.update).__name__ == "DenseUpdate"
        for theta in (np.array([1.5, 3.2]), np.array([0.0, 2.0]), np.array([0.7, 1e-9])):
            _assert_gradient(f, theta)


def test_cholmod_gradient_is_withheld_when_its_inverse_cannot_fit(monkeypatch):
    from lmmpy.objective import _fill

    design = _vector_terms(FORMULAS[0])
    monkeypatch.setattr(_fill, "available_memory", lambda: 10_000)
    f = ProfiledDeviance(cross_products(design), design.terms, True, _path="cholmod")
    assert not f.has_gradient
    monkeypatch.setattr(_fill, "available_memory", lambda: 10**9)
    f = ProfiledDeviance(cross_products(design), design.terms, True, _path="cholmod")
    assert f.has_gradient
