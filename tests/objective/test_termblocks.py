"""Z'WZ by term pairs (the chunked fits' layout): the same matrix as the compressed
columns, its sums, and the blocked factor reading it in place."""

from __future__ import annotations

import sys
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from lmmpy.design import build_design
from lmmpy.formula import parse_formula
from lmmpy.objective import ProfiledDeviance, _blocked, cross_products
from lmmpy.objective._blocked_terms import LevelProduct
from lmmpy.objective._crossprod import _sum_products, _term_pair_products
from lmmpy.objective._lapack_inplace import potri_leading
from lmmpy.objective._schurfill import off_diagonal_density, schur_pattern
from lmmpy.objective._termblocks import TermBlocks, term_blocks
from lmmpy.objective._termblocks_kernels import joined_share_reaches

FORMULAS = ["y ~ x + (x | g1) + (1 | g2)", "y ~ x + (1 | g1) + (x | g2)",
            "y ~ x + (x | g1) + (1 | g2) + (x | g3)"]


def _frame(n: int = 3000, levels: tuple[int, int, int] = (300, 80, 40), seed: int = 3):
    rng = np.random.default_rng(seed)
    g1, g2, g3 = (rng.integers(k, size=n) for k in levels)
    x = rng.normal(size=n)
    y = (1 + 0.5 * x + rng.normal(0, 0.8, levels[0])[g1] + rng.normal(0, 0.3, levels[0])[g1] * x
         + rng.normal(0, 0.5, levels[1])[g2] + rng.normal(0, 0.4, levels[2])[g3]
         + rng.normal(size=n))
    return pd.DataFrame({"y": y, "x": x, "g1": g1, "g2": g2, "g3": g3})


def _design(formula: str, frame: pd.DataFrame | None = None):
    return build_design(parse_formula(formula), _frame() if frame is None else frame)


def _rows(design, rows: np.ndarray):
    """The design's terms restricted to ``rows`` (the same levels: a chunk's terms)."""
    return tuple(replace(t, codes=t.codes[rows], model_matrix=replace(
        t.model_matrix, values=t.model_matrix.values[rows])) for t in design.terms)


def _same_csc(a: sp.csc_matrix, b: sp.csc_matrix) -> None:
    assert a.shape == b.shape
    np.testing.assert_array_equal(a.indptr, b.indptr)
    np.testing.assert_array_equal(a.indices, b.indices)
    np.testing.assert_array_equal(a.data, b.data)


@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("formula", FORMULAS)
def test_term_blocks_are_the_compressed_columns_bit_for_bit(formula, weighted):
    design = _design(formula)
    weights = np.random.default_rng(1).uniform(0.5, 2, design.n_obs) if weighted else None
    blocks = term_blocks(design.terms, weights)
    expected, _ = _term_pair_products(design.terms, np.ones((design.n_obs, 1)), weights)
    _same_csc(blocks.tocsc(), expected)
    assert blocks.nnz == expected.nnz and blocks.shape == expected.shape
    np.testing.assert_array_equal(blocks.dense(), expected.toarray())


@pytest.mark.parametrize("formula", FORMULAS)
def test_sums_in_place_and_anew_are_the_sum_of_the_compressed_columns(formula):
    design = _design(formula)
    parts = np.array_split(np.arange(design.n_obs), 3)
    chunks = [_rows(design, rows) for rows in parts]
    fresh = [term_blocks(terms, None) for terms in chunks]
    expected = _sum_products(_sum_products(fresh[0].tocsc(), fresh[1].tocsc()),
                             fresh[2].tocsc())
    anew = fresh[0].added(fresh[1]).added(fresh[2])
    _same_csc(anew.tocsc(), expected)
    np.testing.assert_array_equal((fresh[0] + fresh[1]).tocsc().toarray(),
                                  fresh[0].added(fresh[1]).tocsc().toarray())
    given_up = [term_blocks(terms, None) for terms in chunks]   # their memory is released
    in_place = given_up[0].added(given_up[1], in_place=True).added(given_up[2], in_place=True)
    _same_csc(in_place.tocsc(), expected)


