"""The blocked and dense factorizations against the CHOLMOD one and dense algebra.

All paths compute the same function of θ; on every lme4 reference case they
must agree to rounding error (deviance 1e-10 relative, β̂ and û 1e-8), at
lme4's θ, at a perturbed θ and with θ on its boundary.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from reference import case_design, case_files

from lmmpy.design import build_design
from lmmpy.formula import parse_formula
from lmmpy.objective import (
    ProfiledDeviance,
    _blocked,
    _dense,
    _rankupdate,
    _schurfill,
    conditional_variance_blocks,
    cross_products,
)
from lmmpy.objective._rankupdate import PairProducts, level_blocks, sparse_rank_update


def _both_paths(design, reml):
    cp = cross_products(design)
    blocked = ProfiledDeviance(cp, design.terms, reml, _path="blocked")
    cholmod = ProfiledDeviance(cp, design.terms, reml, _path="cholmod")
    return blocked, cholmod


def _dense_path(design, reml):
    cp = cross_products(design)
    try:
        return ProfiledDeviance(cp, design.terms, reml, _path="dense")
    except ValueError:
        return None


def _assert_same(ours, theirs, theta):
    assert ours(theta) == pytest.approx(theirs(theta), rel=1e-10, abs=1e-10)
    a, b = ours.solve(theta), theirs.solve(theta)
    assert np.all(np.abs(a.beta - b.beta) <= 1e-8 * (1 + np.abs(b.beta)))
    assert np.all(np.abs(a.u - b.u) <= 1e-8 * (1 + np.abs(b.u)))
    assert a.logdet_L == pytest.approx(b.logdet_L, rel=1e-10, abs=1e-10)
    np.testing.assert_allclose(a.R_X, b.R_X, rtol=1e-9, atol=1e-10 * np.abs(b.R_X).max())


def _thetas(case, design):
    theta = np.array(list(case["theta"].values()))
    rng = np.random.default_rng(7)
    lower = design.theta_lower_bounds()
    return [theta, theta + rng.uniform(0.05, 0.5, len(theta)), np.where(lower == 0, 0.0, theta)]


@pytest.mark.parametrize("name", case_files("fit"))
def test_all_paths_agree_on_every_reference_case(name):
    case, design = case_design(name)
    blocked, cholmod = _both_paths(design, case["REML"])
    dense = _dense_path(design, case["REML"])
    assert blocked.path == "blocked"
    for theta in _thetas(case, design):
        _assert_same(blocked, cholmod, theta)
        if dense is not None:
            _assert_same(dense, cholmod, theta)


FORMULAS = ["y ~ x + (x | g1) + (x | g2)", "y ~ x + (1 | g1) + (x | g2)",
            "y ~ x + (x | g1) + (1 | g2) + (0 + x | g2)"]


def _vector_terms(formula, seed=0, n=400):
    """Vector-valued first terms (k = 2) and rests whose Λ is not diagonal."""
    rng = np.random.default_rng(seed)
    data = pd.DataFrame({"g1": rng.integers(0, 40, n).astype(str),
                         "g2": rng.integers(0, 7, n).astype(str),
                         "x": rng.normal(size=n)})
    data["y"] = data.x + rng.normal(size=n) + rng.normal(size=40)[data.g1.astype(int)]
    return build_design(parse_formula(formula), data)


def _random_theta(design, seed):
    rng = np.random.default_rng(seed)
    lower = design.theta_lower_bounds()
    return np.where(lower == 0, rng.uniform(0.2, 1.5, len(lower)),
                    rng.normal(0, 0.5, len(lower)))


@pytest.mark.parametrize("formula", FORMULAS)
@pytest.mark.parametrize("reml", [True, False])
def test_vector_terms_in_both_blocks_agree_with_cholmod(formula, reml):
    design = _vector_terms(formula)
    blocked, cholmod = _both_paths(design, reml)
    lower = design.theta_lower_bounds()
    for theta in (_random_theta(design, 1), np.where(lower == 0, 1.0, 0.0),
                  np.where(lower == 0, 0.0, _random_theta(design, 2))):
        _assert_same(blocked, cholmod, theta)
        _assert_same(_dense_path(design, reml), cholmod, theta)


def test_solve_A_and_conditional_variances_equal_the_dense_inverse():
    design = _vector_terms(FORMULAS[0], seed=3)
    blocked, _ = _both_paths(design, True)
    theta = _random_theta(design, 4)
    Lambda = blocked.layout.Lambda(theta).toarray()
    A = Lambda.T @ blocked.crossprods.ZtZ.toarray() @ Lambda + np.eye(len(Lambda))
    blocked(theta)
    B = np.random.default_rng(1).normal(size=(len(A), 3))
    assert blocked.factor.solve_A(B) == pytest.approx(np.linalg.solve(A, B), rel=1e-9)
    assert blocked.factor.solve_A(sp.csc_matrix(B[:, :1])) == pytest.approx(
        np.linalg.solve(A, B[:, :1]), rel=1e-9)
    assert blocked.factor.logdet() == pytest.approx(np.linalg.slogdet(A)[1], rel=1e-12)
    dense = Lambda @ np.linalg.inv(A) @ Lambda.T
    first = conditional_variance_blocks(blocked, theta, chunk=11)[0]
    for level in range(first.shape[0]):
        rows = slice(2 * level, 2 * level + 2)
        assert first[level] == pytest.approx(dense[rows, rows], rel=1e-8)


def _random_blocks(k, seed=0, levels=30, size=12):
    rng = np.random.default_rng(seed)
    B = sp.random(size, levels * k, density=0.3, random_state=rng, format="csr")
    V = rng.normal(size=(levels, k, k))
    Omega = V @ V.transpose(0, 2, 1)
    dense = B.toarray() @ _block_diagonal(Omega) @ B.toarray().T
    return level_blocks(B, k), V, np.tril(dense)


def _block_diagonal(blocks):
    return sp.block_diag(list(blocks)).toarray()


@pytest.mark.parametrize("k", [1, 2, 3])
def test_tabulated_pair_products_give_the_rank_update(k):
    blocks, V, expected = _random_blocks(k)
    assert PairProducts(blocks)(V) == pytest.approx(expected, abs=1e-12)


@pytest.mark.parametrize("k", [1, 2, 3])
def test_compiled_rank_update_equals_the_tabulated_one(k):
    pytest.importorskip("numba")
    blocks, V, expected = _random_blocks(k, seed=k)
    compiled = sparse_rank_update(blocks, pair_budget=0, dense_budget=0)
    assert type(compiled).__name__ == "CompiledUpdate"
    assert compiled(V) == pytest.approx(expected, abs=1e-12)


@pytest.mark.parametrize("k", [1, 2, 3])
@pytest.mark.parametrize("parts", [1, 3])
def test_tiled_rank_update_gives_the_same_bits_as_the_level_loop(k, parts, monkeypatch):
    pytest.importorskip("numba")
    from lmmpy.objective import _rankupdate

    rng = np.random.default_rng(k)
    B = sp.random(300, 40 * k, density=0.3, random_state=rng, format="csc")
    blocks, V = level_blocks(B, k), rng.normal(size=(40, k, k))
    by_level = sparse_rank_update(blocks, pair_budget=0, dense_budget=0)
    by_level.bounds = [0, 40]   # one thread: the sum over levels in order
    assert by_level.cuts is None   # one 512-row tile
    monkeypatch.setattr(_rankupdate, "TILE", 64)
    tiled = sparse_rank_update(blocks, pair_budget=0, dense_budget=0)
    assert tiled.cuts is not None   # 90 or more entries a level over 5 tiles
    tiled.tile_parts = _rankupdate._tile_parts(5, parts)
    G = tiled(V)
    assert np.array_equal(G, by_level(V))
    np.testing.assert_allclose(G, np.tril(B.toarray() @ _block_diagonal(
        V @ V.transpose(0, 2, 1)) @ B.toarray().T), atol=1e-12)


@pytest.mark.parametrize("k", [1, 2])
def test_tiled_level_forms_equal_the_level_loop(k, monkeypatch):
    pytest.importorskip("numba")
    from lmmpy.objective import _rankupdate

    rng = np.random.default_rng(20 + k)
    B = sp.random(300, 40 * k, density=0.3, random_state=rng, format="csc")
    blocks = level_blocks(B, k)
    N = rng.normal(size=(300, 300))
    N = N + N.T
    by_level = sparse_rank_update(blocks, pair_budget=0, dense_budget=0).level_forms(N)
    monkeypatch.setattr(_rankupdate, "TILE", 64)
    tiled = sparse_rank_update(blocks, pair_budget=0, dense_budget=0)
    assert tiled.cuts is not None
    np.testing.assert_allclose(tiled.level_forms(N), by_level, rtol=1e-12, atol=1e-10)
    np.testing.assert_allclose(by_level, PairProducts(blocks).level_forms(N), rtol=1e-12,
                               atol=1e-10)


@pytest.mark.parametrize("k", [1, 2])
@pytest.mark.parametrize("tile", [512, 64])
def test_compiled_gathers_read_the_lower_triangle(k, tile, monkeypatch):
    """The level forms B_j'SNSB_j of ``gathered`` equal the tabulated ones with N's upper
    triangle garbage, and t_e is row R_e of N S B_j (by levels, and tile by tile)."""
    pytest.importorskip("numba")
    from lmmpy.objective import _rankupdate

    monkeypatch.setattr(_rankupdate, "TILE", tile)
    rng = np.random.default_rng(20 + k)
    B = sp.random(300, 40 * k, density=0.3, random_state=rng, format="csc")
    blocks = level_blocks(B, k)
    N = rng.normal(size=(300, 300))
    N = N + N.T
    scale = rng.uniform(0.5, 2.0, size=300)
    garbage = np.tril(N) + np.triu(rng.normal(size=(300, 300)), 1)
    compiled = sparse_rank_update(blocks, pair_budget=0, dense_budget=0)
    assert (compiled.cuts is None) == (tile == 512)
    forms, t = compiled.gathered(garbage, scale)
    np.testing.assert_allclose(forms, PairProducts(blocks).level_forms(N * np.outer(scale, scale)),
                               rtol=1e-12, atol=1e-10)
    for j in (0, 17, 39):
        span = slice(blocks.pointer[j], blocks.pointer[j + 1])
        rows = blocks.rows[span]
        expected = N[np.ix_(rows, rows)] @ (scale[rows, None] * blocks.values[span])
        np.testing.assert_allclose(t[span], expected, rtol=1e-12, atol=1e-12)


def test_tile_parts_share_the_work():
    from lmmpy.objective._rankupdate import _tile_parts

    parts = _tile_parts(10, 3)
    assert sorted(np.concatenate(parts).tolist()) == list(range(10))
    loads = [int(np.sum(p + 1)) for p in parts]
    assert max(loads) - min(loads) <= 10


@pytest.mark.parametrize("k", [1, 2, 3])
def test_dense_rank_update_equals_the_tabulated_one(k):
    blocks, V, expected = _random_blocks(k, seed=10 + k)
    dense = sparse_rank_update(blocks)
    assert type(dense).__name__ == "DenseUpdate"   # 30 levels × 12 rows, mostly filled
    assert dense(V) == pytest.approx(expected, abs=1e-12)
    N = np.random.default_rng(k).normal(size=(12, 12))
    N = N + N.T
    np.testing.assert_allclose(dense.level_forms(N), PairProducts(blocks).level_forms(N),
                               atol=1e-12)


def test_a_sparse_or_large_b_takes_no_dense_update():
    sparse_blocks = level_blocks(sp.random(400, 300, density=0.01, random_state=1,
                                           format="csr"), 1)
    assert type(sparse_rank_update(sparse_blocks)).__name__ == "CompiledUpdate"
    blocks = _random_blocks(1)[0]
    assert type(sparse_rank_update(blocks, dense_budget=100)).__name__ == "CompiledUpdate"


def test_the_pair_table_serves_threaded_work_and_no_numba(monkeypatch):
    """One thread's work goes to the compiled loop (its table would cost more to make than
    the loop to run); the table is made when the loop would run in threads, or without
    numba."""
    blocks = level_blocks(sp.random(400, 300, density=0.01, random_state=1, format="csr"), 1)
    assert blocks.work() < _rankupdate.THREADED_WORK
    monkeypatch.setattr(_rankupdate, "THREADED_WORK", 1)
    assert type(sparse_rank_update(blocks)).__name__ == "PairProducts"
    monkeypatch.undo()
    monkeypatch.setattr(_rankupdate, "numba_available", lambda: False)
    assert type(sparse_rank_update(blocks)).__name__ == "PairProducts"


def test_level_blocks_groups_columns_by_level_with_sorted_rows():
    B = sp.csc_matrix(np.array([[0.0, 1.0, 2.0, 0.0], [3.0, 0.0, 0.0, 0.0],
                                [0.0, 4.0, 0.0, 5.0]]))
    blocks = level_blocks(B, 2)
    assert blocks.pointer.tolist() == [0, 3, 5]
    assert blocks.rows.tolist() == [0, 1, 2, 0, 2]
    assert blocks.values.tolist() == [[0, 1], [3, 0], [0, 4], [2, 0], [0, 5]]
    assert blocks.n_pairs() == 6 + 3


def test_small_models_take_the_dense_path():
    _, design = case_design("sleepstudy_slope_reml")
    assert ProfiledDeviance(cross_products(design), design.terms, True).path == "dense"


def test_insteval_takes_the_blocked_path():
    _, design = case_design("insteval_ml")
    deviance = ProfiledDeviance(cross_products(design), design.terms, False)
    assert deviance.path == "blocked"
    assert type(deviance.factor.structure.update).__name__ == "CompiledUpdate"
    assert deviance.factor._lean   # one thread: straight into the Schur complement


def test_large_rest_takes_the_cholmod_path(monkeypatch):
    _, design = case_design("penicillin_reml")
    monkeypatch.setattr(_dense, "MAX_DENSE_SIZE", 0)
    monkeypatch.setattr(_blocked, "MAX_DENSE_REST", 3)
    monkeypatch.setattr(_schurfill, "DENSE_COPIES", 10**12)   # a dense complement cannot fit
    deviance = ProfiledDeviance(cross_products(design), design.terms, True)
    assert deviance.path == "cholmod"


def test_a_larger_rest_that_is_dense_anyway_stays_blocked(monkeypatch):
    """penicillin's plates and samples are fully crossed: the Schur complement on the
    samples is dense, so past MAX_DENSE_REST it is still factored densely."""
    case, design = case_design("penicillin_reml")
    monkeypatch.setattr(_dense, "MAX_DENSE_SIZE", 0)
    monkeypatch.setattr(_blocked, "MAX_DENSE_REST", 3)
    deviance = ProfiledDeviance(cross_products(design), design.terms, True)
    assert deviance.path == "blocked"
    assert _blocked._off_diagonal_density(deviance.factor.structure) == 1.0
    cholmod = ProfiledDeviance(cross_products(design), design.terms, True, _path="cholmod")
    theta = np.array(list(case["theta"].values()))
    assert deviance(theta) == pytest.approx(cholmod(theta), rel=1e-12)


def test_a_larger_nested_rest_takes_the_cholmod_path(monkeypatch):
    """pastes' casks are nested in batches: the complement on the batches is diagonal,
    which a sparse factor handles without fill."""
    _, design = case_design("pastes_reml")
    monkeypatch.setattr(_dense, "MAX_DENSE_SIZE", 0)
    blocked = ProfiledDeviance(cross_products(design), design.terms, True)
    assert blocked.path == "blocked"
    assert _blocked._off_diagonal_density(blocked.factor.structure) == 0.0
    monkeypatch.setattr(_blocked, "MAX_DENSE_REST", 3)
    assert ProfiledDeviance(cross_products(design), design.terms, True).path == "cholmod"


def test_without_numba_a_large_update_takes_the_cholmod_path(monkeypatch):
    _, design = case_design("penicillin_reml")
    monkeypatch.setattr(_dense, "MAX_DENSE_SIZE", 0)
    monkeypatch.setattr(_rankupdate, "PAIR_BUDGET", 0)
    monkeypatch.setattr(_rankupdate, "DENSE_BUDGET", 0)
    monkeypatch.setattr(_rankupdate, "numba_available", lambda: False)
    deviance = ProfiledDeviance(cross_products(design), design.terms, True)
    assert deviance.path == "cholmod"
    with pytest.raises(ValueError, match="blocked factorization does not apply"):
        ProfiledDeviance(cross_products(design), design.terms, True, _path="blocked")


def test_unknown_path_is_rejected():
    _, design = case_design("dyestuff_reml")
    with pytest.raises(ValueError, match="path must be one of 'dense', 'blocked', 'cholmod', "
                                         "not 'sparse'"):
        ProfiledDeviance(cross_products(design), design.terms, True, _path="sparse")


def test_refit_keeps_the_structure_and_path():
    _, design = case_design("penicillin_reml")
    deviance = ProfiledDeviance(cross_products(design), design.terms, True, _path="blocked")
    other = deviance.with_crossprods(deviance.crossprods, reml=False)
    assert other.path == "blocked" and not other.reml
    assert other.factor.structure is deviance.factor.structure
    theta = np.array([1.5, 3.0])
    assert other(theta) == pytest.approx(
        ProfiledDeviance(deviance.crossprods, design.terms, False, _path="cholmod")(theta),
        rel=1e-11)


@pytest.mark.parametrize("reml", [True, False])
def test_the_sparse_rest_entries_are_the_dense_product(reml, monkeypatch):
    """Two crossed scalar terms: Sᵣᵣ's lower triangle is read on its pattern (a diagonal
    S_ss and the [X y] rows), never formed; the same objective, solution and gradient as
    from the dense Sᵣᵣ and as CHOLMOD."""
    rng = np.random.default_rng(5)
    n = 6000
    data = pd.DataFrame({"g1": pd.Categorical(np.arange(n) % 600),
                         "g2": pd.Categorical(rng.integers(0, 150, n)), "x": rng.normal(size=n)})
    data["y"] = data.x + rng.normal(size=600)[data.g1.cat.codes] + rng.normal(size=n)
    design = build_design(parse_formula("y ~ x + (1 | g1) + (1 | g2)"), data)
    blocked, cholmod = _both_paths(design, reml)
    assert blocked.factor._S_rr_entries is not None
    monkeypatch.setattr(_blocked.BlockedFactorization, "_lower_entries", lambda self: None)
    dense_rest = ProfiledDeviance(cross_products(design), design.terms, reml, _path="blocked")
    assert dense_rest.factor._S_rr_entries is None
    for theta in (np.array([0.8, 0.4]), np.array([0.0, 1.3]), np.array([2.0, 0.0])):
        _assert_same(blocked, cholmod, theta)
        _assert_same(blocked, dense_rest, theta)
        np.testing.assert_allclose(blocked.value_and_gradient(theta)[1],
                                   dense_rest.value_and_gradient(theta)[1], rtol=1e-9, atol=1e-9)
