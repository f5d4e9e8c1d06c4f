"""The sparse symmetric rank update ``G = Σ_j B_j' Ω_j B_j`` of the blocked Cholesky factor.

Eliminating the first random-effects term (ℓ levels, k×k blocks) from the
system leaves, on the rows s of the other terms, the update

    G[a, b] = Σ_j Σ_{c,d} B[a, (j,c)] Ω_j[c, d] B[b, (j,d)],      Ω_j = V_j V_j'

with B the (fixed) off-diagonal cross-product block and Ω_j (k×k, from θ)
one per level.  Level j touches only the n_j rows R_j where B has a nonzero
in its columns, so the update costs Σ_j n_j² k — MixedModels.jl's
``rankUpdate!`` of a dense block by a sparse one (Bates, Alday & Kokandakar
2025, arXiv 2505.11674).  Two exact implementations, both vectorised:

* ``PairProducts``: the products B[a,(j,c)] B[b,(j,d)] do not depend on θ, so
  they are tabulated once as a sparse matrix P (one row per entry (a, b) of
  G's lower triangle, one column per (j, c ≤ d)); then G = P vec(Ω) is one
  sparse matrix-vector product.  Memory Σ_j n_j²/2 · k(k+1)/2 entries.
* ``CompiledUpdate``: a numba loop over the levels, W_j = B_j V_j then
  G[R_j, R_j] += W_j W_j' (lower triangle); memory O(nnz B), used when P would
  be too large.

When B is mostly filled (every respondent answered every item, as in lme4's
VerbAgg) the scattered pair updates cost far more per multiply-add than
dense products: ``DenseUpdate`` keeps B as a dense |s| × ℓk array and forms
G = (B blockdiag(V_j))(B blockdiag(V_j))' by one matrix product (|s|²ℓk
multiply-adds on BLAS against Σ_j n_j²k scattered ones).
"""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

_NO_SCALE = np.empty(0)   # the compiled loops' "no scale" (an empty array)
PAIR_BUDGET = 12_000_000  # entries of P (~150 MB) before switching to the compiled loop
DENSE_SHARE = 0.25        # B's stored share from which the dense product is used,
DENSE_BUDGET = 4_000_000  # ... when B (|s| × ℓk) has at most this many entries (32 MB)
TILE = 512                # rows and columns of G's tiles in the tiled loop (2 MB a tile) ...
TILED_ENTRIES = 8         # ... used when the levels average this many entries per row tile
THREADED_WORK = 4_000_000  # Σ n_j(n_j + 1) below which the compiled loop runs in one thread
                           # (VerbAgg's 190,000: the pool's hand-off cost more than the loop)


