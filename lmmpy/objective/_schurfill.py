"""The blocked path's Schur complement on the other terms: its pattern and predicted fill.

Eliminating the first term's levels (users, say) from ``A = Λ'Z'WZΛ + I``
leaves on the other terms (items) the Schur complement
``M = Λ_s'(S_ss − B'ΩB)Λ_s + I`` (:mod:`lmmpy.objective._blocked`), whose
pattern is that of S_ss and of ``G = Σ_j B_j'B_j``: two items are joined when
some user rated both.  That pattern is found without forming G, in Σ_j n_j²
steps and O(nnz) memory (:func:`lmmpy.objective._fill_kernels.joined_rows`),
and the column counts of M's sparse Cholesky factor follow from it in
O(nnz α) time (:mod:`lmmpy.objective._fill`), here under the static ordering
by ascending degree (minimum degree's first approximation: the many-times-rated
items last).  No CHOLMOD analysis of the whole of A is needed, which on a
2-million-rating, 100,000 × 50,000 design took minutes before it failed.

Two decisions read it (:func:`dense_rest_pays`, called by
:func:`lmmpy.objective._blocked.blocked_factorization` past its always-dense size):

* dense or sparse: where M's factor fills in (two large crossed factors), one
  dense Cholesky of M on LAPACK is faster than CHOLMOD's sparse factor of A,
  whose tail is that same dense triangle (:func:`dense_is_cheaper`);
* too large: a factor whose predicted non-zeros (the first term's columns,
  exactly, and M's factor) cannot fit in memory while it is at least half
  dense is refused at once (:func:`refuse_if_too_large`).  At that density no
  ordering saves much — crossing with many shared raters makes an expander,
  whose separators are a fixed share of its nodes — so the count, an upper
  bound on the best ordering's, is close to CHOLMOD's (1,203,132,089 against
  this module's count on the design above: benchmarks/README.md).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from lmmpy.objective import _fill
from lmmpy.objective._rankupdate import LevelBlocks, level_blocks

FILLED_DENSITY = 0.1   # a complement this share of whose off-diagonal entries is stored is dense
DENSE_SPEEDUP = 5.0    # LAPACK's dense flops against a sparse factor's (dense_is_cheaper)
DENSE_COPIES = 4       # m × m arrays an evaluation of the dense Schur complement may hold
REFUSED_SHARE = 0.5    # a factor at least this dense is refused early when it cannot fit
PATTERN_BUDGET = 0.25  # share of the available memory the pattern's pairs may take
CHOLMOD_INDEX_LIMIT = 2**31   # entries a CHOLMOD factor with 32-bit integers can hold
JOINED_BITS_BUDGET = 2**27    # bytes of the bit per pair of the early density check (128 MB)


@dataclass(frozen=True)
class SchurFill:
    """The predicted sparse Cholesky factor of the Schur complement (order ``size``).

    Examples
    --------
    >>> fill = SchurFill(size=4, nonzeros=10, flops=30.0, first_nonzeros=0)
    >>> fill.dense_share
    1.0
    """

    size: int
    nonzeros: int        # non-zeros of M's factor, diagonal included
    flops: float         # Σ_j c_j², c_j the column counts (the sparse factor's work)
    first_nonzeros: int  # non-zeros of the first term's columns of A's factor
    stored: int = 0      # entries of M's factor as supernodal storage (_fill.stored_entries)

    @property
    def dense_share(self) -> float:
        return self.nonzeros / (self.size * (self.size + 1) / 2)


def schur_pattern(blocks: LevelBlocks, ss_rows: np.ndarray, ss_cols: np.ndarray) -> sp.csr_matrix:
    """The lower triangle (diagonal included) of M's pattern by rows: G's (from ``blocks``,
    B by the first term's levels) and S_ss's entries (``ss_rows``, ``ss_cols``).

    Examples
    --------
    >>> from lmmpy.objective._rankupdate import level_blocks
    >>> B = sp.csc_matrix(np.array([[1.0, 0.0], [1.0, 1.0], [0.0, 1.0]]))  # 3 items, 2 users
    >>> schur_pattern(level_blocks(B, 1), np.array([]), np.array([])).toarray().astype(int)
    array([[1, 0, 0],
           [1, 1, 0],
           [0, 1, 1]])
    """
    from lmmpy.objective._fill_kernels import joined_rows

    size = blocks.size
    order = np.argsort(blocks.rows, kind="stable")
    by_row_level = blocks.level_of_entry[order].astype(np.int64)
    by_row_pointer = np.concatenate([[0], np.cumsum(np.bincount(blocks.rows, minlength=size))])
    by_row_pointer = by_row_pointer.astype(np.int64)
    pointer, rows = blocks.pointer.astype(np.int64), blocks.rows.astype(np.int64)
    indptr = np.zeros(size + 1, dtype=np.int64)
    counts = joined_rows(pointer, rows, by_row_pointer, by_row_level, size, indptr,
                         np.empty(0, dtype=np.int32))
    indptr[1:] = np.cumsum(counts)
    indices = np.empty(int(indptr[-1]), dtype=np.int32)
    joined_rows(pointer, rows, by_row_pointer, by_row_level, size, indptr, indices)
    pattern = sp.csr_matrix((np.ones(len(indices), dtype=np.int8), indices, indptr),
                            shape=(size, size))
    ss_rows, ss_cols = np.maximum(ss_rows, ss_cols), np.minimum(ss_rows, ss_cols)
    if np.any(ss_rows != ss_cols):
        ss = sp.csr_matrix((np.ones(len(ss_rows), dtype=np.int8), (ss_rows, ss_cols)),
                           shape=(size, size))
        pattern = sp.csr_matrix(pattern + ss)
        pattern.data[:] = 1
    return pattern


def off_diagonal_density(pattern: sp.csr_matrix) -> float:
    """The share of the off-diagonal entries of a lower pattern (diagonal stored) that are
    stored.

    Examples
    --------
    >>> off_diagonal_density(sp.csr_matrix(np.tril(np.ones((3, 3)))))
    1.0
    """
    size = pattern.shape[0]
    if size < 2:
        return 1.0
    return (pattern.nnz - size) / (size * (size - 1) / 2)


def pattern_fits(blocks: LevelBlocks) -> bool:
    """Whether the pattern's pairs (at most Σ_j n_j², four bytes each) fit in the budget."""
    memory = _fill.available_memory()
    return memory is None or 8 * blocks.n_pairs() <= PATTERN_BUDGET * memory


def predicted_fill(pattern: sp.csr_matrix, blocks: LevelBlocks) -> SchurFill:
    """The column counts of M's factor under the ascending-degree ordering (module docstring),
    with the first term's columns of A's factor (level j: its k columns, each with the
    level's own rows below: k(k+1)/2 + k·n_j).

    Examples
    --------
    >>> from lmmpy.objective._rankupdate import level_blocks
    >>> B = sp.csc_matrix(np.ones((3, 2)))              # two users who rated all 3 items
    >>> blocks = level_blocks(B, 1)
    >>> fill = predicted_fill(schur_pattern(blocks, np.array([]), np.array([])), blocks)
    >>> fill.nonzeros, fill.first_nonzeros, fill.dense_share, fill.stored
    (6, 8, 1.0, 9)
    """
    size = pattern.shape[0]
    degree = np.diff(pattern.indptr) + np.bincount(pattern.indices, minlength=size)
    counts, parent = _fill._counts_and_tree(pattern, np.argsort(degree, kind="stable"))
    counts = counts.astype(np.int64)
    k = blocks.values.shape[1]
    per_level = np.diff(blocks.pointer).astype(np.int64)
    first = int(np.sum(k * (k + 1) // 2 + k * per_level))
    return SchurFill(size, int(counts.sum()), float(np.sum(counts.astype(float) ** 2)), first,
                     _fill.supernodal_entries(counts, parent))


def dense_is_cheaper(fill: SchurFill) -> bool:
    """Whether one dense Cholesky of M (size³/3 flops) costs less than its sparse factor
    (``flops``) at ``DENSE_SPEEDUP`` times LAPACK's speed per flop.

    Examples
    --------
    >>> dense_is_cheaper(SchurFill(3000, 4_000_000, 9e9, 0))
    True
    >>> dense_is_cheaper(SchurFill(3000, 6_000, 6e3, 0))
    False
    """
    return fill.size**3 / 3 <= DENSE_SPEEDUP * fill.flops


def dense_fits(size: int, memory: int | None = None) -> bool:
    """Whether ``DENSE_COPIES`` size × size arrays fit in half the available memory.

    Examples
    --------
    >>> dense_fits(8_000, 8 * 10**9), dense_fits(50_000, 16 * 10**9)
    (True, False)
    """
    memory = _fill.available_memory() if memory is None else memory
    return memory is None or DENSE_COPIES * 8.0 * size * size <= memory / 2


def refuse_if_too_large(fill: SchurFill, n_random_effects: int) -> None:
    """Raise :class:`~lmmpy.objective._fill.FactorTooLargeError` when the predicted factor
    (at least ``REFUSED_SHARE`` dense) needs more than the available memory as CHOLMOD
    stores it (supernodes as dense rectangles, :func:`lmmpy.objective._fill.stored_entries`:
    the check CHOLMOD's own path makes after its analysis), or has more entries than
    CHOLMOD's 32-bit integers count (its analysis then fails with ``problem too large``)."""
    if fill.dense_share < REFUSED_SHARE:
        return
    memory = _fill.available_memory()
    nonzeros = fill.nonzeros + fill.first_nonzeros
    stored = fill.stored + fill.first_nonzeros
    too_many = stored >= CHOLMOD_INDEX_LIMIT
    if too_many or (memory is not None and _fill.BYTES_PER_ENTRY * stored > memory):
        reason = (f"{stored:,} entries as CHOLMOD stores them, past the 32-bit integers "
                  "it is called with"
                  if too_many else None)
        raise _fill.FactorTooLargeError(_fill.too_large_message(
            n_random_effects, nonzeros, memory, reason=reason, stored=stored, predicted=True))


def dense_rest_pays(ZtZ: sp.csc_matrix, first, m: int, q: int) -> bool:
    """Whether the blocked path's Schur complement of order m (past its always-dense size)
    fits in memory (``dense_fits``) and beats a sparse factor: at least ``FILLED_DENSITY``
    of its off-diagonal entries stored, or :func:`dense_is_cheaper` by the predicted fill.
    From Z'WZ's pattern (``first`` the first random-effects term), before the blocked
    structure is made; a complement that cannot fit is checked by
    :func:`refuse_if_too_large` (q: the random effects), which raises at once when the
    sparse factor cannot fit either."""
    blocks, ss_rows, ss_cols = _rest_pattern(ZtZ, first)
    if blocks is None:
        return False
    return rest_pays(blocks, ss_rows, ss_cols, m, q)


def rest_pays(blocks: LevelBlocks, ss_rows: np.ndarray, ss_cols: np.ndarray, m: int,
              q: int) -> bool:
    """:func:`dense_rest_pays` from B by the first term's levels and S_ss's entries.

    A complement whose pairs joined by some level reach ``FILLED_DENSITY`` is known to
    be dense after a few levels when the levels are long (a user with a thousand of
    10,000 items): :func:`~lmmpy.objective._termblocks_kernels.joined_share_reaches`
    marks them a bit per pair and stops there, where the whole pattern would cost
    Σ_j n_j² steps and eight bytes a pair (10¹¹ of them for 10⁸ ratings).
    """
    if not blocks.size:
        return False
    fits = dense_fits(m)
    if fits and blocks.size**2 / 2 <= JOINED_BITS_BUDGET * 8:
        from lmmpy.objective._termblocks_kernels import joined_share_reaches

        if joined_share_reaches(blocks.pointer, blocks.rows, blocks.size, FILLED_DENSITY):
            return True
    if not pattern_fits(blocks):
        return False
    schur = schur_pattern(blocks, ss_rows, ss_cols)
    if fits and off_diagonal_density(schur) >= FILLED_DENSITY:
        return True
    fill = predicted_fill(schur, blocks)
    if fits:
        return dense_is_cheaper(fill)
    refuse_if_too_large(fill, q)
    return False


def _rest_pattern(ZtZ: sp.csc_matrix, first):
    """B = Z_s'WZ₁ by the first term's levels and S_ss's entries (rows, columns), or
    (None, ·, ·) when the first term's block is not block diagonal."""
    k, q1 = first.n_columns, first.n_random_effects
    diagonal = ZtZ[:q1, :q1].tocoo()
    if np.any(diagonal.row // k != diagonal.col // k):
        return None, None, None
    rest = ZtZ[q1:, q1:].tocoo()
    return level_blocks(ZtZ[q1:, :q1], k), rest.row, rest.col
