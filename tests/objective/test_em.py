"""The EM step read off the gradient against EM computed from dense algebra.

EM's update of a term's relative covariance is the average over its levels
of E[b_jb_j' | y]/σ̂² (ML: β at β̂; REML: β integrated out, σ̂² = r²/(n − p)).
Computed here from Z, X, y and Λ directly, on scalar, vector and
uncorrelated terms, it must equal :func:`em_update`'s TT'.
"""

from __future__ import annotations

import numpy as np
import pytest
from test_blocked import FORMULAS, _random_theta, _vector_terms

import lmmpy
from lmmpy.design import build_design
from lmmpy.formula import parse_formula
from lmmpy.objective import ProfiledDeviance, cross_products, random_effects_matrix
from lmmpy.objective._gradient import em_update
from lmmpy.objective._lambda import theta_layout


def _dense_em(design, theta, reml):
    """T_new T_new' per term from the posterior moments of b = Λu (dense algebra)."""
    Z = random_effects_matrix(design).toarray()
    X, y = design.X.values, design.y
    n, p = X.shape
    Lambda = theta_layout(design.terms).Lambda(theta).toarray()
    ZL = Z @ Lambda
    A = ZL.T @ ZL + np.eye(len(Lambda))
    # penalized least squares for (u, β) jointly
    M = np.block([[A, ZL.T @ X], [X.T @ ZL, X.T @ X]])
    solution = np.linalg.solve(M, np.concatenate([ZL.T @ y, X.T @ y]))
    u, beta = solution[: len(A)], solution[len(A):]
    r2 = float(np.sum((y - ZL @ u - X @ beta) ** 2) + u @ u)
    sigma2 = r2 / (n - p if reml else n)
    # Var(u | y)/σ²: A⁻¹ given β; the u-block of M⁻¹ when β is integrated out (REML)
    covariance = np.linalg.inv(M)[: len(A), : len(A)] if reml else np.linalg.inv(A)
    second_moment = Lambda @ (np.outer(u, u) / sigma2 + covariance) @ Lambda.T
    expected, offset = [], 0
    for term in design.terms:
        k, levels = term.n_columns, term.n_levels
        block = second_moment[offset: offset + k * levels, offset: offset + k * levels]
        offset += k * levels
        average = sum(block[j * k:(j + 1) * k, j * k:(j + 1) * k] for j in range(levels)) / levels
        expected.append(average if term.correlated else np.diag(np.diagonal(average)))
    return expected


def _templates(design, theta):
    templates, offset = [], 0
    for term in design.terms:
        templates.append(term.template(theta[offset: offset + term.n_theta]))
        offset += term.n_theta
    return templates


def _designs():
    sleepstudy = lmmpy.datasets.load("sleepstudy")
    yield build_design(parse_formula("Reaction ~ Days + (Days | Subject)"), sleepstudy)
    yield build_design(parse_formula("Reaction ~ Days + (Days || Subject)"), sleepstudy)
    for formula in FORMULAS:
        yield _vector_terms(formula)


@pytest.mark.parametrize("reml", [False, True])
@pytest.mark.parametrize("index", range(2 + len(FORMULAS)))
def test_em_update_is_the_em_step_of_dense_algebra(index, reml):
    design = list(_designs())[index]
    theta = _random_theta(design, seed=index)
    f = ProfiledDeviance(cross_products(design), design.terms, reml)
    _, gradient = f.value_and_gradient(theta)
    stepped = em_update(design.terms, theta, gradient)
    for T, expected in zip(_templates(design, stepped), _dense_em(design, theta, reml),
                           strict=True):
        covariance = T @ T.T
        assert covariance == pytest.approx(expected, rel=1e-8, abs=1e-10)


def test_em_update_keeps_a_stationary_point():
    design = build_design(parse_formula("Reaction ~ Days + (Days | Subject)"),
                          lmmpy.datasets.load("sleepstudy"))
    f = ProfiledDeviance(cross_products(design), design.terms, True)
    theta = np.array([0.96674, 0.01516, 0.23090])   # lme4's REML θ̂, rounded
    _, gradient = f.value_and_gradient(theta)
    assert em_update(design.terms, theta, gradient) == pytest.approx(theta, abs=1e-3)
