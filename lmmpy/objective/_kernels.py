"""Compiled loops (numba) for the blocked factor; imported only when needed.

``lower_rank_update`` adds, for each level j of the first random-effects term,
the outer products W_j W_j' of its n_j × k block to the lower triangle of a
dense matrix G at rows R_j (MixedModels.jl's sparse ``rankUpdate!``; Bates,
Alday & Kokandakar 2025): Σ_j n_j(n_j+1)/2 · k multiply-adds.  For each row a
of level j the products with the rows b ≤ a are formed in a contiguous buffer
(a vectorisable loop), then added to row R_j[a] of G.  The loop releases the
GIL: the caller runs parts of about equal work in Python threads, each with
its own G, and sums them (no spinning thread pool to fight BLAS's threads).
Compiled once and cached on disk (``cache=True``).  (Tiling G so that a tile
stays in cache was tried and was slower: the levels' entries per tile are
too few.)
"""

from __future__ import annotations

import numba
import numpy as np


@numba.njit(cache=True, nogil=True)
def lower_rank_update(pointer: np.ndarray, rows: np.ndarray, Wt: np.ndarray, first: int,
                      last: int, G: np.ndarray) -> None:  # pragma: no cover - compiled
    """G[rows[a], rows[b]] += Wt[:, a] · Wt[:, b], b ≤ a, for the levels first..last-1.

    ``Wt`` is k × (entries); level j's entries are ``pointer[j]:pointer[j+1]``.
    """
    k = Wt.shape[0]
    largest = 1
    for j in range(first, last):
        largest = max(largest, pointer[j + 1] - pointer[j])
    buffer = np.empty(largest)
    for j in range(first, last):
        start, stop = pointer[j], pointer[j + 1]
        for a in range(start, stop):
            w = Wt[0, a]
            for b in range(start, a + 1):
                buffer[b - start] = w * Wt[0, b]
            for c in range(1, k):
                w = Wt[c, a]
                for b in range(start, a + 1):
                    buffer[b - start] += w * Wt[c, b]
            row = G[rows[a]]
            for b in range(start, a + 1):
                row[rows[b]] += buffer[b - start]
