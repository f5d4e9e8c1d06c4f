"""Cross-products of the weighted model matrices: the only place n is touched.

Every quantity of the profiled deviance (Bates et al. 2015, section 3) is a
function of ``Z'WZ``, ``Z'W[X y]`` and ``[X y]'W[X y]``, with y the response
less the offset.  Computing them once makes an evaluation of the objective
independent of the number of observations.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp

from lmmpy.design import Design


@dataclass(frozen=True)
class CrossProducts:
    """Weighted cross-products of ``Z`` and ``[X y]``.

    Attributes
    ----------
    ZtZ : sparse (q, q), ``Z'WZ`` in CSC form (sorted indices)
    ZtXy : ndarray (q, p + 1), ``Z'W[X y]``
    XytXy : ndarray (p + 1, p + 1), ``[X y]'W[X y]``
    n_obs, n_fixed : n and p
    sum_log_weights : Σ log w_i (0 without weights)
    ZtZ_product : ``Z'WZ`` as it was formed: dense for a small model
        (:data:`DENSE_PRODUCT_COLUMNS`), else CSC; ``ZtZ`` and :meth:`ZtZ_dense`
        convert on first use (the dense path never needs the CSC form)
    """

    ZtXy: np.ndarray
    XytXy: np.ndarray
    n_obs: int
    n_fixed: int
    sum_log_weights: float
    ZtZ_product: sp.csc_matrix | np.ndarray = field(repr=False)

    @functools.cached_property
    def ZtZ(self) -> sp.csc_matrix:
        if sp.issparse(self.ZtZ_product):
            return self.ZtZ_product
        ZtZ = sp.csc_matrix(self.ZtZ_product)
        ZtZ.sort_indices()
        return ZtZ

    def ZtZ_dense(self) -> np.ndarray:
        """``Z'WZ`` as a dense array (do not modify: it may be the stored product)."""
        product = self.ZtZ_product
        return product.toarray() if sp.issparse(product) else product

    def with_response(self, Z: sp.spmatrix, X: np.ndarray, y: np.ndarray,
                      weights: np.ndarray | None) -> CrossProducts:
        """The same design with another (offset-adjusted) response: only y's products change."""
        wy = y if weights is None else weights * y
        ZtXy = self.ZtXy.copy()
        ZtXy[:, -1] = Z.T @ wy
        XytXy = self.XytXy.copy()
        XytXy[:-1, -1] = XytXy[-1, :-1] = X.T @ wy
        XytXy[-1, -1] = y @ wy
        return CrossProducts(ZtXy, XytXy, self.n_obs, self.n_fixed, self.sum_log_weights,
                             self.ZtZ_product)


DENSE_PRODUCT_COLUMNS = 128        # q up to the dense path's size ...
DENSE_PRODUCT_ENTRIES = 2_000_000  # ... and a dense Z of at most 16 MB


def random_effects_matrix(design: Design) -> sp.csc_matrix:
    """``Z = [Z_1 Z_2 ...]`` for the terms in the design's order (``Design.Z``, built once)."""
    return design.Z


def cross_products(design: Design, Z: sp.csc_matrix | None = None) -> CrossProducts:
    """Compute the cross-products of a design.

    A small model (q ≤ ``DENSE_PRODUCT_COLUMNS``) forms them with dense
    products of a dense Z; a larger one term pair by term pair from the
    grouping codes (:func:`_term_pair_products`), with no Z at all.  A ``Z``
    given by the caller is multiplied out as it is.

    Examples
    --------
    >>> from lmmpy.datasets import load
    >>> from lmmpy.design import build_design
    >>> from lmmpy.formula import parse_formula
    >>> d = build_design(parse_formula("Yield ~ 1 + (1 | Batch)"), load("Dyestuff"))
    >>> cross_products(d).ZtZ.diagonal()
    array([5., 5., 5., 5., 5., 5.])
    """
    Xy = np.column_stack([design.X.values, design.y - design.offset])
    weights = design.weights
    WXy = Xy if weights is None else weights[:, None] * Xy
    q = sum(term.n_random_effects for term in design.terms)
    if Z is None and not (q <= DENSE_PRODUCT_COLUMNS
                          and design.n_obs * q <= DENSE_PRODUCT_ENTRIES):
        ZtZ, ZtXy = _term_pair_products(design.terms, WXy, weights)
    else:
        if Z is None:   # a small model: dense products cost a tenth of the sparse ones
            Z = _dense_random_effects_matrix(design)
        if weights is None:
            WZ = Z
        else:
            WZ = weights[:, None] * Z if isinstance(Z, np.ndarray) else sp.diags(weights) @ Z
        ZtZ, ZtXy = Z.T @ WZ, np.asarray(WZ.T @ Xy)
        if sp.issparse(ZtZ):
            ZtZ = sp.csc_matrix(ZtZ)
            ZtZ.sort_indices()
    return CrossProducts(
        ZtXy=ZtXy,
        XytXy=Xy.T @ WXy,
        n_obs=design.n_obs,
        n_fixed=design.X.values.shape[1],
        sum_log_weights=0.0 if weights is None else float(np.sum(np.log(weights))),
        ZtZ_product=ZtZ,
    )


