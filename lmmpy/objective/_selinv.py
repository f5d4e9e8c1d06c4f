"""A⁻¹ on the pattern of a sparse Cholesky factor, its dense tail by LAPACK (Takahashi).

The gradient of log|A| (A = Λ'Z'WZΛ + I) needs A⁻¹ only where ∂A/∂θ is not
zero, i.e. on A's pattern, which lies in the pattern of its factor L.
Takahashi's equations (Takahashi, Fagan & Chen 1973; Erisman & Tinney 1975)
give A⁻¹ on L's pattern column by column from the last, at the cost of the
factorization.  Crossed factors fill the factor's last columns in: two
large crossed terms (users × items) make L a sparse part (one column per
user, a few entries each) above a dense triangle (the items).  So, as a
supernodal selected inverse does for its supernodes (Amestoy et al. 2012;
Lin et al. 2011, *SelInv*), the dense tail is inverted by LAPACK
(``dpotri`` on its own Cholesky factor, which is L's tail) and only the
sparse columns are recurred, each from the pairs of its own rows
(:mod:`._selinv_kernels`).

Where the tail starts is a matter of cost: a sparse column j costs about
|s(j)|² (its pairs), a dense tail of K columns K³ in LAPACK's far faster
flops (``DENSE_COST`` the ratio, measured on a 100,000-rating users × items
model: ``dpotri`` 1.2 s at K = 2,000, the sparse loop 5·10⁻⁸ s a pair), so the
start minimises ``DENSE_COST · K³ + Σ_{j < start} |col j|²`` over tails that fit
in a quarter of the available memory.  Everything here is in the factor's
permuted order.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from scipy.linalg import lapack

from lmmpy.objective import _fill

DENSE_COST = 3e-3   # time of a dense tail's K³ against a sparse column's |col|² (module doc)


class FactorInverse:
    """Entries of A⁻¹ (A = P'LL'P) on the pattern of L, in the permuted order.

    Examples
    --------
    >>> A = sp.csc_matrix([[4.0, 1.0, 0.0], [1.0, 3.0, 1.0], [0.0, 1.0, 2.0]])
    >>> inverse = FactorInverse(sp.csc_matrix(np.linalg.cholesky(A.toarray())))
    >>> bool(np.allclose(inverse.entries(np.array([0, 2]), np.array([1, 1])),
    ...                  np.linalg.inv(A.toarray())[[0, 2], [1, 1]]))
    True
    """

    def __init__(self, L: sp.csc_matrix, max_tail: int | None = None):
        from lmmpy.objective import _selinv_kernels as kernels

        L = sp.csc_matrix(L)
        L.sort_indices()
        self.indptr, self.indices = L.indptr, L.indices
        self.start = tail_start(L.indptr, _max_tail() if max_tail is None else max_tail)
        size = L.shape[0] - self.start
        tail = np.zeros((size, size), order="F")
        kernels.scatter_tail(L.indptr, L.indices, L.data, self.start, tail)
        if size:
            tail, info = lapack.dpotri(tail, lower=1, overwrite_c=1)
            if info != 0:
                raise np.linalg.LinAlgError(f"the factor's dense tail is singular ({info})")
        self.tail = tail
        self.z = kernels.sparse_part(L.indptr, L.indices, L.data, tail, self.start)

    def entries(self, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
        """A⁻¹ at (rows, cols) of the permuted matrix; NaN off L's pattern."""
        from lmmpy.objective import _selinv_kernels as kernels

        return kernels.entries(self.indptr, self.indices, self.z, self.tail, self.start,
                               np.asarray(rows, dtype=np.int64), np.asarray(cols, dtype=np.int64))


def tail_start(indptr: np.ndarray, max_tail: int) -> int:
    """The first column of the dense tail: the cheapest split (module docstring) with at
    most ``max_tail`` columns in the tail.

    Examples
    --------
    >>> counts = [3] * 1000 + list(range(50, 0, -1))     # sparse columns, then a dense block
    >>> tail_start(np.concatenate([[0], np.cumsum(counts)]), 10_000)
    1000
    """
    n = len(indptr) - 1
    counts = np.diff(indptr).astype(float)
    sparse_cost = np.concatenate([[0.0], np.cumsum(counts**2)])     # columns before start
    tail = n - np.arange(n + 1, dtype=float)
    cost = DENSE_COST * tail**3 + sparse_cost
    cost[tail > max_tail] = np.inf
    return int(np.argmin(cost))


def inverse_fits(counts: np.ndarray, memory: int | None) -> bool:
    """Whether the selected inverse of a factor with these column counts fits in half of
    ``memory`` bytes: a copy of L (values and row indices, 12 bytes an entry; the copy
    CHOLMOD makes on the way, 8) and the dense tail the cost model wants (8 bytes an
    entry, uncapped: a capped tail leaves dense columns to the slow sparse loop).

    Examples
    --------
    >>> counts = np.array([3] * 1000 + list(range(50, 0, -1)))
    >>> inverse_fits(counts, 10**9), inverse_fits(counts, 10**5)
    (True, False)
    """
    if memory is None:
        return True
    n = len(counts)
    tail = n - tail_start(np.concatenate([[0], np.cumsum(counts)]), n)
    return 20 * float(np.sum(counts)) + 8.0 * tail**2 <= memory / 2


def _max_tail() -> int:
    """The largest dense tail: its K² doubles in a quarter of the available memory."""
    memory = _fill.available_memory()
    return 20_000 if memory is None else int(np.sqrt(memory / 4 / 8))
