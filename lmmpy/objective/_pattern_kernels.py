"""Where the blocked factor's numbers sit in Z'WZ, read from its CSC arrays (numba).

The blocked factor (:mod:`lmmpy.objective._blocked`) needs, from the stored
entries of Z'WZ, the positions of the first term's diagonal blocks, of
B = Z_s'WZ₁ by rows (CSR) and grouped by the first term's levels, and of the
rest.  Slicing a matrix of positions did it with sparse conversions and a
sort: eight copies of B at once (3.4 GB above the 0.9 GB products of a
20-million-row crossed model).  In CSC with sorted rows each column's entries
split at the first row of the other terms, so every piece is a set of ranges
of the stored arrays: these loops read them in place.
"""

from __future__ import annotations

import numba
import numpy as np


@numba.njit(cache=True, nogil=True)
def column_splits(indptr: np.ndarray, indices: np.ndarray,
                  q1: int) -> np.ndarray:  # pragma: no cover - compiled
    """For each column, the position of its first entry in a row ≥ q1 (rows sorted)."""
    n = len(indptr) - 1
    split = np.empty(n, dtype=np.int64)
    for c in range(n):
        split[c] = indptr[c] + np.searchsorted(indices[indptr[c]:indptr[c + 1]], q1)
    return split


@numba.njit(cache=True, nogil=True)
def gather_ranges(starts: np.ndarray, stops: np.ndarray,
                  out: np.ndarray) -> None:  # pragma: no cover - compiled
    """out = concatenation of arange(starts[i], stops[i])."""
    position = 0
    for i in range(len(starts)):
        for entry in range(starts[i], stops[i]):
            out[position] = entry
            position += 1


@numba.njit(cache=True, nogil=True)
def _level_union(indices, starts, stops, j, k, q1, heads, rows, positions,
                 first) -> int:  # pragma: no cover - compiled
    """Merge level j's k sorted column tails: the union of their rows (less q1) from entry
    ``first`` of ``rows`` (when given) and each one's position in each column (−1: none);
    returns the union's size."""
    for c in range(k):
        heads[c] = starts[j * k + c]
    n = 0
    while True:
        row = -1
        for c in range(k):
            if heads[c] < stops[j * k + c]:
                candidate = indices[heads[c]]
                if row < 0 or candidate < row:
                    row = candidate
        if row < 0:
            return n
        for c in range(k):
            here = heads[c] < stops[j * k + c] and indices[heads[c]] == row
            if len(rows):
                positions[first + n, c] = heads[c] if here else -1
            if here:
                heads[c] += 1
        if len(rows):
            rows[first + n] = row - q1
        n += 1


@numba.njit(cache=True, nogil=True)
def level_block_positions(indices: np.ndarray, starts: np.ndarray, stops: np.ndarray,
                          k: int, q1: int) -> tuple:  # pragma: no cover - compiled
    """B grouped by the first term's levels (:class:`~lmmpy.objective._rankupdate.
    LevelBlocks`): level j's columns j·k … j·k+k−1 have their rows ≥ q1 at
    ``starts[c]:stops[c]``; returns (pointer, rows, positions) with ``positions``
    (entries × k) the stored position of each (row, column), −1 where there is none."""
    n_levels = len(starts) // k
    heads = np.empty(k, dtype=np.int64)
    empty_rows = np.empty(0, dtype=np.intp)
    empty_positions = np.empty((0, k), dtype=np.int64)
    pointer = np.zeros(n_levels + 1, dtype=np.int64)
    for j in range(n_levels):
        pointer[j + 1] = pointer[j] + _level_union(indices, starts, stops, j, k, q1, heads,
                                                   empty_rows, empty_positions, 0)
    rows = np.empty(pointer[-1], dtype=np.intp)
    positions = np.empty((pointer[-1], k), dtype=np.int64)
    for j in range(n_levels):
        _level_union(indices, starts, stops, j, k, q1, heads, rows, positions, pointer[j])
    return pointer, rows, positions


@numba.njit(cache=True, nogil=True)
def gather_values(data: np.ndarray, positions: np.ndarray,
                  values: np.ndarray) -> None:  # pragma: no cover - compiled
    """values[e, c] = data[positions[e, c]], 0 where the position is −1."""
    for e in range(positions.shape[0]):
        for c in range(positions.shape[1]):
            p = positions[e, c]
            values[e, c] = data[p] if p >= 0 else 0.0


@numba.njit(cache=True, nogil=True)
def lower_block_by_rows(indices: np.ndarray, starts: np.ndarray, stops: np.ndarray, q1: int,
                        qs: int, pointer: np.ndarray, columns: np.ndarray,
                        positions: np.ndarray) -> None:  # pragma: no cover - compiled
    """B = Z_s'WZ₁ in CSR from its columns' ranges ``starts[c]:stops[c]`` (c < q1) of the
    stored arrays: row r's columns (sorted) and stored positions; ``pointer`` (qs + 1)
    is filled here."""
    pointer[:] = 0
    for c in range(len(starts)):
        for e in range(starts[c], stops[c]):
            pointer[indices[e] - q1 + 1] += 1
    for r in range(qs):
        pointer[r + 1] += pointer[r]
    fill = pointer[:-1].copy()
    for c in range(len(starts)):
        for e in range(starts[c], stops[c]):
            r = indices[e] - q1
            columns[fill[r]] = c
            positions[fill[r]] = e
            fill[r] += 1
