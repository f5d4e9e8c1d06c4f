"""Compiled loops (numba) of the selected inverse; imported only when needed.

The sparse inverse subset (Takahashi, Fagan & Chen 1973; Erisman & Tinney
1975): with A = P'LDL'P (L unit lower triangular), Z = A⁻¹ satisfies
Z = D⁻¹L⁻¹ + (I − L')Z, so, column by column from the last,

    Z[i, j] = −Σ_{k ∈ s(j)} Z[i, k] L[k, j]         (i ∈ s(j)),
    Z[j, j] = 1/D[j] − Σ_{k ∈ s(j)} L[k, j] Z[k, j],

where s(j) are the rows below the diagonal of column j of L.  Every Z[i, k]
needed has i, k ∈ s(j), which is a clique of the filled graph: it lies on L's
pattern and is already computed.  So Z on L's pattern costs what the
factorization costs, without a single dense column of A⁻¹.
"""

from __future__ import annotations

import numba
import numpy as np


@numba.njit(cache=True, nogil=True)
def _position(indptr, indices, row, col):
    """Index of entry (row, col) in a CSC matrix with sorted rows, or −1."""
    low, high = indptr[col], indptr[col + 1]
    while low < high:
        middle = (low + high) // 2
        if indices[middle] < row:
            low = middle + 1
        else:
            high = middle
    if low < indptr[col + 1] and indices[low] == row:
        return low
    return -1


@numba.njit(cache=True, nogil=True)
def takahashi(indptr, indices, data, d):
    """Z = A⁻¹ on the pattern of the unit lower-triangular L (CSC, sorted, diagonal first).

    Σ_{k ∈ s(j)} Z[i, k] L[k, j] is split at the diagonal: the terms with
    i ≥ k are column k of Z scattered into a dense work vector, those with
    i < k are column i of Z against L[:, j] spread out densely — sequential
    passes over the columns, no search for an entry.
    """
    n = len(indptr) - 1
    z = np.zeros(len(data))
    work = np.zeros(n)
    column = np.zeros(n)
    for j in range(n - 1, -1, -1):
        start, end = indptr[j] + 1, indptr[j + 1]   # below the diagonal
        for a in range(start, end):
            column[indices[a]] = data[a]
            k = indices[a]
            for p in range(indptr[k], indptr[k + 1]):
                work[indices[p]] += z[p] * data[a]
        for a in range(start, end):
            i = indices[a]
            total = work[i]
            for p in range(indptr[i] + 1, indptr[i + 1]):
                total += z[p] * column[indices[p]]
            z[a] = -total
        diagonal = 1.0 / d[j]
        for a in range(start, end):
            diagonal -= data[a] * z[a]
            column[indices[a]] = 0.0
            k = indices[a]
            for p in range(indptr[k], indptr[k + 1]):
                work[indices[p]] = 0.0
        z[indptr[j]] = diagonal
    return z


@numba.njit(cache=True, nogil=True)
def lookup(indptr, indices, z, rows, cols):
    """Z[rows, cols] (positions already permuted) from the lower-triangle pattern; NaN where
    the entry is not on the pattern."""
    out = np.empty(len(rows))
    for e in range(len(rows)):
        r, c = rows[e], cols[e]
        if r < c:
            r, c = c, r
        p = _position(indptr, indices, r, c)
        out[e] = z[p] if p >= 0 else np.nan
    return out


@numba.njit(cache=True, nogil=True)
def sparse_rows_times_symmetric(indptr, indices, data, symmetric, rows, cols):
    """(P M)[rows, cols] for a CSR P and a dense symmetric M, entry by entry (M[c, k] read
    for M[k, c]: along a row of M, in P's sorted column order, not down a column)."""
    out = np.empty(len(rows))
    for e in range(len(rows)):
        r, c = rows[e], cols[e]
        total = 0.0
        for p in range(indptr[r], indptr[r + 1]):
            total += data[p] * symmetric[c, indices[p]]
        out[e] = total
    return out
