"""The sum of two sparse Z'WZ on the union of their patterns, compiled (numba).

Chunked fits (:mod:`lmmpy.chunked`) add the products of many chunks.  scipy's
own ``+`` drops explicit zeros (the factorizations' patterns must not depend on
the values), and going through COO triplets (concatenate, convert, sum the
duplicates) held five copies of the larger operand at once: 4.6 GB for the
0.9 GB products of a 20-million-row crossed model.  Here two sorted CSC
matrices are merged column by column, in two passes over their indices (the
union's column counts, then the entries): the only new memory is the result,
of exactly the union's size, and every entry is the same single addition
``a + b`` the COO route made (bit for bit the same sum).
"""

from __future__ import annotations

import numba
import numpy as np
import scipy.sparse as sp


@numba.njit(cache=True, nogil=True)
def _union_counts(a_ptr, a_idx, b_ptr, b_idx, counts):  # pragma: no cover - compiled
    for j in range(len(counts)):
        i, i_end, k, k_end = a_ptr[j], a_ptr[j + 1], b_ptr[j], b_ptr[j + 1]
        n = 0
        while i < i_end and k < k_end:
            if a_idx[i] == b_idx[k]:
                i += 1
                k += 1
            elif a_idx[i] < b_idx[k]:
                i += 1
            else:
                k += 1
            n += 1
        counts[j] = n + (i_end - i) + (k_end - k)


@numba.njit(cache=True, nogil=True)
def _union_fill(a_ptr, a_idx, a_val, b_ptr, b_idx, b_val, ptr, idx, val):  # pragma: no cover
    for j in range(len(ptr) - 1):
        i, i_end, k, k_end, out = a_ptr[j], a_ptr[j + 1], b_ptr[j], b_ptr[j + 1], ptr[j]
        while i < i_end or k < k_end:
            if k >= k_end or (i < i_end and a_idx[i] < b_idx[k]):
                idx[out], val[out] = a_idx[i], a_val[i]
                i += 1
            elif i >= i_end or b_idx[k] < a_idx[i]:
                idx[out], val[out] = b_idx[k], b_val[k]
                k += 1
            else:
                idx[out], val[out] = a_idx[i], a_val[i] + b_val[k]
                i += 1
                k += 1
            out += 1


def csc_union_sum(a: sp.csc_matrix, b: sp.csc_matrix) -> sp.csc_matrix:
    """a + b on the union of the patterns (sorted CSC in, sorted CSC out), explicit zeros
    kept.

    Examples
    --------
    >>> a = sp.csc_matrix((np.array([1.0, 0.0]), np.array([0, 1]), np.array([0, 1, 2])),
    ...                   shape=(2, 2))
    >>> b = sp.csc_matrix((np.array([2.0]), np.array([0]), np.array([0, 1, 1])), shape=(2, 2))
    >>> total = csc_union_sum(a, b)
    >>> total.nnz, total.toarray().tolist()
    (2, [[3.0, 0.0], [0.0, 0.0]])
    """
    if a.shape != b.shape:
        raise ValueError(f"cannot add sparse matrices of shapes {a.shape} and {b.shape}")
    a, b = _sorted(a), _sorted(b)
    columns = a.shape[1]
    counts = np.empty(columns, dtype=np.int64)
    _union_counts(a.indptr, a.indices, b.indptr, b.indices, counts)
    nnz = int(counts.sum())
    index = np.int32 if max(nnz, max(a.shape)) < 2**31 else np.int64
    pointer = np.zeros(columns + 1, dtype=index)
    np.cumsum(counts, out=pointer[1:])
    del counts
    indices, data = np.empty(nnz, dtype=index), np.empty(nnz)
    _union_fill(a.indptr, a.indices, a.data, b.indptr, b.indices, b.data, pointer, indices,
                data)
    total = sp.csc_matrix(a.shape)   # the arrays as they are (no check, no copy)
    total.data, total.indices, total.indptr = data, indices, pointer
    total.has_sorted_indices = True
    return total


def _sorted(matrix: sp.csc_matrix) -> sp.csc_matrix:
    matrix = matrix if sp.isspmatrix_csc(matrix) else sp.csc_matrix(matrix)
    if not matrix.has_sorted_indices:
        matrix = matrix.copy()
        matrix.sort_indices()
    return matrix
