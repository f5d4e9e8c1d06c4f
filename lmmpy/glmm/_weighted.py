"""The cross-products of a reweighted design, from θ- and weight-free tables made once.

PIRLS needs ``Z'WZ``, ``Z'W[X z]`` and ``[X z]'W[X z]`` at new working weights w
(and working response z) at every step.  Each entry of Z'WZ is Σ_i w_i Z_ia Z_ib
over the rows where both columns are nonzero, so with the table
L[(a, b), i] = Z_ia Z_ib (one column per row i, one row per entry a ≥ b of Z'WZ's
fixed pattern) the new values are one sparse product ``L w``, each written to the
entry and its mirror image (Z_ia Z_ib = Z_ib Z_ia, summed in the same order: the value
a table of both triangles gave each, to the bit); the rest are dense products with n
rows.  Where Z's values are all 1 (random intercepts) L holds only its pattern: the
sums are of the w_i themselves (1·w_i = w_i exactly).  Only the weights change: the
pattern (and with it a factorization's analysis) stays.  W[X z] and Z'WZ's entries are
made in one compiled pass over the rows (:func:`lmmpy.glmm._kernels.weighted_rows`):
numpy's scaling of the rows of an n × (p + 1) array runs its inner loop over p + 1
values, and a sparse product and a checked sparse matrix per step cost more than the
arithmetic on a small model.  L itself is made by two counting sorts of the rows'
pairs of entries (:func:`lmmpy.glmm._kernels.lower_pairs`): on the
1,000,000-row crossed model the table of both triangles, its pairs' keys sorted by
``np.unique``, took 1-1.6 s of the set-up, and held 4,000,000 products and rows
(48 MB); L holds 3,000,000 rows (12 MB) and is made in ~0.2 s.
"""

from __future__ import annotations

import copy

import numpy as np
import scipy.sparse as sp

from lmmpy.design import Design
from lmmpy.objective import CrossProducts
from lmmpy.objective._matvec import csr_from_arrays


class WeightedCrossProducts:
    """``at(w, z)`` → the :class:`~lmmpy.objective.CrossProducts` of the design at weights w
    and response z (the offset already taken off z).

    Examples
    --------
    >>> import lmmpy
    >>> from lmmpy.design import build_design
    >>> from lmmpy.formula import parse_formula
    >>> from lmmpy.objective import cross_products
    >>> d = build_design(parse_formula("Yield ~ 1 + (1 | Batch)"), lmmpy.datasets.load("Dyestuff"))
    >>> w = np.linspace(1, 2, d.n_obs)
    >>> ours = WeightedCrossProducts(d).at(w, d.y)
    >>> from dataclasses import replace
    >>> bool(np.allclose(ours.ZtZ.toarray(), cross_products(replace(d, weights=w)).ZtZ.toarray()))
    True
    """

    def __init__(self, design: Design):
        from lmmpy.glmm._kernels import lower_entries, lower_pairs

        Z = sp.csr_matrix(design.Z)
        Z.sort_indices()
        self.n, self.q = Z.shape
        self._set_fixed(design.X.values)
        self.Zt = _transposed(design.Z, Z)
        per_row = np.diff(Z.indptr).astype(np.int64)
        total = int(per_row @ (per_row + 1)) // 2   # the pairs a ≥ b of each row's entries
        index = np.int32 if max(total, self.n) < 2**31 else np.int64
        unit = bool(np.all(Z.data == 1.0))   # random intercepts: Z_ia Z_ib w_i is w_i
        values = 0 if unit else total
        L_indices, L_data = np.empty(total, dtype=index), np.empty(values)
        pair_a = np.empty(total, dtype=np.int32)
        by_b = np.empty(self.q + 1, dtype=np.int64)
        lower, upper = np.empty(self.q, dtype=np.int64), np.empty(self.q, dtype=np.int64)
        entries = lower_pairs(Z.indptr, Z.indices, Z.data, unit, np.empty(total, np.int32),
                              np.empty(total, dtype=index), np.empty(values), L_indices, L_data,
                              pair_a, by_b, lower, upper)
        self._L_indptr = np.empty(entries + 1, dtype=index)
        self._lower_at = np.empty(entries, dtype=np.int32)
        self._upper_at = np.empty(entries, dtype=np.int32)
        self.indices = np.empty(int(2 * entries - np.count_nonzero(lower)), dtype=np.int32)
        self.indptr = np.empty(self.q + 1, dtype=np.int32)
        lower_entries(pair_a, by_b, lower, upper, self._L_indptr, self._lower_at,
                      self._upper_at, self.indices, self.indptr)
        self._L_indices, self._L_data = L_indices, L_data

    def _set_fixed(self, X: np.ndarray) -> None:
        self.X = X
        self._Xy = np.empty((self.n, X.shape[1] + 1))   # [X z], X's columns written once
        self._Xy[:, :-1] = X
        self._WXy = np.empty_like(self._Xy)

    def with_fixed(self, X: np.ndarray) -> WeightedCrossProducts:
        """The tables of a design with the same Z and fixed-effects matrix ``X``: Z's tables
        shared (they are only read), the work arrays its own."""
        tables = copy.copy(self)
        tables._set_fixed(X)
        return tables

    def at(self, weights: np.ndarray, z: np.ndarray) -> CrossProducts:
        from lmmpy.glmm._kernels import weighted_rows

        Xy, WXy = self._Xy, self._WXy   # work arrays: nothing returned refers to them
        Xy[:, -1] = z
        data = np.empty(len(self.indices))
        weighted_rows(Xy, np.asarray(weights, dtype=float), self._L_indptr, self._L_indices,
                      self._L_data, self._lower_at, self._upper_at, WXy, data)
        # the pattern's arrays as they are (no check)
        ZtZ = csr_from_arrays((self.q, self.q), data, self.indices, self.indptr, kind="csc")
        return CrossProducts(ZtXy=np.asarray(self.Zt @ WXy), XytXy=Xy.T @ WXy, n_obs=self.n,
                             n_fixed=self.X.shape[1], sum_log_weights=0.0, ZtZ_product=ZtZ)


def _transposed(given, Z: sp.csr_matrix) -> sp.csr_matrix:
    """Z' as CSR with sorted indices: the arrays of Z as given when it is CSC with sorted
    indices (a design's Z: a second conversion of an n-row matrix saved), else converted."""
    if sp.issparse(given) and given.format == "csc" and given.has_sorted_indices:
        return sp.csr_matrix((given.data, given.indices, given.indptr), shape=Z.shape[::-1])
    return Z.T.tocsr()