def _term_pair_products(terms, WXy: np.ndarray,
                        weights: np.ndarray | None) -> tuple[sp.csc_matrix, np.ndarray]:
    """Z'WZ (CSC, sorted) and Z'W[X y] block by block (MixedModels.jl's blocks of A).

    A term with itself and with [X y]: sums by level (``bincount``), the
    diagonal block being block diagonal.  Two terms: the sparse product of
    their own Z's, each built row by row in CSR form without sorting.  The
    blocks are stacked by rows (CSR), which for the symmetric Z'WZ is its CSC
    form.  Building all of Z and multiplying it out, whose conversions sort,
    took a quarter of a 1,000,000-row fit.
    """
    starts = np.cumsum([0] + [term.n_random_effects for term in terms])
    ZtXy = np.zeros((starts[-1], WXy.shape[1]))
    for t, term in enumerate(terms):
        V, k = term.model_matrix.values, term.n_columns
        for a in range(k):   # Z_t'W[X y], row (level, a): a sum by level
            for j in range(WXy.shape[1]):
                ZtXy[starts[t] + a: starts[t + 1]: k, j] = np.bincount(
                    term.codes, V[:, a] * WXy[:, j], minlength=term.n_levels)
    diagonal = [_level_blocks(term, weights) for term in terms]
    by_rows = [_term_rows(term, weights) for term in terms]
    # Z_t' by rows, once per term that is ever the left factor (all but the last)
    transposed = [Z.T.tocsr() for Z, _ in by_rows[:-1]]
    cross = {(t, u): _cross_block(transposed[t], by_rows[u][1])
             for t in range(len(terms)) for u in range(t + 1, len(terms))}
    row_blocks = []
    for t in range(len(terms)):
        pieces = [cross[s, t].T.tocsr() for s in range(t)]   # sorted by the conversion
        pieces.append(diagonal[t])
        pieces += [cross[t, u] for u in range(t + 1, len(terms))]
        row_blocks.append(pieces[0] if len(pieces) == 1 else sp.hstack(pieces, format="csr"))
    stacked = row_blocks[0] if len(row_blocks) == 1 else sp.vstack(row_blocks, format="csr")
    # sorted pieces side by side: sorted rows (the check is one pass, no sort)
    stacked.sort_indices()
    ZtZ = sp.csc_matrix((stacked.data, stacked.indices, stacked.indptr), shape=stacked.shape)
    return ZtZ, ZtXy


def _level_blocks(term, weights: np.ndarray | None) -> sp.csr_matrix:
    """Z_t'WZ_t: k×k blocks by level, summed with ``bincount`` (CSR, sorted)."""
    V, codes, k, levels = term.model_matrix.values, term.codes, term.n_columns, term.n_levels
    WV = V if weights is None else V * weights[:, None]
    blocks = np.empty((levels, k, k))
    for a in range(k):
        for b in range(a, k):
            blocks[:, a, b] = blocks[:, b, a] = np.bincount(codes, WV[:, a] * V[:, b],
                                                            minlength=levels)
    columns = (k * np.arange(levels)[:, None, None] + np.arange(k)).repeat(k, axis=1)
    return sp.csr_matrix((blocks.ravel(), columns.ravel(), np.arange(0, levels * k * k + 1, k)),
                         shape=(levels * k, levels * k))


def _term_rows(term, weights: np.ndarray | None) -> tuple[sp.csr_matrix, sp.csr_matrix]:
    """Z_t by rows (CSR: row i's k entries at its level, no sort) and W Z_t."""
    V, k = term.model_matrix.values, term.n_columns
    n = len(term.codes)
    index = np.int32 if n * k < 2**31 and term.n_random_effects < 2**31 else np.int64
    columns = (term.codes[:, None] * k + np.arange(k)).ravel().astype(index)
    pointer = np.arange(0, n * k + 1, k, dtype=index)
    shape = (n, term.n_random_effects)
    Z = sp.csr_matrix((V.ravel(), columns, pointer), shape=shape)
    WZ = Z if weights is None else sp.csr_matrix(((V * weights[:, None]).ravel(), columns,
                                                  pointer), shape=shape)
    return Z, WZ


def _cross_block(Zt_t: sp.csr_matrix, WZ_u: sp.csr_matrix) -> sp.csr_matrix:
    """Z_t'WZ_u (CSR, sorted) from Z_t' and W Z_u."""
    block = (Zt_t @ WZ_u).tocsr()
    block.sort_indices()
    return block


def _dense_random_effects_matrix(design: Design) -> np.ndarray:
    """Z as a dense array, straight from the terms' codes and model matrices (a
    small model's fit needs no sparse Z; ``Design.Z`` is built when asked for)."""
    rows = np.arange(design.n_obs)[:, None]
    Z = np.zeros((design.n_obs, sum(term.n_random_effects for term in design.terms)))
    start = 0
    for term in design.terms:
        k = term.n_columns
        Z[rows, start + term.codes[:, None] * k + np.arange(k)] = term.model_matrix.values
        start += term.n_random_effects
    return Z
