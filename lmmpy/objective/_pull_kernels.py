"""Compiled loops (numba) for the rank update and its gathers, row by row of G.

The level-major loops of :mod:`lmmpy.objective._kernels` add level j's outer products
W_jW_j' to G at its rows R_j: each of a level's n_j² products lands on another row of
G, and with 20,000 levels of ~50 rows among 2,000 (issue 12's 1,000,000-row binary
model) every one is a cache miss in a 32 MB G.  Turned around (Gustavson's row-wise
sparse product), row r of G is made whole before the next: for each entry e of B on
row r (level j, in level order), W_e · W_f is added for the level's entries f ≤ e,
into row r, which stays in the first-level cache; the level's entries are read
contiguously.  Each entry of G receives the same products in the same order (by
level) as from the level loop, so the results are equal to the last bit.  Threads
take disjoint ranges of rows (of one G), split by work.

The same walk gathers from a symmetric N of which only the lower triangle is read (the
gradient's and the selected inverse's B_j'NB_j, and the cross entries of A⁻¹):
t_e = Σ_f N[R_e, R_f] X_f over all of the level's entries f, each pair read once on
its lower row, which is in cache, instead of n_j² scattered reads.

Which entries sit on row r (``row_entries``, ordered by level) depends on B's
pattern only: made once per pattern and kept across reweightings.
"""

from __future__ import annotations

import numba
import numpy as np


@numba.njit(cache=True, nogil=True)
def entries_by_row(pointer: np.ndarray, rows: np.ndarray,
                   size: int) -> tuple:  # pragma: no cover - compiled
    """(row_pointer, row_entries, level_start, work): the entries on row r are
    ``row_entries[row_pointer[r]:row_pointer[r+1]]`` in level order, ``level_start[e]``
    the first entry of e's level, ``work[r]`` the products row r receives."""
    n_entries = len(rows)
    counts = np.zeros(size + 1, dtype=np.int64)
    for e in range(n_entries):
        counts[rows[e] + 1] += 1
    row_pointer = np.cumsum(counts)
    fill = row_pointer[:-1].copy()
    row_entries = np.empty(n_entries, dtype=np.int64)
    level_start = np.empty(n_entries, dtype=np.int64)
    work = np.zeros(size, dtype=np.int64)
    for j in range(len(pointer) - 1):
        for e in range(pointer[j], pointer[j + 1]):
            r = rows[e]
            row_entries[fill[r]] = e
            fill[r] += 1
            level_start[e] = pointer[j]
            work[r] += e - pointer[j] + 1
    return row_pointer, row_entries, level_start, work


@numba.njit(cache=True, nogil=True)
def level_products(pointer: np.ndarray, values: np.ndarray, V: np.ndarray,
                   W: np.ndarray) -> None:  # pragma: no cover - compiled
    """W[e] = values[e] V_j for every entry e of level j (as the level loop forms it)."""
    k = values.shape[1]
    for j in range(len(pointer) - 1):
        for e in range(pointer[j], pointer[j + 1]):
            for d in range(k):
                total = 0.0
                for c in range(k):
                    total += values[e, c] * V[j, c, d]
                W[e, d] = total


@numba.njit(cache=True, nogil=True)
def pulled_rank_update(row_pointer: np.ndarray, row_entries: np.ndarray,
                       level_start: np.ndarray, rows: np.ndarray, W: np.ndarray,
                       first_row: int, last_row: int,
                       G: np.ndarray) -> None:  # pragma: no cover - compiled
    """G[r, R_f] += W_e · W_f for the entries e on rows first_row..last_row-1 and the
    entries f ≤ e of e's level (the lower triangle of Σ_j W_jW_j')."""
    k = W.shape[1]
    for r in range(first_row, last_row):
        out = G[r]
        for position in range(row_pointer[r], row_pointer[r + 1]):
            e = row_entries[position]
            if k == 1:
                w = W[e, 0]
                for f in range(level_start[e], e + 1):
                    out[rows[f]] += w * W[f, 0]
            else:
                for f in range(level_start[e], e + 1):
                    total = W[e, 0] * W[f, 0]
                    for c in range(1, k):
                        total += W[e, c] * W[f, c]
                    out[rows[f]] += total


@numba.njit(cache=True, nogil=True)
def find_entries(pointer: np.ndarray, rows: np.ndarray, levels: np.ndarray,
                 targets: np.ndarray, out: np.ndarray) -> None:  # pragma: no cover - compiled
    """out[i]: the entry of level ``levels[i]`` on row ``targets[i]`` (rows sorted within
    each level), −1 when the level has none there."""
    for i in range(len(levels)):
        low, high = pointer[levels[i]], pointer[levels[i] + 1]
        target = targets[i]
        while low < high:
            middle = (low + high) // 2
            if rows[middle] < target:
                low = middle + 1
            else:
                high = middle
        out[i] = low if low < pointer[levels[i] + 1] and rows[low] == target else -1


@numba.njit(cache=True, nogil=True)
def pulled_gather_lower(row_pointer: np.ndarray, row_entries: np.ndarray,
                        level_start: np.ndarray, rows: np.ndarray, N: np.ndarray,
                        X: np.ndarray, first_row: int, last_row: int,
                        T: np.ndarray) -> None:  # pragma: no cover - compiled
    """T[e] += Σ_f N[R_e, R_f] X[f] over all entries f of e's level, reading only N's lower
    triangle along its rows: on row r = R_e each pair f < e of the level is read once and
    serves both T[e] (N[r, R_f] X_f) and T[f] (N[r, R_f] X_e, the level's entries are
    contiguous).  Parts on other rows write other levels' T[f]: each part its own T."""
    k = X.shape[1]
    total = np.empty(k)
    for r in range(first_row, last_row):
        row = N[r]
        diagonal = row[r]
        for position in range(row_pointer[r], row_pointer[r + 1]):
            e = row_entries[position]
            for c in range(k):
                total[c] = diagonal * X[e, c]
            for f in range(level_start[e], e):
                weight = row[rows[f]]
                for c in range(k):
                    total[c] += weight * X[f, c]
                    T[f, c] += weight * X[e, c]
            for c in range(k):
                T[e, c] += total[c]


@numba.njit(cache=True, nogil=True)
def level_sums(pointer: np.ndarray, X: np.ndarray, T: np.ndarray,
               forms: np.ndarray) -> None:  # pragma: no cover - compiled
    """forms[j] = Σ_e X[e]'T[e] over level j's entries (k × k)."""
    k = X.shape[1]
    for j in range(len(pointer) - 1):
        for c in range(k):
            for d in range(k):
                total = 0.0
                for e in range(pointer[j], pointer[j + 1]):
                    total += X[e, c] * T[e, d]
                forms[j, c, d] = total
