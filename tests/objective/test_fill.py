"""The factor-size count (lmmpy.objective._fill) and the CHOLMOD path's too-large errors."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

pytest.importorskip("sksparse.cholmod")

from lmmpy.design import build_design
from lmmpy.formula import parse_formula
from lmmpy.objective import (
    ProfiledDeviance,
    _fill,
    cross_products,
)
from lmmpy.objective._fill import FactorTooLargeError, factor_nonzeros
from lmmpy.objective._sksparse_compat import (
    TOO_LARGE_ERRORS,
    SparseCholesky,
    cholesky,
)


def _crossed_pattern(q: int, n: int, seed: int) -> sp.csc_matrix:
    """The pattern of Z'Z + I for two crossed factors of q levels each on n rows."""
    rng = np.random.default_rng(seed)
    rows = np.tile(np.arange(n), 2)
    columns = np.concatenate([rng.integers(0, q, n), q + rng.integers(0, q, n)])
    Z = sp.csc_matrix((np.ones(2 * n), (rows, columns)), shape=(n, 2 * q))
    return sp.csc_matrix(sp.tril(Z.T @ Z + sp.eye(2 * q)))


@pytest.mark.parametrize("seed", range(12))
def test_the_count_is_the_size_of_cholmods_factor(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(5, 250))
    R = sp.random(n, n, density=float(rng.uniform(0.005, 0.08)), random_state=seed,
                  format="csc")
    A = sp.csc_matrix(R @ R.T + n * sp.eye(n))
    factor = cholesky(A)
    assert factor_nonzeros(sp.tril(A), factor.permutation()) == factor.unit_ldl()[0].nnz


def test_the_count_on_a_crossed_design_with_cholmods_ordering():
    pattern = _crossed_pattern(q=150, n=900, seed=3)
    A = pattern + sp.tril(pattern, -1).T + sp.eye(pattern.shape[0]) * 1e3
    factor = cholesky(sp.csc_matrix(A))
    assert factor_nonzeros(pattern, factor.permutation()) == factor.unit_ldl()[0].nnz


@pytest.mark.parametrize(("pattern", "expected"), [
    (sp.eye(7), 7),                                         # diagonal: no fill
    (np.ones((6, 6)), 21),                                  # dense: n(n+1)/2
    (sp.diags([1.0, 1.0, 1.0], [-1, 0, 1], shape=(8, 8)), 15),    # tridiagonal: 2n - 1
])
def test_the_count_in_closed_form(pattern, expected):
    assert factor_nonzeros(sp.csc_matrix(pattern)) == expected


def test_the_ordering_decides_the_fill():
    arrow = sp.lil_matrix(np.eye(6))
    arrow[5, :] = 1
    hub_last, hub_first = np.arange(6), np.array([5, 0, 1, 2, 3, 4])
    assert factor_nonzeros(arrow, hub_last) == 11
    assert factor_nonzeros(arrow, hub_first) == 21


def _crossed_deviance(monkeypatch, memory: int | None):
    rng = np.random.default_rng(7)
    n = 600
    data = pd.DataFrame({"y": rng.normal(size=n), "a": rng.integers(0, 60, n).astype(str),
                         "b": rng.integers(0, 60, n).astype(str)})
    design = build_design(parse_formula("y ~ 1 + (1 | a) + (1 | b)"), data)
    monkeypatch.setattr(_fill, "available_memory", lambda: memory)
    return ProfiledDeviance(cross_products(design), design.terms, True, _path="cholmod")


def test_a_factor_larger_than_the_memory_is_refused_before_it_is_made(monkeypatch):
    with pytest.raises(FactorTooLargeError) as caught:
        _crossed_deviance(monkeypatch, memory=1000)
    message = str(caught.value)
    assert message.startswith("this model is too large to fit: its 120 random effects make a "
                              "sparse Cholesky factor of ")
    assert "non-zeros, which needs at least 0.0 GB of memory where 0.0 GB are available" in message
    assert "fit a model with fewer levels" in message
    assert isinstance(caught.value, MemoryError)


@pytest.mark.parametrize("memory", [None, 10**12])
def test_a_factor_that_fits_is_factored(monkeypatch, memory):
    deviance = _crossed_deviance(monkeypatch, memory)
    assert np.isfinite(deviance(np.array([1.0, 1.0])))


def test_the_estimate_of_an_absurd_crossed_design(monkeypatch):
    """10,000 levels crossed with 10,000 over 100,000 rows: a factor with a hundred times
    the pattern's entries, counted without making it, and refused when memory is short."""
    pattern = _crossed_pattern(q=10_000, n=100_000, seed=0)
    permutation = SparseCholesky(pattern, supernodal=False).permutation()
    nonzeros = factor_nonzeros(pattern, permutation)
    assert nonzeros > 100 * pattern.nnz  # the fill, not the pattern, sets the memory
    stored = _fill.stored_entries(pattern, permutation)
    assert nonzeros < stored < 2 * nonzeros   # its dense part stored as rectangles
    monkeypatch.setattr(_fill, "available_memory", lambda: 8 * stored - 1)
    with pytest.raises(FactorTooLargeError, match=rf"factor of {nonzeros:,} non-zeros, which "
                                                  rf"needs at least {8 * stored / 1e9:,.1f} GB"):
        _fill.check_factor_fits(pattern, permutation)
    monkeypatch.setattr(_fill, "available_memory", lambda: 8 * stored)
    _fill.check_factor_fits(pattern, permutation)


@pytest.mark.parametrize("error", range(len(TOO_LARGE_ERRORS)))
def test_cholmods_own_errors_in_the_analysis_say_what_to_do(monkeypatch, error):
    """CHOLMOD's 'problem too large' and 'out of memory' (whatever scikit-sparse calls them)."""
    def analyze(self, pattern, supernodal=True, _symbolic=None, simplicial=False):
        # any analysis that may make supernodes overflows, as CHOLMOD's "auto" does on a huge fill
        if not simplicial and _symbolic is None:
            raise TOO_LARGE_ERRORS[error]("../Supernodal/cholmod_super_symbolic.c:683: "
                                          "problem too large (code -3)")
        original(self, pattern, supernodal, _symbolic, simplicial=simplicial)

    original = SparseCholesky.__init__
    monkeypatch.setattr(SparseCholesky, "__init__", analyze)
    with pytest.raises(FactorTooLargeError) as caught:
        _crossed_deviance(monkeypatch, memory=None)
    message = str(caught.value)
    assert "its 120 random effects make a sparse Cholesky factor of " in message
    assert "non-zeros, which needs at least 0.0 GB of memory" in message   # counted anyway
    assert "(CHOLMOD: ../Supernodal/cholmod_super_symbolic.c:683: problem too large" in message
    assert "fewer crossed terms, or a nested instead of a crossed structure" in message


class _OutOfMemoryFactor:
    """CHOLMOD's factor, but out of memory when factoring (its type cannot be patched)."""

    def __init__(self, factor):
        self.permutation = factor.permutation

    def factorize(self, A, beta=0.0):
        raise TOO_LARGE_ERRORS[1]("out of memory")


def test_out_of_memory_in_the_numeric_factorization(monkeypatch):
    deviance = _crossed_deviance(monkeypatch, memory=None)
    deviance.factor.factor = _OutOfMemoryFactor(deviance.factor.factor)
    with pytest.raises(FactorTooLargeError, match=r"sparse Cholesky factor of [0-9,]+ non-zeros"
                                                  r".*\(CHOLMOD: out of memory\)"):
        deviance(np.array([0.5, 0.5]))
