"""Compiled gathers (numba) of a symmetric N over the levels' rows, for the blocked factor's
gradient and selected inverse; imported only when needed.

For each level j of the first term (entries e with rows R_e and values X_e, k wide)

    t_e = Σ_f N[R_e, R_f] X_f   (over all entries f of level j)

is row R_e of N X_j, and the level forms B_j'NB_j are Σ_e X_e't_e (:func:`level_sums`).
The blocked inverse's cross entries −(P S⁻¹)[(j, c), R_e] are W_j t_e: with t at hand,
one lookup per observation (:func:`find_entries`) instead of a sparse row of P times a
column of S⁻¹ (a million scattered reads on issue 12's 1,000,000-row model).

Only N's lower triangle is read (the transpose of LAPACK's upper inverse, C order): each
pair f < e of a level is read once, on row R_e, and serves both t_e and t_f (a level's
entries are contiguous, so the second write stays in cache).  ``level_gather`` walks the
levels; ``tiled_level_gather`` walks N tile by tile (long levels: see
:mod:`lmmpy.objective._kernels`).  Both write only their levels' t: parts over disjoint
levels can run in threads.
"""

from __future__ import annotations

import numba
import numpy as np

from lmmpy.objective._condvar_kernels import _position  # the CSC binary search they share


@numba.njit(cache=True, nogil=True)
def level_gather(pointer: np.ndarray, rows: np.ndarray, X: np.ndarray, N: np.ndarray,
                 first: int, last: int, T: np.ndarray) -> None:  # pragma: no cover - compiled
    """T[e] = Σ_f N[R_e, R_f] X[f] for the entries of levels first..last-1 (T zero there)."""
    k = X.shape[1]
    total = np.empty(k)
    for j in range(first, last):
        start, stop = pointer[j], pointer[j + 1]
        for e in range(start, stop):
            row = N[rows[e]]
            diagonal = row[rows[e]]
            for c in range(k):
                total[c] = diagonal * X[e, c]
            for f in range(start, e):
                weight = row[rows[f]]
                for c in range(k):
                    total[c] += weight * X[f, c]
                    T[f, c] += weight * X[e, c]
            for c in range(k):
                T[e, c] += total[c]


@numba.njit(cache=True, nogil=True)
def tiled_level_gather(cuts: np.ndarray, rows: np.ndarray, X: np.ndarray, N: np.ndarray,
                       first: int, last: int,
                       T: np.ndarray) -> None:  # pragma: no cover - compiled
    """:func:`level_gather` tile by tile of N's lower triangle (``cuts`` as
    :func:`lmmpy.objective._kernels.tile_cuts`): each tile stays in cache while the levels
    pass; the sums come in another order than the level loop's, equal to rounding."""
    k = X.shape[1]
    n_tiles = cuts.shape[1] - 1
    total = np.empty(k)
    for row_tile in range(n_tiles):
        for column_tile in range(row_tile + 1):
            diagonal_tile = column_tile == row_tile
            for j in range(first, last):
                a0, a1 = cuts[j, row_tile], cuts[j, row_tile + 1]
                b0, b1 = cuts[j, column_tile], cuts[j, column_tile + 1]
                if a0 == a1 or b0 == b1:
                    continue
                for e in range(a0, a1):
                    row = N[rows[e]]
                    for c in range(k):
                        total[c] = row[rows[e]] * X[e, c] if diagonal_tile else 0.0
                    for f in range(b0, e if diagonal_tile else b1):
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


@numba.njit(cache=True, nogil=True)
def find_entries(pointer: np.ndarray, rows: np.ndarray, levels: np.ndarray,
                 targets: np.ndarray, out: np.ndarray) -> None:  # pragma: no cover - compiled
    """out[i]: the entry of level ``levels[i]`` on row ``targets[i]`` (rows sorted within
    each level), −1 when the level has none there."""
    for i in range(len(levels)):
        out[i] = _position(pointer, rows, targets[i], levels[i])


@numba.njit(cache=True, nogil=True)
def tiled_scalar_gather(cuts: np.ndarray, rows: np.ndarray, x: np.ndarray, N: np.ndarray,
                        first: int, last: int,
                        t: np.ndarray) -> None:  # pragma: no cover - compiled
    """:func:`tiled_level_gather` for k = 1 (``x``, ``t``: one value an entry)."""
    n_tiles = cuts.shape[1] - 1
    for row_tile in range(n_tiles):
        for column_tile in range(row_tile + 1):
            diagonal_tile = column_tile == row_tile
            for j in range(first, last):
                a0, a1 = cuts[j, row_tile], cuts[j, row_tile + 1]
                b0, b1 = cuts[j, column_tile], cuts[j, column_tile + 1]
                if a0 == a1 or b0 == b1:
                    continue
                for e in range(a0, a1):
                    row = N[rows[e]]
                    x_e = x[e]
                    total = row[rows[e]] * x_e if diagonal_tile else 0.0
                    for f in range(b0, e if diagonal_tile else b1):
                        weight = row[rows[f]]
                        total += weight * x[f]
                        t[f] += weight * x_e
                    t[e] += total
