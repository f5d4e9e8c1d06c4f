"""The moment start (lmmpy/_moments.py): its equations against sums over every pair of rows,
its estimates against the simulated variances, and the optimum it leads to."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest

import lmmpy
from lmmpy import _moments
from lmmpy.design import build_design
from lmmpy.formula import parse_formula


def _crossed(n_a, n_b, n, seed=0, sd=(0.6, 0.9), nested_cells=False):
    rng = np.random.default_rng(seed)
    a, b = rng.integers(0, n_a, n), rng.integers(0, n_b, n)
    y = 2.0 + rng.normal(size=n_a)[a] * sd[0] + rng.normal(size=n_b)[b] * sd[1] + rng.normal(size=n)
    return pd.DataFrame({"y": y, "x": rng.normal(size=n), "a": pd.Categorical(a),
                         "b": pd.Categorical(b)})


def test_the_equations_are_the_pair_sums_and_their_expectations():
    data = _crossed(6, 4, 40, seed=3)   # repeated (a, b) cells: pairs in both levels count
    design = build_design(parse_formula("y ~ x + (1 | a) + (1 | b)"), data)
    A, b = _moments.moment_system(design)
    X = design.X.values
    e = design.y - X @ np.linalg.lstsq(X, design.y, rcond=None)[0]
    codes = [term.codes for term in design.terms]
    U, P, both = np.zeros(2), np.zeros(2), 0.0
    U0 = 0.0
    for r, s in itertools.permutations(range(len(e)), 2):
        d2 = (e[r] - e[s]) ** 2
        U0 += d2
        same = [c[r] == c[s] for c in codes]
        for t in range(2):
            if same[t]:
                U[t] += d2
                P[t] += 1
        both += same[0] and same[1]
    np.testing.assert_allclose(b, np.append(U, U0) / 2, rtol=1e-10)
    n = len(e)
    differ = [n * n - np.sum(np.bincount(c) ** 2) for c in codes]   # ordered pairs, any r, s
    np.testing.assert_allclose(A, [[P[0], 0.0, P[0] - both], [P[1], P[1] - both, 0.0],
                                   [n * n - n, differ[0], differ[1]]])


def test_the_estimates_are_near_the_simulated_variances():
    """60,000 rows, 600 × 400 levels: each σ's moment estimate within 10% of its value."""
    design = build_design(parse_formula("y ~ 1 + (1 | a) + (1 | b)"),
                          _crossed(600, 400, 60_000, seed=1))
    theta = _moments.moment_theta(design)
    by_term = {term.group_name: value for term, value in zip(design.terms, theta, strict=True)}
    assert by_term["a"] == pytest.approx(0.6, rel=0.1)
    assert by_term["b"] == pytest.approx(0.9, rel=0.1)


@pytest.mark.parametrize("formula", ["y ~ x + (x | a)", "y ~ x + (0 + x | a) + (1 | b)"])
def test_terms_other_than_intercepts_take_lme4s_start(formula):
    design = build_design(parse_formula(formula), _crossed(20, 10, 300))
    assert _moments.moment_theta(design) is None


def test_prior_weights_take_lme4s_start():
    data = _crossed(20, 10, 300)
    design = build_design(parse_formula("y ~ 1 + (1 | a) + (1 | b)"), data,
                          weights=np.full(len(data), 2.0))
    assert _moments.moment_theta(design) is None


def test_a_fit_from_moments_reaches_the_optimum_from_lme4s_start(monkeypatch):
    data = _crossed(300, 200, 3_000, seed=2)
    formula = "y ~ x + (1 | a) + (1 | b)"
    control = lmmpy.LmerControl(factorization="blocked")
    usual = lmmpy.lmer(formula, data, reml=False, control=control)
    monkeypatch.setattr(_moments, "MIN_SIZE", 0)
    moments = lmmpy.lmer(formula, data, reml=False, control=control)
    assert not np.allclose(moments.optimization.theta_start, 1.0)
    assert moments.deviance == pytest.approx(usual.deviance, rel=1e-12, abs=1e-9)
    np.testing.assert_allclose(moments.theta, usual.theta, rtol=1e-4)
    assert moments.optimization.n_evaluations < usual.optimization.n_evaluations
