"""group_influence against a direct computation: V built row by row, GLS with and without
each group, θ̂ held fixed."""

import numpy as np
import pandas as pd
import pytest

import lmmpy
from lmmpy.diagnostics import group_influence


def _direct(model, group_codes, n_levels):
    """Dense V = σ²(ZΛΛ'Z' + W⁻¹) from lmmpy's own Z and Λ; GLS without each level."""
    from lmmpy.objective import random_effects_matrix
    from lmmpy.objective._lambda import theta_layout

    design = model.design
    Z = random_effects_matrix(design).toarray()
    Lambda = theta_layout(design.terms).Lambda(model.theta).toarray()
    w = design.weights if design.weights is not None else np.ones(design.n_obs)
    V = Z @ Lambda @ Lambda.T @ Z.T + np.diag(1 / w)
    X, y = design.X.values, design.y - design.offset

    def gls(keep):
        Vi = np.linalg.inv(V[np.ix_(keep, keep)])
        A = X[keep].T @ Vi @ X[keep]
        return np.linalg.solve(A, X[keep].T @ Vi @ y[keep]), A

    beta, A = gls(np.arange(design.n_obs))
    deltas = np.array([beta - gls(np.flatnonzero(group_codes != j))[0] for j in range(n_levels)])
    cooks = np.einsum("ij,jk,ik->i", deltas, A, deltas) / (len(beta) * model.sigma**2)
    return beta, deltas, cooks


CASES = [
    ("Reaction ~ Days + (Days | Subject)", "sleepstudy", {}),
    ("Reaction ~ Days + (Days || Subject)", "sleepstudy", {"reml": False}),
    ("strength ~ 1 + (1 | batch/cask)", "Pastes", {}),
]


@pytest.mark.parametrize(("formula", "data", "options"), CASES)
def test_matches_direct_deletion(formula, data, options):
    model = lmmpy.lmer(formula, lmmpy.datasets.load(data), **options)
    table = group_influence(model)
    term = next(t for t in model.design.terms if t.group_name == table.index.name)
    beta, deltas, cooks = _direct(model, term.codes, term.n_levels)
    np.testing.assert_allclose(beta, model.fixef.to_numpy(), rtol=1e-6)
    np.testing.assert_allclose(table.filter(like="delta_").to_numpy(), deltas, rtol=1e-6,
                               atol=1e-8)
    np.testing.assert_allclose(table["cooks_distance"], cooks, rtol=1e-6)
    assert table["n_obs"].sum() == model.nobs


def test_weights_and_offset():
    data = lmmpy.datasets.load("sleepstudy").assign(
        w=lambda d: 1.0 + (d["Days"] % 3), o=lambda d: d["Days"] / 10)
    model = lmmpy.lmer("Reaction ~ Days + (1 | Subject)", data, weights="w", offset="o")
    table = group_influence(model)
    term = model.design.terms[0]
    _, deltas, cooks = _direct(model, term.codes, term.n_levels)
    np.testing.assert_allclose(table["cooks_distance"], cooks, rtol=1e-6)
    np.testing.assert_allclose(table.filter(like="delta_").to_numpy(), deltas, rtol=1e-6,
                               atol=1e-8)


def test_nested_model_uses_the_outer_factor():
    model = lmmpy.lmer("strength ~ 1 + (1 | batch/cask)", lmmpy.datasets.load("Pastes"))
    assert group_influence(model).index.name == "batch"
    with pytest.raises(ValueError, match="crossed with it"):
        group_influence(model, "cask:batch")


def test_crossed_factors_are_refused():
    model = lmmpy.lmer("diameter ~ 1 + (1 | plate) + (1 | sample)",
                       lmmpy.datasets.load("Penicillin"))
    with pytest.raises(ValueError, match="does not separate the data"):
        group_influence(model)
    with pytest.raises(ValueError, match="'batch' is not a grouping factor"):
        group_influence(model, "batch")


def test_a_group_that_alone_informs_a_coefficient_gets_nan():
    rng = np.random.default_rng(1)
    g = np.repeat(np.arange(6), 5)
    data = pd.DataFrame({"g": g.astype(str), "only": (g == 0).astype(float),
                         "y": rng.normal(size=30) + g})
    model = lmmpy.lmer("y ~ only + (1 | g)", data)
    table = group_influence(model)
    assert np.isnan(table.loc["0", "cooks_distance"])
    assert np.isfinite(table.drop(index="0")["cooks_distance"]).all()
