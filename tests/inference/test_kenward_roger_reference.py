"""Kenward–Roger against pbkrtest (via lmerTest's ``summary(m, ddf = "Kenward-Roger")``).

Tolerances (issue #4): df within 1e-2 relative, the adjusted standard error
within 1e-3.  The algebra is also checked against the textbook n×n formulas
(Kenward & Roger 1997) built densely, on a fit with prior weights, where the
residual covariance is σ²W⁻¹ (pbkrtest would use σ²I there).
"""

from __future__ import annotations

import numpy as np
import pytest
from reference import lme4_names, load_case, models, reml_cases_with

import lmmpy
from lmmpy.inference import _kenward_roger
from lmmpy.objective import random_effects_matrix


@pytest.mark.parametrize("name", reml_cases_with("kenward_roger"))
def test_kenward_roger_coefficients(name):
    reference = load_case(name)["kenward_roger"]
    for m in models(name):
        table = m.coefs("kenward-roger")
        assert lme4_names(table.index) == [row["term"] for row in reference]
        se = np.array([row["se"] for row in reference])
        df = np.array([row["df"] for row in reference])
        assert np.all(np.abs(table["std_error"] / se - 1) <= 1e-3)
        assert np.all(np.abs(table["df"] / df - 1) <= 1e-2)
        assert np.all(np.abs(table["p_value"] - [row["p"] for row in reference]) <= 1e-4)


def _dense_kenward_roger(m):
    """Φ_A and P_r from n×n matrices: Σ = Σ_r γ_r Z E_r Z' + σ² W⁻¹."""
    Z = random_effects_matrix(m.design).toarray()
    X = m.design.X.values
    w = np.ones(m.nobs) if m.design.weights is None else m.design.weights
    Lam = m.objective.layout.Lambda(m.theta).toarray()
    S = np.linalg.inv(m.sigma**2 * (Z @ Lam @ Lam.T @ Z.T + np.diag(1 / w)))
    G = []
    for pairs in _kenward_roger._parameter_selections(m):
        E = np.zeros((Z.shape[1], Z.shape[1]))
        for a, b in pairs:
            E[a, b] = 1.0
        G.append(Z @ E @ Z.T)
    G.append(np.diag(1 / w))
    phi = np.linalg.inv(X.T @ S @ X)
    P = [-X.T @ S @ g @ S @ X for g in G]
    Q = [[X.T @ S @ g @ S @ h @ S @ X for h in G] for g in G]
    info = np.array([[np.trace(g @ S @ h @ S) - 2 * np.trace(phi @ Q[r][s])
                      + np.trace(phi @ P[r] @ phi @ P[s]) for s, h in enumerate(G)]
                     for r, g in enumerate(G)])
    W = 2 * np.linalg.inv(info)
    U = sum(W[r, s] * (Q[r][s] - P[r] @ phi @ P[s])
            for r in range(len(G)) for s in range(len(G)))
    return phi + 2 * phi @ U @ phi, np.array(P), W


@pytest.mark.parametrize("formula", ["Reaction ~ Days + (Days | Subject)",
                                     "Reaction ~ Days + (1 | Subject) + (0 + Days | Subject)"])
def test_matches_the_dense_formulas_with_weights(formula):
    data = lmmpy.datasets.load("sleepstudy").iloc[::2].reset_index(drop=True)
    weights = np.linspace(0.5, 2.0, len(data))
    m = lmmpy.lmer(formula, data, weights=weights)
    phi_adjusted, P, W = _dense_kenward_roger(m)
    kr = _kenward_roger.kenward_roger(m)
    assert np.allclose(kr.phi_adjusted, phi_adjusted, rtol=1e-8, atol=0)
    assert np.allclose(kr.P, P, rtol=1e-8, atol=1e-12 * np.abs(P).max())
    assert np.allclose(kr.W, W, rtol=1e-7, atol=1e-12 * np.abs(W).max())
