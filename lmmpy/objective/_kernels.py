"""Compiled loops (numba) for the blocked factor; imported only when needed.

``lower_rank_update`` adds, for each level j of the first random-effects term,
the outer products W_j W_j' of its n_j × k block to the lower triangle of a
dense matrix G at rows R_j (MixedModels.jl's sparse ``rankUpdate!``; Bates,
Alday & Kokandakar 2025): Σ_j n_j(n_j+1)/2 · k multiply-adds.  For each row a
of level j the products with the rows b ≤ a are formed in a contiguous buffer
(a vectorisable loop), then added to row R_j[a] of G.  The loop releases the
GIL: the caller runs parts of about equal work in Python threads, each with
its own G, and sums them (no spinning thread pool to fight BLAS's threads).
Compiled once and cached on disk (``cache=True``).

Long levels (a user with hundreds of items among thousands) make that loop
scatter over hundreds of rows of G megabytes apart, a cache miss per
multiply-add.  ``tiled_lower_rank_update`` and ``tiled_level_quadratic_forms``
then walk G (or N) tile by tile, every level's pairs in the tile while it
stays in cache; with a few entries per level and tile (a 10⁶-row crossed
model) the tiles cost more than they save, so the caller picks by the mean
entries per tile (:data:`lmmpy.objective._rankupdate.TILED_ENTRIES`).
"""

from __future__ import annotations

import numba
import numpy as np


@numba.njit(cache=True, nogil=True)
def _largest_level(pointer: np.ndarray, first: int, last: int) -> int:  # pragma: no cover
    """The most entries any of the levels first..last-1 has (the size of the work buffers)."""
    largest = 1
    for j in range(first, last):
        largest = max(largest, pointer[j + 1] - pointer[j])
    return largest


@numba.njit(cache=True, nogil=True)
def lower_rank_update(pointer: np.ndarray, rows: np.ndarray, values: np.ndarray,
                      V: np.ndarray, first: int, last: int, G: np.ndarray,
                      scale: np.ndarray) -> None:  # pragma: no cover - compiled
    """G[rows[a], rows[b]] += W[a] · W[b], b ≤ a, for the levels first..last-1.

    Level j's entries are ``pointer[j]:pointer[j+1]``, with rows ``rows`` and
    values B_j (``values``, entries × k, each row times ``scale[rows[a]]`` when
    ``scale`` is not empty); W_j = B_j V_j is formed per level.
    """
    k = values.shape[1]
    largest = _largest_level(pointer, first, last)
    W = np.empty((k, largest))
    buffer = np.empty(largest)
    for j in range(first, last):
        start, n = pointer[j], pointer[j + 1] - pointer[j]
        _level_W(values, V, j, start, start + n, W, rows, scale)
        for a in range(n):
            w = W[0, a]
            for b in range(a + 1):
                buffer[b] = w * W[0, b]
            for c in range(1, k):
                w = W[c, a]
                for b in range(a + 1):
                    buffer[b] += w * W[c, b]
            row = G[rows[start + a]]
            for b in range(a + 1):
                row[rows[start + b]] += buffer[b]


@numba.njit(cache=True, nogil=True)
def level_quadratic_forms(pointer: np.ndarray, rows: np.ndarray, values: np.ndarray,
                          N: np.ndarray, first: int, last: int, forms: np.ndarray,
                          scale: np.ndarray) -> None:  # pragma: no cover - compiled
    """forms[j] = B_j' N[R_j, R_j] B_j for the levels first..last-1 (the gradient's gather).

    N is symmetric, so each pair b < a of level j's rows is read once:
    t_a = Σ_{b<a} N[a, b] B_b (a gather into a contiguous buffer, then k
    contiguous dot products) adds B_a t_a' + t_a B_a' + N[a, a] B_a B_a' to
    the form: Σ_j n_j(n_j − 1)/2 · (1 + k) operations.  Levels write disjoint
    ``forms[j]``, so parts can run in threads.  ``scale`` (when not empty) multiplies
    each entry's values, as :func:`lower_rank_update`'s.
    """
    k = values.shape[1]
    largest = _largest_level(pointer, first, last)
    gathered = np.empty(largest)
    B = np.empty((k, largest))
    t = np.empty(k)
    for j in range(first, last):
        start, n = pointer[j], pointer[j + 1] - pointer[j]
        for a in range(n):
            for c in range(k):
                B[c, a] = _value(values, rows, scale, start + a, c)
        for c in range(k):
            for d in range(k):
                forms[j, c, d] = 0.0
        for a in range(n):
            row = N[rows[start + a]]
            for b in range(a):
                gathered[b] = row[rows[start + b]]
            for c in range(k):
                total = 0.0
                for b in range(a):
                    total += gathered[b] * B[c, b]
                t[c] = total
            diagonal = row[rows[start + a]]
            for c in range(k):
                for d in range(k):
                    forms[j, c, d] += (B[c, a] * t[d] + B[d, a] * t[c]
                                       + diagonal * B[c, a] * B[d, a])


