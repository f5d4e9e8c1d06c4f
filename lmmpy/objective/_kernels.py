"""Compiled loops (numba) for the blocked factor; imported only when needed.

``lower_rank_update`` adds, for each level j of the first random-effects term,
the outer products W_j W_j' of its n_j × k block to the lower triangle of a
dense matrix at rows R_j (MixedModels.jl's sparse ``rankUpdate!``; Bates,
Alday & Kokandakar 2025): Σ_j n_j(n_j+1)/2 · k multiply-adds.  For each row a
of level j the products with rows b ≤ a are formed in a contiguous buffer
(a vectorisable loop), then added to row R_j[a] of G.  The levels are split
into parts of about equal work, one per thread, each with its own G; the
caller sums the parts.  Compiled once and cached on disk (``cache=True``).
"""

from __future__ import annotations

import numba
import numpy as np


@numba.njit(cache=True, nogil=True, parallel=True)
def lower_rank_update(pointer: np.ndarray, rows: np.ndarray, Wt: np.ndarray,
                      bounds: np.ndarray, G: np.ndarray) -> None:  # pragma: no cover
    """G[part][rows[a], rows[b]] += Wt[:, a] · Wt[:, b], b ≤ a within a level.

    ``Wt`` is k × (entries); part i takes levels ``bounds[i]:bounds[i+1]``.
    """
    for part in numba.prange(len(bounds) - 1):
        _update_levels(pointer, rows, Wt, bounds[part], bounds[part + 1], G[part])


@numba.njit(cache=True, nogil=True)
def _update_levels(pointer, rows, Wt, first, last, G):  # pragma: no cover - compiled
    k = Wt.shape[0]
    largest = 0
    for j in range(first, last):
        largest = max(largest, pointer[j + 1] - pointer[j])
    buffer = np.empty(largest)
    for j in range(first, last):
        start, stop = pointer[j], pointer[j + 1]
        for a in range(start, stop):
            for b in range(start, a + 1):
                buffer[b - start] = Wt[0, a] * Wt[0, b]
            for c in range(1, k):
                w = Wt[c, a]
                for b in range(start, a + 1):
                    buffer[b - start] += w * Wt[c, b]
            row = G[rows[a]]
            for b in range(start, a + 1):
                row[rows[b]] += buffer[b - start]
