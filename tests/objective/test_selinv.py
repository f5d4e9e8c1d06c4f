"""The selected inverse of a sparse Cholesky factor with a dense tail (objective/_selinv.py).

A⁻¹ on L's pattern equals the dense inverse's entries whatever share of the
factor is taken as the dense tail; entries off the pattern are NaN; the tail
starts where a dense tail's LAPACK inverse is cheaper than the sparse recurrence.
"""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from lmmpy.objective._selinv import FactorInverse, tail_start


def _arrow_with_dense_block(n=120, block=25, seed=0):
    """A sparse SPD matrix whose last ``block`` rows and columns are dense (crossed-like)."""
    rng = np.random.default_rng(seed)
    B = sp.random(n, n, density=0.02, random_state=seed).toarray()
    A = B @ B.T + np.eye(n)
    G = rng.normal(size=(block, block))
    A[-block:, -block:] += G @ G.T / block
    A[-block:, : n - block] += 0.05 * (rng.random((block, n - block)) < 0.1)
    A[: n - block, -block:] = A[-block:, : n - block].T
    return A + n * 0.01 * np.eye(n)


@pytest.mark.parametrize("max_tail", [0, 5, 25, 40, 1000])
def test_entries_on_the_pattern_equal_the_dense_inverse(max_tail):
    A = _arrow_with_dense_block()
    L = np.linalg.cholesky(A)
    inverse = FactorInverse(sp.csc_matrix(L), max_tail=max_tail)
    rows, cols = np.nonzero(L)
    expected = np.linalg.inv(A)[rows, cols]
    assert np.max(np.abs(inverse.entries(rows, cols) - expected)) < 1e-12 * np.abs(expected).max()
    # the upper triangle reads the same entries
    assert np.array_equal(inverse.entries(cols, rows), inverse.entries(rows, cols))
    assert len(A) - inverse.start <= max_tail


def test_entries_off_the_pattern_are_nan():
    A = np.diag([2.0, 3.0, 4.0, 5.0])
    A[3, 0] = A[0, 3] = 1.0
    inverse = FactorInverse(sp.csc_matrix(np.linalg.cholesky(A)), max_tail=0)
    values = inverse.entries(np.array([1, 3, 2]), np.array([0, 0, 2]))
    assert np.isnan(values[0])
    assert values[1:] == pytest.approx(np.linalg.inv(A)[[3, 2], [0, 2]])


def _pointers(counts):
    return np.concatenate([[0], np.cumsum(counts)])


@pytest.mark.parametrize(("counts", "max_tail", "expected"), [
    (list(range(500, 0, -1)), 10_000, 0),              # dense: all of it
    ([17] * 5000 + list(range(800, 0, -1)), 10_000, 5000),   # users, then dense items
    ([17] * 5000 + list(range(800, 0, -1)), 300, 5500),      # ... capped by the memory
    ([17] * 500 + [400] * 30 + list(range(400, 0, -1)), 10_000, 500),  # half-filled: dense
])
def test_tail_start(counts, max_tail, expected):
    assert tail_start(_pointers(counts), max_tail) == expected


def test_a_diagonal_factor_keeps_its_tail_small():
    assert 1000 - tail_start(_pointers([1] * 1000), 10_000) <= 16