@numba.njit(cache=True, nogil=True)
def tile_cuts(pointer: np.ndarray, rows: np.ndarray, tile: int,
              n_tiles: int) -> np.ndarray:  # pragma: no cover - compiled
    """cuts[j, t]: the first entry of level j whose row is at least t·tile (rows sorted
    within each level), so level j's entries in row tile t are cuts[j, t]:cuts[j, t+1]."""
    levels = len(pointer) - 1
    cuts = np.empty((levels, n_tiles + 1), dtype=np.int64)
    for j in range(levels):
        entry, end = pointer[j], pointer[j + 1]
        for t in range(n_tiles):
            while entry < end and rows[entry] < t * tile:
                entry += 1
            cuts[j, t] = entry
        cuts[j, n_tiles] = end
    return cuts


@numba.njit(cache=True, nogil=True)
def _level_W(values: np.ndarray, V: np.ndarray, j: int, start: int, stop: int,
             W: np.ndarray, rows: np.ndarray,
             scale: np.ndarray) -> None:  # pragma: no cover - compiled
    """W[:, a] = (B_j V_j)[a] for level j's entries start..stop-1 (as lower_rank_update)."""
    k = values.shape[1]
    for a in range(stop - start):
        for d in range(k):
            total = 0.0
            for c in range(k):
                total += _value(values, rows, scale, start + a, c) * V[j, c, d]
            W[d, a] = total


@numba.njit(cache=True, nogil=True, inline="always")
def _value(values: np.ndarray, rows: np.ndarray, scale: np.ndarray, entry: int,
           c: int) -> float:  # pragma: no cover - compiled
    """values[entry, c], times scale[rows[entry]] when a scale is given (the product the
    caller's scaled copy of the values held, bit for bit, without the copy)."""
    if len(scale):
        return values[entry, c] * scale[rows[entry]]
    return values[entry, c]


@numba.njit(cache=True, nogil=True)
def tiled_lower_rank_update(cuts: np.ndarray, rows: np.ndarray, values: np.ndarray,
                            V: np.ndarray, tiles: np.ndarray, G: np.ndarray,
                            scale: np.ndarray) -> None:  # pragma: no cover - compiled
    """:func:`lower_rank_update` tile by tile: for each row tile I in ``tiles`` and each
    column tile J ≤ I, every level's pairs (a in I, b in J, b ≤ a) are added to that
    tile of G, which stays in cache while the levels pass (a level with a thousand rows
    otherwise scatters over a thousand rows of G, megabytes apart).  Each entry of G
    receives the same products in the same order (by level) as from
    :func:`lower_rank_update`; parts with disjoint ``tiles`` write disjoint rows of one G.
    """
    k = values.shape[1]
    levels, n_tiles = cuts.shape[0], cuts.shape[1] - 1
    largest = 1
    for j in range(levels):
        for t in range(n_tiles):
            largest = max(largest, cuts[j, t + 1] - cuts[j, t])
    WI = np.empty((k, largest))
    WJ = np.empty((k, largest))
    buffer = np.empty(largest)
    for row_tile in tiles:
        for column_tile in range(row_tile + 1):
            for j in range(levels):
                a0, a1 = cuts[j, row_tile], cuts[j, row_tile + 1]
                b0, b1 = cuts[j, column_tile], cuts[j, column_tile + 1]
                if a0 == a1 or b0 == b1:
                    continue
                _level_W(values, V, j, a0, a1, WI, rows, scale)
                if column_tile != row_tile:
                    _level_W(values, V, j, b0, b1, WJ, rows, scale)
                source = WJ if column_tile != row_tile else WI
                for a in range(a1 - a0):
                    n = b1 - b0 if column_tile != row_tile else a + 1
                    w = WI[0, a]
                    for b in range(n):
                        buffer[b] = w * source[0, b]
                    for c in range(1, k):
                        w = WI[c, a]
                        for b in range(n):
                            buffer[b] += w * source[c, b]
                    row = G[rows[a0 + a]]
                    for b in range(n):
                        row[rows[b0 + b]] += buffer[b]


