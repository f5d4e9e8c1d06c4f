"""The profiled deviance against a dense, textbook evaluation of the marginal likelihood.

For θ fixed, y ~ N(Xβ + o, σ² V₀) with V₀ = ZΛΛ'Z' + W⁻¹.  Profiling β (GLS)
and σ² gives

    ML:   d  = n log(2π σ̂²) + n + log|V₀|,                 σ̂² = r'V₀⁻¹r / n
    REML: dR = (n−p) log(2π σ̂²) + (n−p) + log|V₀| + log|X'V₀⁻¹X|,  σ̂² = r'V₀⁻¹r / (n−p)

computed here with dense n×n algebra, independently of the sparse code.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

import lmmpy
from lmmpy.design import build_design
from lmmpy.formula import parse_formula
from lmmpy.objective import (
    ProfiledDeviance,
    conditional_variance_blocks,
    cross_products,
    random_effects_matrix,
)

MODELS = [
    ("sleepstudy", "Reaction ~ Days + (Days | Subject)", None),
    ("sleepstudy", "Reaction ~ Days + (1 | Subject) + (0 + Days | Subject)", None),
    ("Penicillin", "diameter ~ 1 + (1 | plate) + (1 | sample)", None),
    ("Pastes", "strength ~ 1 + (1 | batch/cask)", None),
    ("sleepstudy", "Reaction ~ Days + (Days | Subject)", "weights"),
]


def _design(name, formula, extra):
    data = lmmpy.datasets.load(name)
    weights = offset = None
    if extra == "weights":
        rng = np.random.default_rng(1)
        weights = rng.uniform(0.5, 2.0, len(data))
        offset = rng.normal(0, 5, len(data))
    return build_design(parse_formula(formula), data, weights=weights, offset=offset)


def _dense_deviance(design, theta, reml):
    Z = random_effects_matrix(design).toarray()
    from lmmpy.objective._lambda import theta_layout

    Lambda = theta_layout(design.terms).Lambda(theta).toarray()
    w = np.ones(design.n_obs) if design.weights is None else design.weights
    V0 = Z @ Lambda @ Lambda.T @ Z.T + np.diag(1 / w)
    X, y = design.X.values, design.y - design.offset
    V0_inv = np.linalg.inv(V0)
    beta = np.linalg.solve(X.T @ V0_inv @ X, X.T @ V0_inv @ y)
    r = y - X @ beta
    n, p = X.shape
    dof = n - p if reml else n
    sigma2 = r @ V0_inv @ r / dof
    value = dof * np.log(2 * np.pi * sigma2) + dof + np.linalg.slogdet(V0)[1]
    if reml:
        value += np.linalg.slogdet(X.T @ V0_inv @ X)[1]
    return value, beta, sigma2


@pytest.mark.parametrize(("name", "formula", "extra"), MODELS)
@pytest.mark.parametrize("reml", [True, False])
@pytest.mark.parametrize("path", ["dense", "blocked", "cholmod"])
def test_profiled_deviance_equals_dense_marginal_likelihood(name, formula, extra, reml, path):
    design = _design(name, formula, extra)
    deviance = ProfiledDeviance(cross_products(design), design.terms, reml=reml, _path=path)
    rng = np.random.default_rng(0)
    lower = design.theta_lower_bounds()
    for _ in range(3):
        theta = np.where(lower == 0, rng.uniform(0.1, 2.0, len(lower)), rng.normal(0, 0.5,
                                                                                   len(lower)))
        expected, beta, sigma2 = _dense_deviance(design, theta, reml)
        assert deviance(theta) == pytest.approx(expected, rel=1e-10)
        solution = deviance.solve(theta)
        assert solution.beta == pytest.approx(beta, rel=1e-8)
        assert solution.sigma**2 == pytest.approx(sigma2, rel=1e-8)


def test_theta_on_the_boundary_keeps_the_analysed_pattern():
    design = _design("sleepstudy", "Reaction ~ Days + (Days | Subject)", None)
    deviance = ProfiledDeviance(cross_products(design), design.terms, reml=True, _path="cholmod")
    scaled = deviance.factor.scaled
    pattern_nnz = scaled.pattern.nnz
    zero = np.array([0.0, 0.0, 0.0])
    expected, _, _ = _dense_deviance(design, zero, True)
    assert deviance(zero) == pytest.approx(expected, rel=1e-10)
    assert scaled.matrix(zero, deviance.crossprods.ZtZ.data).nnz == pattern_nnz


def test_conditional_variance_blocks_equal_the_dense_inverse():
    design = _design("sleepstudy", "Reaction ~ Days + (Days | Subject)", None)
    deviance = ProfiledDeviance(cross_products(design), design.terms, reml=True)
    theta = np.array([0.9, 0.1, 0.3])
    blocks = conditional_variance_blocks(deviance, theta, chunk=7)
    Lambda = deviance.layout.Lambda(theta).toarray()
    A = Lambda.T @ deviance.crossprods.ZtZ.toarray() @ Lambda + np.eye(len(Lambda))
    dense = Lambda @ np.linalg.inv(A) @ Lambda.T
    for level in range(18):
        rows = slice(2 * level, 2 * level + 2)
        assert blocks[0][level] == pytest.approx(dense[rows, rows], rel=1e-9)


def test_refit_reuses_the_factor_and_matches_a_fresh_fit():
    data = lmmpy.datasets.load("sleepstudy")
    m = lmmpy.lmer("Reaction ~ Days + (Days | Subject)", data)
    y = np.random.default_rng(3).normal(300, 40, len(data))
    with pytest.warns(lmmpy.SingularFitWarning):
        refitted = m.refit(y)
    with pytest.warns(lmmpy.SingularFitWarning):
        fresh = lmmpy.lmer("y ~ Days + (Days | Subject)", data.assign(y=y))
    assert refitted.objective.factor is not m.objective.factor
    assert refitted.loglik == pytest.approx(fresh.loglik, abs=1e-6)
    assert refitted.fixef.to_numpy() == pytest.approx(fresh.fixef.to_numpy(), rel=1e-5)


@pytest.mark.parametrize("path", ["dense", "blocked"])
def test_the_previous_theta_is_kept_and_restored_without_refactoring(path):
    design = build_design(parse_formula("Reaction ~ Days + (Days | Subject)"),
                          lmmpy.datasets.load("sleepstudy"))
    f = ProfiledDeviance(cross_products(design), design.terms, True, _path=path)
    first, second = np.array([0.9, 0.02, 0.25]), np.array([1.1, -0.1, 0.3])
    expected = f.value_and_gradient(first)
    f.value_and_gradient(second)
    updates = []
    original = f.factor.update
    f.factor.update = lambda theta: updates.append(theta) or original(theta)
    value, gradient = f.value_and_gradient(first)         # restored, not refactored
    assert not updates
    assert value == expected[0]
    np.testing.assert_array_equal(gradient, expected[1])
    assert f.solve(second).deviance == pytest.approx(f(second), rel=1e-14)
    assert not updates
    f(np.array([1.0, 0.0, 0.2]))                          # a third θ evicts the older one
    f(second)
    assert len(updates) == 1
    f(first)
    assert len(updates) == 2


@pytest.mark.parametrize("formula", ["Reaction ~ Days + (Days | Subject)",
                                     "Reaction ~ Days + (1 | Subject) + (0 + Days | Subject)",
                                     "Reaction ~ Days + (Days || Subject) + (1 | Days)"])
@pytest.mark.parametrize("weighted", [False, True])
def test_small_models_form_the_cross_products_densely_with_the_same_result(weighted, formula,
                                                                           monkeypatch):
    from lmmpy.objective import _crossprod

    data = lmmpy.datasets.load("sleepstudy").assign(g=lambda d: d.Days % 3)
    weights = np.linspace(0.5, 2.0, len(data)) if weighted else None
    design = build_design(parse_formula(formula), data, weights=weights)
    dense = cross_products(design)
    assert isinstance(dense.ZtZ_product, np.ndarray)
    assert "Z" not in vars(design)   # the sparse Z was not built for the dense products
    monkeypatch.setattr(_crossprod, "DENSE_PRODUCT_COLUMNS", 0)   # the sparse products
    sparse = cross_products(design)
    assert sp.issparse(sparse.ZtZ_product)
    np.testing.assert_array_equal(_crossprod._dense_random_effects_matrix(design),
                                  design.Z.toarray())
    np.testing.assert_allclose(dense.ZtZ_dense(), sparse.ZtZ_dense(), rtol=1e-13)
    np.testing.assert_allclose(dense.ZtZ.toarray(), sparse.ZtZ.toarray(), rtol=1e-13)
    np.testing.assert_allclose(dense.ZtXy, sparse.ZtXy, rtol=1e-13)
    np.testing.assert_allclose(dense.XytXy, sparse.XytXy, rtol=1e-13)
    assert dense.ZtZ.format == "csc" and dense.ZtZ.has_sorted_indices


def test_designs_of_one_shape_share_a_read_only_theta_layout():
    from lmmpy.objective._lambda import theta_layout

    sleep = lmmpy.datasets.load("sleepstudy")
    first = build_design(parse_formula("Reaction ~ Days + (Days | Subject)"), sleep)
    again = build_design(parse_formula("Reaction ~ 1 + (Days | Subject)"), sleep)
    other = build_design(parse_formula("Reaction ~ Days + (Days || Subject)"), sleep)
    layout = theta_layout(first.terms)
    assert theta_layout(again.terms) is layout
    assert theta_layout(other.terms) is not layout
    assert layout.size == 36 and layout.lambda_theta.tolist()[:3] == [0, 1, 2]
    with pytest.raises(ValueError, match="read-only"):
        layout.lambda_rows[0] = 1


@pytest.mark.parametrize("formula", [
    "y ~ x + (1 + x | g) + (1 | h)",              # a vector term crossed with a scalar one
    "y ~ x + (1 | g) + (0 + x | g) + (1 | g:h)",  # two terms on one factor, and an interaction
    "y ~ 1 + (x || h) + (1 | g)",                  # uncorrelated terms, levels in lme4's order
])
@pytest.mark.parametrize("weighted", [False, True])
def test_large_models_form_the_cross_products_by_term_pair_as_z_would(formula, weighted):
    rng = np.random.default_rng(11)
    n = 3000
    data = pd.DataFrame({"y": rng.normal(size=n), "x": rng.normal(size=n),
                         "g": rng.integers(0, 120, n).astype(str),
                         "h": rng.integers(0, 40, n).astype(str)})
    weights = rng.uniform(0.5, 2.0, n) if weighted else None
    design = build_design(parse_formula(formula), data, weights=weights)
    assert sum(term.n_random_effects for term in design.terms) > 128   # not the dense products
    by_pairs = cross_products(design)
    through_z = cross_products(design, Z=design.Z)
    assert by_pairs.ZtZ.format == "csc" and by_pairs.ZtZ.has_sorted_indices
    np.testing.assert_allclose(by_pairs.ZtZ.toarray(), through_z.ZtZ.toarray(),
                               rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(by_pairs.ZtXy, through_z.ZtXy, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(by_pairs.XytXy, through_z.XytXy, rtol=1e-13)
    assert by_pairs.sum_log_weights == pytest.approx(through_z.sum_log_weights)