def test_an_operand_given_up_is_released_behind_the_merge():
    design = _design(FORMULAS[0], _frame(n=60_000, levels=(3000, 400, 40)))
    halves = [term_blocks(_rows(design, rows), None)
              for rows in np.array_split(np.arange(design.n_obs), 2)]
    kept = [term_blocks(_rows(design, rows), None)
            for rows in np.array_split(np.arange(design.n_obs), 2)]
    total = halves[0].added(halves[1], in_place=True)
    _same_csc(total.tocsc(), kept[0].added(kept[1]).tocsc())
    if sys.platform.startswith("linux"):   # the whole pages passed were returned: zeros
        passed = halves[0].cross[0].values[: len(halves[0].cross[0].values) // 2]
        assert np.mean(np.all(passed == 0, axis=1)) > 0.9


def test_blocks_of_other_designs_are_not_added():
    a = term_blocks(_design(FORMULAS[0]).terms, None)
    b = term_blocks(_design(FORMULAS[0], _frame(levels=(310, 80, 40))).terms, None)
    with pytest.raises(ValueError, match="different designs cannot be added"):
        a.added(b)


@pytest.mark.parametrize("formula", FORMULAS)
def test_products_without_the_compressed_columns(formula):
    design = _design(formula)
    blocks = term_blocks(design.terms, None)
    csc = blocks.tocsc()
    X = np.random.default_rng(2).normal(size=(csc.shape[0], 3))
    np.testing.assert_allclose(blocks.times(X), csc @ X, rtol=1e-13, atol=1e-10)
    np.testing.assert_allclose(blocks.times(X[:, 0]), csc @ X[:, 0], rtol=1e-13, atol=1e-10)
    B, S_ss, targets = blocks.rest()
    q1 = design.terms[0].n_random_effects
    np.testing.assert_array_equal(S_ss.toarray(), csc[q1:, q1:].toarray())
    np.testing.assert_array_equal(targets, np.flatnonzero(csc[q1:, q1:].toarray() != 0))
    product = LevelProduct(B)
    np.testing.assert_allclose(product @ X[:q1], csc[q1:, :q1] @ X[:q1], rtol=1e-13,
                               atol=1e-10)
    np.testing.assert_allclose(product.T @ X[q1:], csc[:q1, q1:] @ X[q1:], rtol=1e-13,
                               atol=1e-10)
    np.testing.assert_array_equal(product.tocsr().toarray(), csc[q1:, :q1].toarray())
    np.testing.assert_array_equal(product.T.tocsr().toarray(), csc[:q1, q1:].toarray())


@pytest.mark.parametrize("held_once", [False, True])
@pytest.mark.parametrize("formula", FORMULAS)
def test_the_blocked_factor_on_term_blocks_is_the_one_on_compressed_columns(
        formula, held_once, monkeypatch):
    if held_once:   # the factor held once, its inverse taken in place (large Schur complements)
        monkeypatch.setattr(_blocked, "HELD_ONCE_BYTES", 0)
    design = _design(formula)
    by_columns = cross_products(design)
    by_terms = cross_products(design, by_terms=True)
    assert isinstance(by_terms.ZtZ_product, TermBlocks)
    reference = ProfiledDeviance(by_columns, design.terms, reml=True, _path="blocked")
    objective = ProfiledDeviance(by_terms, design.terms, reml=True, _path="blocked")
    assert objective.factor.capabilities.snapshots is not held_once
    theta = design.theta_start() * 0.8
    for point in (theta, theta * 1.1, theta):
        value, gradient = objective.value_and_gradient(point)
        expected_value, expected_gradient = reference.value_and_gradient(point)
        assert value == pytest.approx(expected_value, rel=1e-12)
        np.testing.assert_allclose(gradient, expected_gradient, rtol=1e-9, atol=1e-8)
        solution, expected = objective.solve(point), reference.solve(point)
        np.testing.assert_allclose(solution.u, expected.u, rtol=1e-9, atol=1e-10)
        np.testing.assert_allclose(solution.beta, expected.beta, rtol=1e-10)
    assert "ZtZ" not in vars(by_terms)   # no compressed-column copy was made


def test_a_factor_for_another_response_on_term_blocks():
    design = _design(FORMULAS[0])
    by_terms = cross_products(design, by_terms=True)
    objective = ProfiledDeviance(by_terms, design.terms, reml=False, _path="blocked")
    other = replace(by_terms, ZtZ_product=replace(by_terms.ZtZ_product))
    refit = objective.with_crossprods(other)
    theta = design.theta_start()
    assert refit(theta) == pytest.approx(objective(theta), rel=1e-13)


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("share", [0.05, 0.1, 0.3])
def test_the_early_density_check_agrees_with_the_whole_pattern(seed, share):
    rng = np.random.default_rng(seed)
    size, levels = 60, 40
    per_level = rng.integers(1, 12, size=levels)
    rows = np.concatenate([np.sort(rng.choice(size, n, replace=False)) for n in per_level])
    pointer = np.concatenate([[0], np.cumsum(per_level)])
    blocks = _blocked.LevelBlocks(pointer, rows.astype(np.int32), np.ones((len(rows), 1)), size)
    density = off_diagonal_density(schur_pattern(blocks, np.array([]), np.array([])))
    assert joined_share_reaches(pointer, blocks.rows, size, share) == (density >= share)


def test_the_leading_inverse_in_place_refuses_what_it_cannot_read():
    with pytest.raises(ValueError, match="Fortran-ordered float64"):
        potri_leading(np.eye(3), 2)   # C order (symmetric, but the check is on the layout)
    with pytest.raises(ValueError, match="leading block's order 4 exceeds"):
        potri_leading(np.asfortranarray(np.eye(3)), 4)
    singular = np.asfortranarray(np.diag([1.0, 0.0, 1.0]))
    with pytest.raises(np.linalg.LinAlgError, match="not invertible"):
        potri_leading(singular, 2)