@numba.njit(cache=True, nogil=True)
def tiled_level_quadratic_forms(cuts: np.ndarray, rows: np.ndarray, values: np.ndarray,
                                N: np.ndarray, first: int, last: int, forms: np.ndarray,
                                scale: np.ndarray) -> None:  # pragma: no cover - compiled
    """:func:`level_quadratic_forms` tile by tile (see :func:`tiled_lower_rank_update`):
    for each tile of N's lower triangle, every level j in first..last-1 adds its pairs
    (a in the row tile, b in the column tile, b < a) and, on the diagonal tiles, its
    N[a, a] terms.  The sums of each form come in another order than the level loop's
    (by tile), equal to rounding."""
    k = values.shape[1]
    n_tiles = cuts.shape[1] - 1
    largest = 1
    for j in range(first, last):
        for t in range(n_tiles):
            largest = max(largest, cuts[j, t + 1] - cuts[j, t])
    gathered = np.empty(largest)
    column_rows = np.empty(largest, dtype=np.int64)
    column_values = np.empty((k, largest))
    t = np.empty(k)
    for j in range(first, last):
        for c in range(k):
            for d in range(k):
                forms[j, c, d] = 0.0
    for row_tile in range(n_tiles):
        for column_tile in range(row_tile + 1):
            for j in range(first, last):
                a0, a1 = cuts[j, row_tile], cuts[j, row_tile + 1]
                b0, b1 = cuts[j, column_tile], cuts[j, column_tile + 1]
                if a0 == a1 or b0 == b1:
                    continue
                for b in range(b1 - b0):   # the column tile's entries, once for every a
                    column_rows[b] = rows[b0 + b]
                    for c in range(k):
                        column_values[c, b] = _value(values, rows, scale, b0 + b, c)
                for a in range(a0, a1):
                    row = N[rows[a]]
                    n = b1 - b0 if column_tile != row_tile else a - b0
                    for b in range(n):
                        gathered[b] = row[column_rows[b]]
                    for c in range(k):
                        total = 0.0
                        for b in range(n):
                            total += gathered[b] * column_values[c, b]
                        t[c] = total
                    diagonal = row[rows[a]] if column_tile == row_tile else 0.0
                    for c in range(k):
                        for d in range(k):
                            v_c = _value(values, rows, scale, a, c)
                            v_d = _value(values, rows, scale, a, d)
                            forms[j, c, d] += (v_c * t[d] + v_d * t[c]
                                               + diagonal * v_c * v_d)


@numba.njit(cache=True, nogil=True)
def tiled_scalar_rank_update(cuts: np.ndarray, rows: np.ndarray, W: np.ndarray,
                             tiles: np.ndarray,
                             G: np.ndarray) -> None:  # pragma: no cover - compiled
    """:func:`tiled_lower_rank_update` for k = 1 with W = B_jV_j formed once per entry
    (``W``, entries): no buffer, no per-tile products; the same products added in the
    same order, so the same bits."""
    levels = cuts.shape[0]
    for row_tile in tiles:
        for column_tile in range(row_tile + 1):
            diagonal_tile = column_tile == row_tile
            for j in range(levels):
                a0, a1 = cuts[j, row_tile], cuts[j, row_tile + 1]
                b0, b1 = cuts[j, column_tile], cuts[j, column_tile + 1]
                if a0 == a1 or b0 == b1:
                    continue
                for a in range(a0, a1):
                    w = W[a]
                    row = G[rows[a]]
                    for b in range(b0, a + 1 if diagonal_tile else b1):
                        row[rows[b]] += w * W[b]
