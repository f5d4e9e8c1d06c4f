"""The Schur complement's predicted fill, the dense-or-sparse choice it makes, the early
too-large error, and the lean dense Schur complement of large crossed designs.

The pattern and column counts are checked against a numeric Cholesky factor of a random
matrix with the same pattern (no cancellation with random values); the lean path's
objective, gradient and solution against the dense path on small crossed designs.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from lmmpy.design import build_design
from lmmpy.formula import parse_formula
from lmmpy.objective import (
    ProfiledDeviance,
    _blocked,
    _cholmod,
    _dense,
    _fill,
    _rankupdate,
    _schurfill,
    cross_products,
)
from lmmpy.objective._fill import FactorTooLargeError
from lmmpy.objective._rankupdate import level_blocks

FORMULA = "y ~ 1 + (1 | user) + (1 | item)"


def _ratings(n_users, n_items, per_user, seed=1, extra_term=False):
    """Users rating ``per_user`` distinct items each, items drawn by a skewed popularity."""
    rng = np.random.default_rng(seed)
    weights = 1.0 / (np.arange(n_items) + 5.0)
    user = np.repeat(np.arange(n_users), per_user)
    item = np.concatenate([rng.choice(n_items, per_user, replace=False, p=weights / weights.sum())
                           for _ in range(n_users)])
    data = pd.DataFrame({
        "y": rng.normal(size=len(user)) + rng.normal(size=n_users)[user] * 0.5
        + rng.normal(size=n_items)[item] * 0.7,
        "user": pd.Categorical(user), "item": pd.Categorical(item),
        "genre": pd.Categorical(item % 3)})
    formula = FORMULA + (" + (1 | genre)" if extra_term else "")
    return build_design(parse_formula(formula), data)


def _random_B(n_rows, n_levels, density, seed):
    B = sp.random(n_rows, n_levels, density=density, random_state=seed, format="csc")
    B.data[:] = 1.0
    return B


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_the_schur_pattern_is_that_of_b_b_and_s_ss(seed):
    B = _random_B(40, 90, 0.05, seed)
    rng = np.random.default_rng(seed)
    ss_rows, ss_cols = rng.integers(0, 40, 30), rng.integers(0, 40, 30)
    pattern = _schurfill.schur_pattern(level_blocks(B, 1), ss_rows, ss_cols)
    expected = (B @ B.T).toarray() != 0
    expected[ss_rows, ss_cols] = expected[ss_cols, ss_rows] = True
    expected |= np.eye(40, dtype=bool)
    assert np.array_equal(pattern.toarray() != 0, np.tril(expected))


@pytest.mark.parametrize("seed", [1, 2])
def test_the_predicted_fill_is_that_of_a_numeric_factor(seed):
    """Users first (each its own column: 1 + its items), then the items by degree."""
    B = _random_B(30, 60, 0.08, seed)
    blocks = level_blocks(B, 1)
    fill = _schurfill.predicted_fill(_schurfill.schur_pattern(blocks, np.array([], int),
                                                              np.array([], int)), blocks)
    rng = np.random.default_rng(seed)
    S = (B @ B.T).toarray() != 0
    degree = np.tril(S | np.eye(30, dtype=bool)).sum(0) + np.tril(S | np.eye(30, dtype=bool)).sum(1)
    order = np.argsort(degree, kind="stable")
    full = sp.bmat([[sp.eye(60), B.T], [B, None]]).toarray() != 0
    values = np.where(full, rng.uniform(0.1, 1.0, full.shape), 0.0)
    values = values + values.T + np.eye(90) * 200.0
    permutation = np.concatenate([np.arange(60), 60 + order])
    L = np.linalg.cholesky(values[np.ix_(permutation, permutation)])
    nonzero = np.abs(L) > 1e-300
    assert fill.first_nonzeros == int(nonzero[:, :60].sum())
    assert fill.nonzeros == int(nonzero[60:, 60:].sum())
    assert fill.flops == float(np.sum(nonzero[60:, 60:].sum(0).astype(float) ** 2))


def test_dense_is_cheaper_where_the_complement_fills_in():
    crossed = _schurfill.SchurFill(size=100, nonzeros=4_500, flops=2.0e5, first_nonzeros=0)
    nested = _schurfill.SchurFill(size=100, nonzeros=100, flops=100.0, first_nonzeros=0)
    assert _schurfill.dense_is_cheaper(crossed) and not _schurfill.dense_is_cheaper(nested)


def test_a_sparse_but_filling_crossing_takes_the_dense_schur_complement(monkeypatch):
    """Past MAX_DENSE_REST and below FILLED_DENSITY, the predicted fill decides."""
    design = _ratings(400, 150, 8)
    monkeypatch.setattr(_dense, "MAX_DENSE_SIZE", 0)
    monkeypatch.setattr(_blocked, "MAX_DENSE_REST", 10)
    monkeypatch.setattr(_schurfill, "FILLED_DENSITY", 1.1)
    deviance = ProfiledDeviance(cross_products(design), design.terms, False)
    assert deviance.path == "blocked"
    monkeypatch.setattr(_schurfill, "DENSE_SPEEDUP", 1e-6)
    assert ProfiledDeviance(cross_products(design), design.terms, False).path == "cholmod"


def test_a_dense_complement_that_cannot_fit_goes_to_cholmod(monkeypatch):
    design = _ratings(200, 60, 6)
    monkeypatch.setattr(_dense, "MAX_DENSE_SIZE", 0)
    monkeypatch.setattr(_blocked, "MAX_DENSE_REST", 10)
    monkeypatch.setattr(_schurfill, "DENSE_COPIES", 10**9)
    assert ProfiledDeviance(cross_products(design), design.terms, False).path == "cholmod"


def test_a_factor_too_large_for_memory_is_refused_before_any_analysis(monkeypatch):
    design = _ratings(300, 60, 10)
    monkeypatch.setattr(_dense, "MAX_DENSE_SIZE", 0)
    monkeypatch.setattr(_blocked, "MAX_DENSE_REST", 10)
    monkeypatch.setattr(_fill, "available_memory", lambda: 20_000)
    monkeypatch.setattr(_schurfill, "PATTERN_BUDGET", 100.0)   # the pattern's pairs may count

    def no_analysis(*args, **kwargs):
        raise AssertionError("CHOLMOD's analysis was started")

    monkeypatch.setattr(_cholmod, "_analyze", no_analysis)
    with pytest.raises(FactorTooLargeError) as error:
        ProfiledDeviance(cross_products(design), design.terms, False)
    message = str(error.value)
    blocks = level_blocks(sp.csc_matrix(cross_products(design).ZtZ)[300:, :300], 1)
    fill = _schurfill.predicted_fill(_schurfill.schur_pattern(
        blocks, np.array([], int), np.array([], int)), blocks)
    nonzeros, stored = fill.nonzeros + fill.first_nonzeros, fill.stored + fill.first_nonzeros
    assert stored >= nonzeros > 2_500   # 8 bytes each: more than 20,000
    assert (f"this model is too large to fit: its 360 random effects make a sparse Cholesky "
            f"factor of about {nonzeros:,} non-zeros, which needs at least "
            f"{8 * stored / 1e9:,.1f} GB of memory where 0.0 GB are available") in message
    assert "fit a model with fewer levels" in message


def test_a_factor_past_cholmods_integers_is_refused_before_any_analysis(monkeypatch):
    design = _ratings(300, 60, 10)
    monkeypatch.setattr(_dense, "MAX_DENSE_SIZE", 0)
    monkeypatch.setattr(_blocked, "MAX_DENSE_REST", 10)
    monkeypatch.setattr(_schurfill, "DENSE_COPIES", 10**12)
    monkeypatch.setattr(_schurfill, "CHOLMOD_INDEX_LIMIT", 1_000)
    with pytest.raises(FactorTooLargeError, match=r"GB are available \(\d[\d,]* entries as "
                                                  r"CHOLMOD stores them, past the 32-bit "
                                                  r"integers it is called with\)"):
        ProfiledDeviance(cross_products(design), design.terms, False)


def test_a_sparse_factor_too_large_is_not_refused_early_unless_half_dense(monkeypatch):
    design = _ratings(300, 60, 10)
    monkeypatch.setattr(_dense, "MAX_DENSE_SIZE", 0)
    monkeypatch.setattr(_blocked, "MAX_DENSE_REST", 10)
    monkeypatch.setattr(_fill, "available_memory", lambda: 20_000)
    monkeypatch.setattr(_schurfill, "PATTERN_BUDGET", 100.0)
    monkeypatch.setattr(_schurfill, "REFUSED_SHARE", 1.01)
    with pytest.raises(FactorTooLargeError, match="needs at least"):   # CHOLMOD's own check
        ProfiledDeviance(cross_products(design), design.terms, False)


def _lean_and_dense(design, monkeypatch, reml=False):
    cp = cross_products(design)
    dense = ProfiledDeviance(cp, design.terms, reml, _path="dense")
    monkeypatch.setattr(_blocked, "LEAN_SIZE", 0)
    monkeypatch.setattr(_rankupdate, "PAIR_BUDGET", 0)
    monkeypatch.setattr(_rankupdate, "DENSE_BUDGET", 0)
    lean = ProfiledDeviance(cp, design.terms, reml, _path="blocked")
    assert lean.factor._lean
    return lean, dense


@pytest.mark.parametrize("theta", [[0.6, 0.9], [1.3, 0.2], [0.7, 0.0], [0.0, 0.8]])
def test_the_lean_schur_complement_equals_the_dense_path(theta, monkeypatch):
    lean, dense = _lean_and_dense(_ratings(60, 40, 4, seed=5), monkeypatch)
    theta = np.array(theta)
    value, gradient = lean.value_and_gradient(theta)
    expected_value, expected_gradient = dense.value_and_gradient(theta)
    assert value == pytest.approx(expected_value, rel=1e-12)
    np.testing.assert_allclose(gradient, expected_gradient, rtol=1e-8, atol=1e-8)
    ours, theirs = lean.solve(theta), dense.solve(theta)
    np.testing.assert_allclose(ours.u, theirs.u, rtol=1e-9, atol=1e-10)
    np.testing.assert_allclose(ours.beta, theirs.beta, rtol=1e-10)


def test_the_lean_schur_complement_with_a_third_term(monkeypatch):
    """Two other terms: S_ss has off-diagonal entries (items × genres)."""
    lean, dense = _lean_and_dense(_ratings(50, 30, 4, seed=6, extra_term=True), monkeypatch)
    theta = np.array([0.8, 0.6, 0.4])
    value, gradient = lean.value_and_gradient(theta)
    expected_value, expected_gradient = dense.value_and_gradient(theta)
    assert value == pytest.approx(expected_value, rel=1e-12)
    np.testing.assert_allclose(gradient, expected_gradient, rtol=1e-8, atol=1e-8)


@pytest.mark.parametrize("reml", [False, True])
def test_the_lean_schur_complement_under_a_vector_first_term(reml, monkeypatch):
    """(1 + x | user): the first term's 2 × 2 blocks feed the same compiled update; REML's
    gradient adds solves with the fixed effects' columns."""
    rng = np.random.default_rng(8)
    data = pd.DataFrame({"user": pd.Categorical(np.repeat(np.arange(40), 5)),
                         "item": pd.Categorical(rng.integers(0, 30, 200)),
                         "x": rng.normal(size=200)})
    data["y"] = rng.normal(size=200) + data["x"] * rng.normal(size=40)[data["user"].cat.codes]
    design = build_design(parse_formula("y ~ x + (1 + x | user) + (1 | item)"), data)
    lean, dense = _lean_and_dense(design, monkeypatch, reml)
    theta = np.array([0.7, 0.2, 0.4, 0.9])
    value, gradient = lean.value_and_gradient(theta)
    expected_value, expected_gradient = dense.value_and_gradient(theta)
    assert value == pytest.approx(expected_value, rel=1e-12)
    np.testing.assert_allclose(gradient, expected_gradient, rtol=1e-8, atol=1e-8)
