"""The CHOLMOD compatibility layer, on whichever scikit-sparse (0.4.x or 0.5.x) is installed."""

import numpy as np
import pytest
import scipy.sparse as sp
import sksparse

from lmmpy.objective._sksparse_compat import (
    NEW_API,
    TOO_LARGE_ERRORS,
    SparseCholesky,
    cholesky,
)


def _spd(n: int, seed: int, density: float = 0.15) -> sp.csc_matrix:
    """A random sparse symmetric positive definite n × n matrix (full, CSC)."""
    rng = np.random.default_rng(seed)
    M = sp.random(n, n, density=density, random_state=rng, format="csc")
    return (M @ M.T + sp.identity(n)).tocsc()


def test_the_api_matches_the_installed_version():
    major_minor = tuple(int(part) for part in sksparse.__version__.split(".")[:2])
    assert (major_minor >= (0, 5)) == NEW_API


@pytest.mark.parametrize("supernodal", [True, False])
@pytest.mark.parametrize("beta", [0.0, 1.0])
def test_factor_solve_and_logdet_match_dense_linear_algebra(supernodal, beta):
    A = _spd(40, seed=1)
    f = SparseCholesky(sp.tril(A, format="csc"), supernodal=supernodal)
    f.factorize(sp.tril(A, format="csc"), beta=beta)
    dense = A.toarray() + beta * np.eye(40)
    B = np.random.default_rng(2).normal(size=(40, 3))
    np.testing.assert_allclose(f.solve(B), np.linalg.solve(dense, B), rtol=1e-10)
    np.testing.assert_allclose(f.solve(B[:, 0]), np.linalg.solve(dense, B[:, 0]), rtol=1e-10)
    assert f.logdet() == pytest.approx(np.linalg.slogdet(dense)[1], rel=1e-12)


def test_a_sparse_right_hand_side_gives_the_dense_answer():
    A = _spd(30, seed=3)
    f = cholesky(A)
    B = sp.random(30, 4, density=0.3, random_state=4, format="csc")
    X = f.solve(B)
    np.testing.assert_allclose(X.toarray(), np.linalg.solve(A.toarray(), B.toarray()), atol=1e-12)


def test_refactoring_with_new_values_on_the_same_pattern_uses_the_new_values():
    A = sp.tril(_spd(25, seed=5), format="csc")
    f = SparseCholesky(A)
    b = np.ones(25)
    for scale in (1.0, 3.0, 0.5):
        scaled = A.copy()
        scaled.data *= scale
        f.factorize(scaled, beta=1.0)
        full = (scaled + sp.tril(scaled, -1).T).toarray() + np.eye(25)
        np.testing.assert_allclose(f.solve(b), np.linalg.solve(full, b), rtol=1e-10)


def test_a_copy_is_refactored_independently_of_its_original():
    A = sp.tril(_spd(20, seed=6), format="csc")
    f = SparseCholesky(A)
    f.factorize(A)
    before = f.logdet()
    clone = f.copy()
    assert clone.logdet() == pytest.approx(before, rel=1e-14)  # the values come along
    clone.factorize(A, beta=10.0)
    assert f.logdet() == pytest.approx(before, rel=1e-14)
    assert clone.logdet() > before


def test_cholesky_reads_the_lower_triangle_of_a_full_matrix():
    A = _spd(15, seed=7)
    upper_garbage = sp.triu(sp.random(15, 15, density=0.3, random_state=8), k=1) * 100
    x = np.arange(1.0, 16.0)
    np.testing.assert_allclose(cholesky(A).solve(A @ x), x, rtol=1e-10)
    np.testing.assert_allclose(cholesky((A + upper_garbage).tocsc()).solve(A @ x), x, rtol=1e-10)


def test_a_matrix_that_is_not_positive_definite_raises_linalgerror():
    A = sp.csc_matrix(np.array([[1.0, 0.0], [2.0, 1.0]]))  # lower triangle of [[1, 2], [2, 1]]
    f = SparseCholesky(A)  # supernodal: LL' in both versions (0.4's simplicial is LDL')
    with pytest.raises(np.linalg.LinAlgError, match="sparse matrix not positive definite"):
        f.factorize(A)


def test_solving_before_factoring_is_an_error():
    A = sp.csc_matrix(np.eye(3))
    with pytest.raises(RuntimeError, match=r"factorize\(\) before solve\(\) or logdet\(\)"):
        SparseCholesky(A).solve(np.ones(3))


def test_too_large_errors_are_the_installed_versions_exceptions():
    from sksparse import cholmod

    assert all(issubclass(error, cholmod.CholmodError) for error in TOO_LARGE_ERRORS)
    assert cholmod.CholmodOutOfMemoryError in TOO_LARGE_ERRORS