@dataclass(frozen=True)
class LevelBlocks:
    """B (rows s × the first term's ℓ·k columns) grouped by the first term's levels.

    Level j's rows are ``rows[pointer[j]:pointer[j+1]]`` (sorted) and its
    n_j × k values are ``values[pointer[j]:pointer[j+1]]``.
    """

    pointer: np.ndarray
    rows: np.ndarray
    values: np.ndarray
    size: int

    @property
    def n_levels(self) -> int:
        return len(self.pointer) - 1

    @property
    def level_of_entry(self) -> np.ndarray:
        return np.repeat(np.arange(self.n_levels), np.diff(self.pointer))

    def n_pairs(self) -> int:
        n = np.diff(self.pointer).astype(np.int64)
        return int(np.sum(n * (n + 1) // 2))

    def work(self) -> int:
        """Σ_j n_j(n_j + 1) over the levels (n_j entries each): the compiled loop's work."""
        n = np.diff(self.pointer).astype(np.int64)
        return int(np.sum(n * (n + 1)))


def level_blocks(B: sp.spmatrix, k: int) -> LevelBlocks:
    """Group the columns of B (level-major, k per level) by level.

    Examples
    --------
    >>> B = sp.csc_matrix(np.array([[1.0, 2.0, 0.0, 0.0], [0.0, 0.0, 3.0, 0.0]]))
    >>> blocks = level_blocks(B, 2)
    >>> blocks.pointer.tolist(), blocks.rows.tolist(), blocks.values.tolist()
    ([0, 1, 2], [0, 1], [[1.0, 2.0], [3.0, 0.0]])
    """
    coo = sp.coo_matrix(B)
    n_levels = B.shape[1] // k
    keys = (coo.col // k).astype(np.int64) * B.shape[0] + coo.row
    unique, entry = np.unique(keys, return_inverse=True)
    values = np.zeros((len(unique), k))
    values[entry, coo.col % k] = coo.data
    counts = np.bincount(unique // B.shape[0], minlength=n_levels)
    pointer = np.concatenate([[0], np.cumsum(counts)])
    return LevelBlocks(pointer, (unique % B.shape[0]).astype(np.intp), values, B.shape[0])


class PairPattern:
    """The θ- and weight-free part of :class:`PairProducts`: which entries pair up.

    Depends on B's sparsity pattern only (levels, rows), never on its values, so
    it is kept across a reweighting (a GLMM's PIRLS step) while P's values are
    recomputed from the new B (:meth:`products`).
    """

    def __init__(self, blocks: LevelBlocks):
        k = blocks.values.shape[1]
        first, second = _pairs_within_levels(blocks.pointer)
        small = np.int32 if len(blocks.rows) < 2**31 else np.int64
        self.first, self.second = first.astype(small), second.astype(small)
        self.c, self.d = np.triu_indices(k)
        flat = blocks.rows[first].astype(np.int64) * blocks.size + blocks.rows[second]
        index_type = np.int32 if blocks.size**2 < 2**31 else np.int64
        reached = np.zeros(blocks.size**2, dtype=bool)
        reached[flat] = True
        self.targets = np.flatnonzero(reached)
        row_of_flat = np.empty(blocks.size**2, dtype=index_type)
        row_of_flat[self.targets] = np.arange(len(self.targets), dtype=index_type)
        n = np.diff(blocks.pointer).astype(np.int64)
        per_level = np.tile(n * (n + 1) // 2, len(self.c))
        self.indices = np.tile(row_of_flat[flat], len(self.c))
        self.indptr = np.concatenate([[0], np.cumsum(per_level)])
        self.shape = (len(self.targets), len(self.c) * blocks.n_levels)
        self.size = blocks.size
        self.diagonal_targets = self.targets // self.size == self.targets % self.size

    def products(self, values: np.ndarray) -> sp.csc_matrix:
        """P for B's ``values`` (entries × k) on this pattern."""
        data = np.concatenate([PairProducts._products(values, self.first, self.second, c, d)
                               for c, d in zip(self.c, self.d, strict=True)])
        return sp.csc_matrix((data, self.indices, self.indptr), shape=self.shape)


class PairProducts:
    """G = P vec(Ω) with the θ-free products of B tabulated once (see module docstring).

    P is assembled by columns (c ≤ d, level j), each holding level j's pairs
    (no sort needed), its rows the entries of G that some level reaches
    (``targets``, flat indices a·|s| + b), numbered by a table over G's flat
    indices: no conversion to rows, which took half of the set-up.  The product
    scatters into those entries (P vec(Ω)); the gradient's gathers read them
    (P'w).  A reweighting keeps the pattern (:class:`PairPattern`, passed as
    ``pattern``), never the products.
    """

    def __init__(self, blocks: LevelBlocks, pattern: PairPattern | None = None):
        self.pattern = PairPattern(blocks) if pattern is None else pattern
        self.P = self.pattern.products(blocks.values)

    @property
    def targets(self) -> np.ndarray:
        return self.pattern.targets

    @property
    def c(self) -> np.ndarray:
        return self.pattern.c

    @property
    def d(self) -> np.ndarray:
        return self.pattern.d

    @property
    def size(self) -> int:
        return self.pattern.size

    @property
    def _diagonal_targets(self) -> np.ndarray:
        return self.pattern.diagonal_targets

    @staticmethod
    def _products(values, first, second, c, d):
        column_c, column_d = values[:, c].copy(), values[:, d].copy()  # 1-d gathers are faster
        if c == d:
            return column_c[first] * column_c[second]
        return column_c[first] * column_d[second] + column_d[first] * column_c[second]

    def values(self, V: np.ndarray) -> np.ndarray:
        """G at ``targets`` (flat indices a·|s| + b, a ≥ b; G is zero elsewhere)."""
        Omega = V @ V.transpose(0, 2, 1)
        return self.P @ Omega[:, self.c, self.d].T.ravel()

    def __call__(self, V: np.ndarray) -> np.ndarray:
        """Lower triangle of G (upper zero) for Ω_j = V_j V_j', V of shape (ℓ, k, k)."""
        return self.lower_from_values(self.values(V))

    def lower_from_values(self, values: np.ndarray) -> np.ndarray:
        """G's lower triangle (dense) from its :meth:`values`."""
        G = np.zeros((self.size, self.size))
        G.ravel()[self.targets] = values
        return G

    def level_forms(self, N: np.ndarray) -> np.ndarray:
        """B_j'NB_j (ℓ, k, k) for a symmetric N over the rows s: P' applied to N's targets.

        P's column (c ≤ d, j) holds Σ over pairs a ≥ b of level j of
        B[a,c]B[b,d] + B[a,d]B[b,c] (c < d; pairs a = b counted twice) or
        B[a,c]B[b,c] (c = d; each pair once), so halving N's diagonal gives
        B_j'NB_j's off-diagonal entries and half its diagonal ones.
        """
        return self.level_forms_at_targets(N.ravel()[self.targets])

    def level_forms_at_targets(self, weights: np.ndarray) -> np.ndarray:
        """:meth:`level_forms` from N's entries at ``targets`` (overwritten)."""
        weights[self._diagonal_targets] *= 0.5
        sums = (self.P.T @ weights).reshape(len(self.c), -1)
        k = int(self.d.max()) + 1
        forms = np.empty((sums.shape[1], k, k))
        forms[:, self.c, self.d] = sums.T
        forms[:, self.d, self.c] = sums.T
        forms[:, np.arange(k), np.arange(k)] *= 2.0
        return forms


class DenseUpdate:
    """G = W W' with W = B blockdiag(V_j), B dense (|s| × ℓ × k): BLAS products.

    Examples
    --------
    >>> blocks = level_blocks(sp.csc_matrix(np.array([[1.0, 2.0], [3.0, 4.0]])), 1)
    >>> DenseUpdate(blocks)(np.array([[[1.0]], [[0.5]]])).tolist()   # B diag(1, 1/4) B'
    [[2.0, 0.0], [5.0, 13.0]]
    """

    def __init__(self, blocks: LevelBlocks):
        k = blocks.values.shape[1]
        self.B = np.zeros((blocks.n_levels, blocks.size, k))   # B_j, level-major
        self.B[blocks.level_of_entry, blocks.rows] = blocks.values

    def _W(self, V: np.ndarray) -> np.ndarray:
        """W = [B_1V_1 … B_ℓV_ℓ] as |s| × ℓk."""
        n_levels, size, k = self.B.shape
        if k == 1:
            return (self.B[:, :, 0] * V[:, 0, 0][:, None]).T
        return (self.B @ V).transpose(1, 0, 2).reshape(size, n_levels * k)

    def __call__(self, V: np.ndarray) -> np.ndarray:
        """Lower triangle of G (upper zero) for Ω_j = V_j V_j', V of shape (ℓ, k, k)."""
        W = self._W(V)
        return np.tril(W @ W.T)

    def level_forms(self, N: np.ndarray) -> np.ndarray:
        """B_j'NB_j (ℓ, k, k) for a symmetric N over the rows s."""
        return self.B.transpose(0, 2, 1) @ (N @ self.B)


class CompiledUpdate:
    """G[R_j, R_j] += (B_j V_j)(B_j V_j)' in a compiled loop over the levels, in threads.

    When the levels are long (many rows each: a user with a thousand items) the loop runs
    tile by tile (:func:`~lmmpy.objective._kernels.tiled_lower_rank_update`), the threads
    on disjoint row tiles of one G; else over the levels, each thread with its own G.
    """

    def __init__(self, blocks: LevelBlocks):
        from lmmpy.objective._kernels import lower_rank_update

        self.blocks = blocks
        n = np.diff(blocks.pointer).astype(np.int64)
        work = np.concatenate([[0], np.cumsum(n * (n + 1))])
        parts = max(1, min(os.cpu_count() or 1, 8, blocks.n_levels))
        if work[-1] < THREADED_WORK:
            parts = 1
        self.bounds = np.searchsorted(work, np.linspace(0, work[-1], parts + 1)).tolist()
        self.bounds[0], self.bounds[-1] = 0, blocks.n_levels
        self._kernel = lower_rank_update
        self.cuts = self.tile_parts = None
        n_tiles = -(-blocks.size // TILE)
        if n_tiles > 1 and len(blocks.rows) >= TILED_ENTRIES * n_tiles * blocks.n_levels:
            from lmmpy.objective._kernels import tile_cuts

            self.cuts = tile_cuts(blocks.pointer, blocks.rows, TILE, n_tiles)
            self.tile_parts = _tile_parts(n_tiles, parts)

    @property
    def threaded(self) -> bool:
        """Whether the loop runs in more than one thread (``THREADED_WORK``)."""
        return len(self.bounds) > 2

    def __call__(self, V: np.ndarray) -> np.ndarray:
        """Lower triangle of G (upper zero) for Ω_j = V_j V_j', V of shape (ℓ, k, k)."""
        V = np.ascontiguousarray(V)
        if self.cuts is not None:
            return self._tiled(V)
        parts = len(self.bounds) - 1
        G = np.zeros((parts, self.blocks.size, self.blocks.size))
        args = [(self.blocks.pointer, self.blocks.rows, self.blocks.values, V, self.bounds[i],
                 self.bounds[i + 1], G[i], _NO_SCALE) for i in range(parts)]
        if parts == 1:
            self._kernel(*args[0])
            return G[0]
        list(_executor(parts).map(lambda a: self._kernel(*a), args))
        return G.sum(axis=0)

    def _tiled(self, V: np.ndarray) -> np.ndarray:
        G = np.zeros((self.blocks.size, self.blocks.size))
        self._tiled_into(G, V, _NO_SCALE)
        return G

    def _tiled_into(self, G: np.ndarray, V: np.ndarray, scale: np.ndarray) -> None:
        from lmmpy.objective._kernels import tiled_lower_rank_update, tiled_scalar_rank_update

        values = self.blocks.values
        if values.shape[1] == 1:   # W = B_jV_j once per entry (B's rows times the scale)
            column = values[:, 0] * scale[self.blocks.rows] if len(scale) else values[:, 0]
            W = column * V[self.blocks.level_of_entry, 0, 0]
            kernel = tiled_scalar_rank_update
            args = [(self.cuts, self.blocks.rows, W, tiles, G) for tiles in self.tile_parts]
        else:
            kernel = tiled_lower_rank_update
            args = [(self.cuts, self.blocks.rows, values, V, tiles, G, scale)
                    for tiles in self.tile_parts]
        if len(args) == 1:
            kernel(*args[0])
        else:
            list(_executor(len(args)).map(lambda a: kernel(*a), args))

    def add_scaled(self, G: np.ndarray, V: np.ndarray, scale: np.ndarray) -> None:
        """G[a, b] += s_a s_b G_ab(V) for b ≤ a, into G itself (C order; its leading
        size × size block): no temporary of G's size (tiled, threads on disjoint row
        tiles, when the levels are long; else in one thread).

        Examples
        --------
        >>> blocks = level_blocks(sp.csc_matrix(np.array([[1.0], [2.0]])), 1)
        >>> G = np.zeros((3, 3))
        >>> CompiledUpdate(blocks).add_scaled(G, np.array([[[1.0]]]), np.array([1.0, 0.5]))
        >>> G.tolist()
        [[1.0, 0.0, 0.0], [1.0, 1.0, 0.0], [0.0, 0.0, 0.0]]
        """
        from lmmpy.objective._kernels import lower_rank_update

        blocks = self.blocks
        scale = np.ascontiguousarray(scale, dtype=float)   # read in the loop: no scaled copy of B
        V = np.ascontiguousarray(V)
        if self.cuts is not None:
            self._tiled_into(G, V, scale)
            return
        lower_rank_update(blocks.pointer, blocks.rows, blocks.values, V, 0, blocks.n_levels, G,
                          scale)

    def level_forms_scaled(self, N_lower: np.ndarray, scale: np.ndarray) -> np.ndarray:
        """B_j'SNSB_j (S = diag(scale)) for a symmetric N of which only the lower triangle
        of ``N_lower`` (C order, e.g. the transpose of LAPACK's upper inverse) is read."""
        return self.level_forms(N_lower, np.ascontiguousarray(scale, dtype=float))

    def level_forms(self, N: np.ndarray, scale: np.ndarray | None = None) -> np.ndarray:
        """B_j'NB_j (ℓ, k, k) for a symmetric N over the rows s (B's rows times ``scale``
        when given, in the loop), compiled, in threads (only N's lower triangle is read:
        each level's rows are sorted), tile by tile when the levels are long."""
        from lmmpy.objective._kernels import level_quadratic_forms, tiled_level_quadratic_forms

        values = self.blocks.values
        scale = _NO_SCALE if scale is None else scale
        k = self.blocks.values.shape[1]
        forms = np.zeros((self.blocks.n_levels, k, k))
        if N.strides[-1] != N.itemsize:   # rows with unit stride are read as they are (a
            N = np.ascontiguousarray(N)   # block of a larger array: no copy of it)
        kernel, where = ((level_quadratic_forms, self.blocks.pointer) if self.cuts is None
                         else (tiled_level_quadratic_forms, self.cuts))
        args = [(where, self.blocks.rows, values, N, self.bounds[i],
                 self.bounds[i + 1], forms, scale) for i in range(len(self.bounds) - 1)]
        list(_executor(len(args)).map(lambda a: kernel(*a), args))
        return forms

    def gathered(self, N_lower: np.ndarray,
                 scale: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(B_j'SNSB_j per level, t) with t_e = Σ_f N[R_e, R_f] s_f B_f over the entries f
        of e's level (entries × k: each entry's row of N S B_j, of which the blocked
        inverse makes its cross entries, :mod:`lmmpy.objective._gather_kernels`), S =
        diag(scale).  Only the lower triangle of ``N_lower`` (C order) is read."""
        from lmmpy.objective._gather_kernels import (
            level_gather,
            level_sums,
            tiled_level_gather,
            tiled_scalar_gather,
        )

        values = self.blocks.values * scale[self.blocks.rows][:, None]
        T = np.zeros(values.shape)
        N_lower = np.ascontiguousarray(N_lower)
        kernel, where, X, out = ((level_gather, self.blocks.pointer, values, T)
                                 if self.cuts is None else
                                 (tiled_level_gather, self.cuts, values, T))
        if self.cuts is not None and values.shape[1] == 1:
            kernel, X, out = tiled_scalar_gather, values[:, 0].copy(), T[:, 0]
        args = [(where, self.blocks.rows, X, N_lower, self.bounds[i], self.bounds[i + 1], out)
                for i in range(len(self.bounds) - 1)]
        if len(args) == 1:
            kernel(*args[0])
        else:
            list(_executor(len(args)).map(lambda a: kernel(*a), args))
        forms = np.empty((self.blocks.n_levels, values.shape[1], values.shape[1]))
        level_sums(self.blocks.pointer, values, T, forms)
        return forms, T


def _tile_parts(n_tiles: int, parts: int) -> list[np.ndarray]:
    """Row tiles dealt to ``parts`` threads by work (row tile I has I + 1 tiles of the lower
    triangle), the largest first to the least loaded."""
    load, dealt = [0] * parts, [[] for _ in range(parts)]
    for tile in range(n_tiles - 1, -1, -1):
        part = load.index(min(load))
        dealt[part].append(tile)
        load[part] += tile + 1
    return [np.array(tiles, dtype=np.int64) for tiles in dealt if tiles]


@functools.cache
def _executor(workers: int):
    from concurrent.futures import ThreadPoolExecutor

    return ThreadPoolExecutor(max_workers=workers, thread_name_prefix="lmmpy-rank-update")


def sparse_rank_update(blocks: LevelBlocks, pair_budget: int | None = None,
                       dense_budget: int | None = None):
    """The update for these blocks: tabulated pairs when small, else the compiled loop.

    Returns None when the pairs exceed the budget and numba is not installed
    (the caller then takes the general CHOLMOD path).
    """
    kind = update_kind(blocks, pair_budget, dense_budget)
    return None if kind is None else kind(blocks)


def update_kind(blocks: LevelBlocks, pair_budget: int | None = None,
                dense_budget: int | None = None):
    """:class:`DenseUpdate` when B is mostly filled and small; else :class:`CompiledUpdate`
    when numba is installed and the loop runs in one thread (``THREADED_WORK``); else
    :class:`PairProducts` when its table fits ``pair_budget`` entries, else
    :class:`CompiledUpdate` with numba, else None (from B's pattern only).

    The table costs more to make than the loop to run: one evaluation costs the same
    either way (InstEval 73 ms, crossed-100k 0.80 s with the inverse), but making the
    table took 70 ms and 145 ms of CPU time, a tenth and a twentieth of those fits
    (benchmarks/README.md, session 10).  It is kept for larger work, where the loop
    would run in threads, and without numba.
    """
    k = blocks.values.shape[1]
    cells = blocks.n_levels * blocks.size
    dense_budget = DENSE_BUDGET if dense_budget is None else dense_budget
    if cells * k <= dense_budget and len(blocks.rows) >= DENSE_SHARE * cells:
        return DenseUpdate
    if numba_available() and blocks.work() < THREADED_WORK:
        return CompiledUpdate
    budget = PAIR_BUDGET if pair_budget is None else pair_budget
    if blocks.n_pairs() * k * (k + 1) // 2 <= budget:
        return PairProducts
    return CompiledUpdate if numba_available() else None


@functools.cache
def numba_available() -> bool:
    """Whether numba can be imported (looked up once: the search costs a millisecond, and a
    GLMM asks at every PIRLS step)."""
    from importlib.util import find_spec

    return find_spec("numba") is not None


def _pairs_within_levels(pointer: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """All (a, b) entry pairs with b ≤ a inside each level's range of entries."""
    n_entries = int(pointer[-1])
    start = np.repeat(pointer[:-1], np.diff(pointer))
    local = np.arange(n_entries) - start
    first = np.repeat(np.arange(n_entries), local + 1)
    offsets = np.arange(len(first)) - np.repeat(np.cumsum(local + 1) - (local + 1), local + 1)
    second = np.repeat(start, local + 1) + offsets
    return first, second
