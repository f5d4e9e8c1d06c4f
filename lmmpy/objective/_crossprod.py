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
    q = sum(term.n_random_effects for term in design.terms)
    if q <= DENSE_PRODUCT_COLUMNS and design.n_obs * q <= DENSE_PRODUCT_ENTRIES:
        # a small model: dense products cost a tenth of the sparse ones
        Z = _dense_random_effects_matrix(design) if Z is None else Z.toarray()
    elif Z is None:
        Z = random_effects_matrix(design)
    if design.weights is None:
        WZ, WXy, sum_log_weights = Z, Xy, 0.0
    else:
        WZ = design.weights[:, None] * Z if isinstance(Z, np.ndarray) else \
            sp.diags(design.weights) @ Z
        WXy = design.weights[:, None] * Xy
        sum_log_weights = float(np.sum(np.log(design.weights)))
    ZtZ = Z.T @ WZ
    if sp.issparse(ZtZ):
        ZtZ = sp.csc_matrix(ZtZ)
        ZtZ.sort_indices()
    return CrossProducts(
        ZtXy=np.asarray(WZ.T @ Xy),
        XytXy=Xy.T @ WXy,
        n_obs=design.n_obs,
        n_fixed=design.X.values.shape[1],
        sum_log_weights=sum_log_weights,
        ZtZ_product=ZtZ,
    )


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
