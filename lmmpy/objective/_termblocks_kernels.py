"""Compiled loops (numba) for Z'WZ stored by term pairs (:mod:`lmmpy.objective._termblocks`).

A cross block Z_u'WZ_t (t before u) is kept grouped by t's levels, as the blocked
factor reads it (:class:`~lmmpy.objective._rankupdate.LevelBlocks`): level j's
entries are the columns of u that j meets (sorted), each with k_t values.

* :func:`lmmpy.objective._crossprod_kernels.pair_runs` (t major) and
  :func:`fill_level_pairs` build a chunk's block from the grouping codes: rows
  ordered by (t, u) with two stable counting sorts, so each pair of levels' rows are
  adjacent and summed in row order (the order the CSC path,
  :mod:`lmmpy.objective._crossprod_kernels`, sums them in: the same bits);
* :func:`merge_levels` (after :mod:`lmmpy.objective._sum_kernels`'s union counts) adds
  two blocks on the union of their patterns (explicit zeros kept), a range of levels
  at a time (the caller releases the operands' memory behind the merge when they are
  given up);
* :func:`rows_times` and :func:`columns_times` multiply by the block (B X and B'Y) in
  place of a CSR copy of it.
"""

from __future__ import annotations

import numba
import numpy as np


@numba.njit(cache=True, nogil=True)
def fill_level_pairs(order: np.ndarray, codes_t: np.ndarray, V_t: np.ndarray,
                     codes_u: np.ndarray, WV_u: np.ndarray, pointer: np.ndarray,
                     rows: np.ndarray, values: np.ndarray) -> None:  # pragma: no cover
    """Level j of t: entry (u level i, column b of u) at row i·k_u + b, its k_t values
    Σ V_t[r, a]·(WV_u)[r, b] over the rows r of the pair (j, i), in row order."""
    kt, ku = V_t.shape[1], WV_u.shape[1]
    last_t, last_u, run = -1, -1, -1
    for r in order:
        t, u = codes_t[r], codes_u[r]
        if t != last_t:
            last_t, last_u, run = t, u, 0
        elif u != last_u:
            last_u, run = u, run + 1
        base = pointer[t] + run * ku
        for b in range(ku):
            rows[base + b] = u * ku + b
            for a in range(kt):
                values[base + b, a] += V_t[r, a] * WV_u[r, b]


@numba.njit(cache=True, nogil=True)
def merge_levels(a_ptr, a_rows, a_val, b_ptr, b_rows, b_val, ptr, rows, val, first: int,
                 last: int) -> None:  # pragma: no cover - compiled
    """(ptr, rows, val) = a + b for the levels first..last-1, on the union of the rows."""
    k = a_val.shape[1]
    for j in range(first, last):
        i, i_end, m, m_end, out = a_ptr[j], a_ptr[j + 1], b_ptr[j], b_ptr[j + 1], ptr[j]
        while i < i_end or m < m_end:
            if m >= m_end or (i < i_end and a_rows[i] < b_rows[m]):
                rows[out] = a_rows[i]
                for c in range(k):
                    val[out, c] = a_val[i, c]
                i += 1
            elif i >= i_end or b_rows[m] < a_rows[i]:
                rows[out] = b_rows[m]
                for c in range(k):
                    val[out, c] = b_val[m, c]
                m += 1
            else:
                rows[out] = a_rows[i]
                for c in range(k):
                    val[out, c] = a_val[i, c] + b_val[m, c]
                i += 1
                m += 1
            out += 1


@numba.njit(cache=True, nogil=True)
def rows_times(pointer, rows, values, X, out) -> None:  # pragma: no cover - compiled
    """out[rows[e]] += Σ_c values[e, c] X[j·k + c] for level j's entries e (B X, B the
    block with the levels' k columns each)."""
    k = values.shape[1]
    for j in range(len(pointer) - 1):
        for e in range(pointer[j], pointer[j + 1]):
            r = rows[e]
            for c in range(k):
                v = values[e, c]
                for s in range(X.shape[1]):
                    out[r, s] += v * X[j * k + c, s]


@numba.njit(cache=True, nogil=True)
def columns_times(pointer, rows, values, Y, out) -> None:  # pragma: no cover - compiled
    """out[j·k + c] += Σ_e values[e, c] Y[rows[e]] over level j's entries (B'Y)."""
    k = values.shape[1]
    for j in range(len(pointer) - 1):
        for e in range(pointer[j], pointer[j + 1]):
            r = rows[e]
            for c in range(k):
                v = values[e, c]
                for s in range(Y.shape[1]):
                    out[j * k + c, s] += v * Y[r, s]


@numba.njit(cache=True, nogil=True)
def joined_share_reaches(pointer, rows, size, share) -> bool:  # pragma: no cover - compiled
    """Whether at least ``share`` of the size(size − 1)/2 off-diagonal pairs of rows are
    joined by some level (both rows among its entries): a bit per pair, marked level by
    level, stopping as soon as the count reaches the share (a dense pattern is known
    after a few levels; a sparse one costs Σ_j n_j² steps)."""
    total = size * (size - 1) // 2
    needed = share * total
    if total == 0:
        return True
    bits = np.zeros((total + 7) // 8, dtype=np.uint8)
    count = 0
    for j in range(len(pointer) - 1):
        for e in range(pointer[j], pointer[j + 1]):
            a = np.int64(rows[e])
            base = a * (a - 1) // 2
            for f in range(pointer[j], e):
                b = np.int64(rows[f])
                if b == a:
                    continue
                position = base + b
                byte, bit = position >> 3, np.uint8(1) << np.uint8(position & 7)
                if not bits[byte] & bit:
                    bits[byte] |= bit
                    count += 1
        if count >= needed:
            return True
    return count >= needed
