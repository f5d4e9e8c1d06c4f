"""Compiled loops (numba) of the selected inverse with a dense tail; imported only when needed.

With A = P'LL'P (L lower triangular, CSC, sorted rows, diagonal first) and
Z = A⁻¹ permuted, Takahashi's recurrence (:mod:`._condvar_kernels`) runs
column by column from the last,

    Z[i, j] = −Σ_{k ∈ s(j)} Z[i, k] L[k, j] / L[j, j]          (i ∈ s(j)),
    Z[j, j] = 1/L[j, j]² − Σ_{k ∈ s(j)} (L[k, j] / L[j, j]) Z[k, j].

Here the columns from ``start`` on (the dense tail, whose inverse ``tail`` LAPACK
has computed: lower triangle valid) are not recurred; the others gather the
pairs (i, k) of s(j) × s(j) — from ``tail`` when both are in the tail (|s(j)|²
reads however long the tail's columns are), else by walking the sparse column
of Z once.
"""

from __future__ import annotations

import numba
import numpy as np

from lmmpy.objective._condvar_kernels import _position  # the CSC binary search they share


@numba.njit(cache=True, nogil=True)
def _entry(indptr, indices, z, tail, start, i, k):
    """Z[i, k] from the tail or the sparse part (NaN off the pattern)."""
    if i < k:
        i, k = k, i
    if k >= start:
        return tail[i - start, k - start]
    p = _position(indptr, indices, i, k)
    return z[p] if p >= 0 else np.nan


@numba.njit(cache=True, nogil=True)
def sparse_part(indptr, indices, data, tail, start):
    """Z on L's pattern in the columns before ``start`` (an array of ``indptr[start]``).

    For column j, ``total[i]`` gathers Σ_k Z[i, k] L[k, j] over i, k ∈ s(j): the
    pairs inside the tail read ``tail``; a sparse column k of Z is walked once,
    each of its rows r in s(j) giving both Z[r, k] L[k, j] (to r) and, off the
    diagonal, Z[k, r] L[r, j] (to k) — every ordered pair once.
    """
    n = len(indptr) - 1
    z = np.zeros(indptr[start])
    where = np.full(n, -1)
    total = np.zeros(n)
    for j in range(start - 1, -1, -1):
        first, end = indptr[j] + 1, indptr[j + 1]
        for a in range(first, end):
            where[indices[a]] = a
            total[indices[a]] = 0.0
        for b in range(first, end):
            k, l_kj = indices[b], data[b]
            if k >= start:
                for a in range(first, end):
                    i = indices[a]
                    if i >= start:
                        total[i] += (tail[i - start, k - start] if i >= k
                                     else tail[k - start, i - start]) * l_kj
                continue
            for p in range(indptr[k], indptr[k + 1]):
                r = indices[p]
                a = where[r]
                if a >= 0:
                    total[r] += z[p] * l_kj
                    if r != k:
                        total[k] += z[p] * data[a]
        pivot = data[first - 1]
        diagonal = 1.0 / (pivot * pivot)
        for a in range(first, end):
            z[a] = -total[indices[a]] / pivot
            diagonal -= data[a] / pivot * z[a]
            where[indices[a]] = -1
        z[first - 1] = diagonal
    return z


@numba.njit(cache=True, nogil=True)
def scatter_tail(indptr, indices, data, start, out):
    """The columns from ``start`` of L into the dense (lower) ``out``."""
    for j in range(start, len(indptr) - 1):
        for p in range(indptr[j], indptr[j + 1]):
            out[indices[p] - start, j - start] = data[p]


@numba.njit(cache=True, nogil=True)
def entries(indptr, indices, z, tail, start, rows, cols):
    """Z[rows, cols] (permuted positions); NaN off the pattern."""
    out = np.empty(len(rows))
    for e in range(len(rows)):
        out[e] = _entry(indptr, indices, z, tail, start, rows[e], cols[e])
    return out
