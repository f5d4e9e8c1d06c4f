"""The cross-products of a reweighted design, from θ- and weight-free tables made once.

PIRLS needs ``Z'WZ``, ``Z'W[X z]`` and ``[X z]'W[X z]`` at new working weights w
(and working response z) at every step.  Each entry of Z'WZ is Σ_i w_i Z_ia Z_ib
over the rows where both columns are nonzero, so with the table
P[(a, b), i] = Z_ia Z_ib (one column per row i, one row per entry of Z'WZ's
fixed pattern) the new values are one sparse product ``P w``; the rest are dense
products with n rows.  Only the weights change: the pattern (and with it a
factorization's analysis) stays.  W[X z] and Z'WZ's entries are made in one compiled
pass over the rows (:func:`lmmpy.glmm._kernels.weighted_rows`): numpy's scaling of the
rows of an n × (p + 1) array runs its inner loop over p + 1 values, and a sparse
product and a checked sparse matrix per step cost more than the arithmetic on a small
model.  P itself is made by two counting sorts of the rows' pairs of entries
(:func:`lmmpy.glmm._kernels.product_table`): on the 1,000,000-row crossed model the
pairs' keys sorted by ``np.unique`` took ~1 s of the set-up.
"""

from __future__ import annotations

import copy

import numpy as np
import scipy.sparse as sp

from lmmpy.design import Design
from lmmpy.objective import CrossProducts


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
        from lmmpy.glmm._kernels import product_table

        Z = sp.csr_matrix(design.Z)
        Z.sort_indices()
        self.n, self.q = Z.shape
        self._set_fixed(design.X.values)
        self.Zt = Z.T.tocsr()
        per_row = np.diff(Z.indptr).astype(np.int64)
        total = int(per_row @ per_row)   # the pairs (a, b) of each row's entries
        index = np.int32 if max(total, self.n) < 2**31 else np.int64   # as scipy's choice
        P_indices, P_data = np.empty(total, dtype=index), np.empty(total)
        entry_rows, column_ptr = np.empty(total, dtype=np.int32), np.empty(self.q + 1, np.int32)
        P_indptr = product_table(Z.indptr, Z.indices, Z.data, self.q, P_indices, P_data,
                                 entry_rows, column_ptr)
        self.P = sp.csr_matrix((P_data, P_indices, P_indptr), shape=(len(P_indptr) - 1, self.n))
        self.indices = entry_rows[:len(P_indptr) - 1].copy()
        self.indptr = column_ptr

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
        P = self.P
        data = np.empty(P.shape[0])
        weighted_rows(Xy, np.asarray(weights, dtype=float), P.indptr, P.indices, P.data, WXy,
                      data)
        ZtZ = sp.csc_matrix((self.q, self.q))   # the pattern's arrays as they are (no check)
        ZtZ.data, ZtZ.indices, ZtZ.indptr = data, self.indices, self.indptr
        ZtZ.has_sorted_indices = True
        return CrossProducts(ZtXy=np.asarray(self.Zt @ WXy), XytXy=Xy.T @ WXy, n_obs=self.n,
                             n_fixed=self.X.shape[1], sum_log_weights=0.0, ZtZ_product=ZtZ)

