"""PIRLS's per-row arithmetic in one compiled pass each (numba): the deviance of the
step check for the binomial family with the logit link, and the weighted rows of the
cross-products.

A PIRLS step on a few thousand rows is dominated by the call overhead of numpy
expressions that each allocate an n-vector.  ``logit_deviance`` computes Σ d_i at
μ = logistic(η) with the formulas of :mod:`lmmpy._families` (R's clamping at
|η| > 30, ``xlogy``), μ from one exponential; it differs from the numpy expressions by
rounding only, and only decides whether a step lowers pdev (the working weights, the
modes and the criterion keep the numpy expressions, so a converged state is the same
to the last bits).  :mod:`lmmpy.glmm._response` calls it for ``Binomial("logit")``.
"""

from __future__ import annotations

import math

import numba
import numpy as np

EPS = np.finfo(float).eps
_BOUND = 30.0   # _families._LOGIT_BOUND


@numba.njit(cache=True, nogil=True)
def _logistic(eta: float, e: float) -> float:  # pragma: no cover - compiled
    """μ at η from e = exp(−|η|) (one exponential for μ and dμ/dη; scipy's expit is
    1/(1 + exp(−η)), the same for η ≥ 0 and within an ulp below)."""
    if eta < -_BOUND:
        return EPS
    if eta > _BOUND:
        return 1.0 - EPS
    return 1.0 / (1.0 + e) if eta >= 0.0 else e / (1.0 + e)


@numba.njit(cache=True, nogil=True)
def logit_deviance(eta: np.ndarray, y: np.ndarray,
                   prior: np.ndarray) -> float:  # pragma: no cover - compiled
    """Σ 2 wt (y log(y/μ) + (1 − y) log((1 − y)/(1 − μ))) at μ = logistic(η) (0 log 0 = 0)."""
    total = 0.0
    for i in range(len(eta)):
        mu = _logistic(eta[i], math.exp(-abs(eta[i])))
        yi = y[i]
        term = 0.0
        if yi != 0.0:
            term += yi * math.log(yi / mu)
        if yi != 1.0:
            term += (1.0 - yi) * math.log((1.0 - yi) / (1.0 - mu))
        total += 2.0 * prior[i] * term
    return total


@numba.njit(cache=True, nogil=True)
def weighted_rows(Xy: np.ndarray, weights: np.ndarray, P_indptr: np.ndarray,
                  P_indices: np.ndarray, P_data: np.ndarray, WXy: np.ndarray,
                  ZtWZ: np.ndarray) -> None:  # pragma: no cover - compiled
    """WXy[i] = w_i [X z]_i, and the stored entries of Z'WZ as P w (P in CSR: for each
    entry the rows i whose nonzeros meet there, with Z_ia Z_ib); outputs overwritten."""
    n, width = Xy.shape
    for i in range(n):
        wi = weights[i]
        for j in range(width):
            WXy[i, j] = Xy[i, j] * wi
    for entry in range(len(P_indptr) - 1):
        total = 0.0
        for t in range(P_indptr[entry], P_indptr[entry + 1]):
            total += P_data[t] * weights[P_indices[t]]
        ZtWZ[entry] = total



@numba.njit(cache=True, nogil=True)
def product_table(indptr: np.ndarray, indices: np.ndarray, data: np.ndarray, q: int,
                  P_indices: np.ndarray, P_data: np.ndarray, entry_rows: np.ndarray,
                  column_ptr: np.ndarray) -> np.ndarray:  # pragma: no cover - compiled
    """The table P of :class:`lmmpy.glmm._weighted.WeightedCrossProducts` from Z in CSR
    (``indptr``, ``indices``, ``data``; q columns): one row of P per entry (a, b) of Z'Z's
    pattern, column-major and rows a ascending within a column, holding the rows i where
    Z_ia and Z_ib are both stored, ascending, with Z_ia Z_ib.

    Every pair of a row's entries, made in row order, is dealt stably by a, then stably by
    b (two counting sorts, O(pairs + q)): they come out in (b, a, i) order, and the runs of
    equal (b, a) are the entries.  Fills ``P_indices`` and ``P_data`` (one per pair: Σ_i
    nnz(Z_i)²), ``entry_rows`` (each entry's a, in its first slots) and ``column_ptr``;
    returns P's row pointer."""
    n = len(indptr) - 1
    start = np.zeros(q + 1, dtype=np.int64)   # pairs with a given a (or b: symmetric)
    for i in range(n):
        k = indptr[i + 1] - indptr[i]
        for s in range(indptr[i], indptr[i + 1]):
            start[indices[s] + 1] += k
    for a in range(q):
        start[a + 1] += start[a]
    cursor = start[:q].copy()
    by_a_b = np.empty(len(P_indices), dtype=np.int32)
    for i in range(n):   # rows ascending: stable in i
        for s in range(indptr[i], indptr[i + 1]):
            a = indices[s]
            at = cursor[a]
            for t in range(indptr[i], indptr[i + 1]):
                by_a_b[at] = indices[t]
                at += 1
            cursor[a] = at
    by_a_i = np.empty_like(P_indices)
    by_a_v = np.empty_like(P_data)
    cursor[:] = start[:q]
    for i in range(n):   # the same pairs again, now with their row and product
        for s in range(indptr[i], indptr[i + 1]):
            a = indices[s]
            at = cursor[a]
            for t in range(indptr[i], indptr[i + 1]):
                by_a_i[at] = i
                by_a_v[at] = data[s] * data[t]
                at += 1
            cursor[a] = at
    cursor[:] = start[:q]
    for a in range(q):   # stably by b
        for at in range(start[a], start[a + 1]):
            to = cursor[by_a_b[at]]
            P_indices[to] = by_a_i[at]
            P_data[to] = by_a_v[at]
            entry_rows[to] = a
            cursor[by_a_b[at]] = to + 1
    entries = 0
    for b in range(q):   # runs of equal (b, a): the entries, in place
        column_ptr[b] = entries
        for at in range(start[b], start[b + 1]):
            if at == start[b] or entry_rows[at] != entry_rows[at - 1]:
                entries += 1
    column_ptr[q] = entries
    P_indptr = np.empty(entries + 1, dtype=P_indices.dtype)
    entries = 0
    for b in range(q):
        for at in range(start[b], start[b + 1]):
            if at == start[b] or entry_rows[at] != entry_rows[at - 1]:
                P_indptr[entries] = at
                entry_rows[entries] = entry_rows[at]
                entries += 1
    P_indptr[entries] = start[q]
    return P_indptr
