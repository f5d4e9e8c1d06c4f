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
model.
"""

from __future__ import annotations

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
        Z = sp.csr_matrix(design.Z)
        Z.sort_indices()
        self.n, self.q = Z.shape
        self.X = design.X.values
        self._Xy = np.empty((self.n, self.X.shape[1] + 1))   # [X z], X's columns written once
        self._Xy[:, :-1] = self.X
        self._WXy = np.empty_like(self._Xy)
        self.Zt = Z.T.tocsr()
        first, second, rows = _pairs_within_rows(Z.indptr)   # rows ascending
        keys = Z.indices[second].astype(np.int64) * self.q + Z.indices[first]  # column-major
        unique, position = np.unique(keys, return_inverse=True)
        self.P = sp.csr_matrix((Z.data[first] * Z.data[second], (position, rows)),
                               shape=(len(unique), self.n))
        self.indices = (unique % self.q).astype(np.int32)
        counts = np.bincount(unique // self.q, minlength=self.q)
        self.indptr = np.concatenate([[0], np.cumsum(counts)]).astype(np.int32)

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


def _pairs_within_rows(indptr: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """All (entry, entry) pairs of each CSR row, and the row of each pair."""
    counts = np.diff(indptr)
    entry_row = np.repeat(np.arange(len(counts)), counts)
    partners = counts[entry_row]
    first = np.repeat(np.arange(len(entry_row)), partners)
    offsets = np.arange(len(first)) - np.repeat(np.cumsum(partners) - partners, partners)
    second = indptr[entry_row[first]] + offsets
    return first, second, entry_row[first]
