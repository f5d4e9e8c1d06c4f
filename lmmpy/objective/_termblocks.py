"""Z'WZ stored by term pairs, each block once: the products of a chunked fit.

The compressed-column Z'WZ holds both triangles: for two crossed factors every pair of
levels seen together is stored twice, 12 bytes an entry each time (4.6 GB for the
100,000 × 10,000 + slope model on 10⁸ rows), and the blocked factor then read its
cross block B = Z_s'WZ₁ out of it into arrays of its own.  :class:`TermBlocks` keeps

* each term's diagonal block as its levels' k×k blocks, (ℓ, k, k);
* each cross block Z_u'WZ_t (t before u) once, grouped by t's levels as the blocked
  factor reads it (:class:`~lmmpy.objective._rankupdate.LevelBlocks`: level j's
  columns of u, sorted, with k_t values each; 32-bit rows) — the factor takes
  the first term's blocks by reference, with no copy.

Chunks' products add level by level on the union of the patterns
(:meth:`TermBlocks.added`; when the caller gives the operands up, their memory is
returned to the system behind the merge, so that a sum of two partials does not hold
both and the sum at once).  Consumers that need the compressed-column matrix
(CHOLMOD, the dense path, Kenward–Roger, conditional variances) get it from
:meth:`TermBlocks.tocsc`, made when first asked for
(:attr:`lmmpy.objective.CrossProducts.ZtZ`): the same pattern and values as the
in-memory products.
"""

from __future__ import annotations

import ctypes
import functools
import mmap
import sys
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from lmmpy.objective._rankupdate import LevelBlocks


@dataclass(frozen=True)
class TermBlocks:
    """Z'WZ by term pairs (module docstring).

    Attributes
    ----------
    sizes : (levels, columns) of each term, in Z's order
    diagonal : per term, its levels' k×k blocks of Z_t'WZ_t, (ℓ, k, k)
    cross : the blocks Z_u'WZ_t for t < u in the order (0, 1), (0, 2), …, (1, 2), …,
        each grouped by t's levels (rows: u's columns)

    Examples
    --------
    >>> from lmmpy.datasets import load
    >>> from lmmpy.design import build_design
    >>> from lmmpy.formula import parse_formula
    >>> d = build_design(parse_formula("y ~ 1 + (1 | g) + (1 | h)"),
    ...                  __import__("pandas").DataFrame({"y": [1., 2, 3], "g": [0, 1, 1],
    ...                                                  "h": [0, 0, 1]}))
    >>> blocks = term_blocks(d.terms, None)
    >>> blocks.tocsc().toarray().tolist()
    [[1.0, 0.0, 1.0, 0.0], [0.0, 2.0, 1.0, 1.0], [1.0, 1.0, 2.0, 0.0], [0.0, 1.0, 0.0, 1.0]]
    """

    sizes: tuple[tuple[int, int], ...]
    diagonal: tuple[np.ndarray, ...]
    cross: tuple[LevelBlocks, ...]

    @property
    def starts(self) -> np.ndarray:
        return np.cumsum([0] + [levels * k for levels, k in self.sizes])

    @property
    def shape(self) -> tuple[int, int]:
        q = int(self.starts[-1])
        return q, q

    @property
    def pairs(self) -> list[tuple[int, int]]:
        n = len(self.sizes)
        return [(t, u) for t in range(n) for u in range(t + 1, n)]

    @property
    def nnz(self) -> int:
        """Entries of the compressed-column Z'WZ (both triangles) these blocks stand for."""
        total = sum(block.size for block in self.diagonal)
        return total + 2 * sum(block.values.size for block in self.cross)

    @property
    def nbytes(self) -> int:
        return (sum(block.nbytes for block in self.diagonal)
                + sum(b.pointer.nbytes + b.rows.nbytes + b.values.nbytes for b in self.cross))

    def block(self, t: int, u: int) -> LevelBlocks:
        """Z_u'WZ_t grouped by t's levels (t < u)."""
        return self.cross[self.pairs.index((t, u))]

    def added(self, other: TermBlocks, in_place: bool = False) -> TermBlocks:
        """The products of the rows of both; ``in_place``: the operands are given up, and
        their memory is returned as the sum is made (:func:`_added`): not the operands
        and the sum at once."""
        if self.sizes != other.sizes:
            raise ValueError("cross-products of different designs cannot be added")
        diagonal = tuple(a + b for a, b in zip(self.diagonal, other.diagonal, strict=True))
        cross = tuple(_added(a, b, in_place) for a, b in zip(self.cross, other.cross,
                                                               strict=True))
        return TermBlocks(self.sizes, diagonal, cross)

    def __add__(self, other: TermBlocks) -> TermBlocks:
        if not isinstance(other, TermBlocks):
            return NotImplemented
        return self.added(other)

    def times(self, X: np.ndarray) -> np.ndarray:
        """Z'WZ X from the blocks (compiled loops over the cross blocks' entries), without
        the compressed-column matrix."""
        from lmmpy.objective._termblocks_kernels import columns_times, rows_times

        X = np.asarray(X, dtype=float)
        vector = X.ndim == 1
        X = np.ascontiguousarray(X.reshape(len(X), -1))
        out = np.empty_like(X)
        starts = self.starts
        for t, (levels, k) in enumerate(self.sizes):
            part = slice(starts[t], starts[t + 1])
            out[part] = (self.diagonal[t] @ X[part].reshape(levels, k, -1)).reshape(levels * k,
                                                                                    -1)
        for (t, u), block in zip(self.pairs, self.cross, strict=True):
            at, au = slice(starts[t], starts[t + 1]), slice(starts[u], starts[u + 1])
            rows_times(block.pointer, block.rows, block.values, X[at], out[au])
            columns_times(block.pointer, block.rows, block.values, X[au], out[at])
        return out.ravel() if vector else out

    def tocsc(self) -> sp.csc_matrix:
        """Z'WZ in compressed columns, both triangles, sorted, explicit zeros kept."""
        starts, parts = self.starts, []
        for t, (levels, k) in enumerate(self.sizes):
            level = np.repeat(np.arange(levels), k * k)
            a = np.tile(np.repeat(np.arange(k), k), levels)
            b = np.tile(np.tile(np.arange(k), k), levels)
            parts.append((starts[t] + level * k + a, starts[t] + level * k + b,
                          self.diagonal[t].ravel()))
        for (t, u), block in zip(self.pairs, self.cross, strict=True):
            k = self.sizes[t][1]
            level = np.repeat(block.level_of_entry, k)
            column = starts[t] + level * k + np.tile(np.arange(k), len(block.rows))
            row = starts[u] + np.repeat(block.rows.astype(np.int64), k)
            values = block.values.ravel()
            parts += [(row, column, values), (column, row, values)]
        rows, columns, values = (np.concatenate(p) for p in zip(*parts, strict=True))
        matrix = sp.csc_matrix((values, (rows, columns)), shape=self.shape)
        matrix.sort_indices()
        return matrix

    def dense(self) -> np.ndarray:
        return self.tocsc().toarray()

    def rest(self) -> tuple[LevelBlocks, sp.csr_matrix, np.ndarray]:
        """For the blocked factor: B = Z_s'WZ₁ by the first term's levels (the stored block
        itself with two terms; else the other terms' blocks side by side, a copy),
        S_ss = Z_s'WZ_s (s: the terms after the first) in CSR, and the flat indices
        (row · q_s + column) of its entries.  Never dense: with a scalar item term it is a
        diagonal, where a dense q_s² array is 0.8 GB for 10,000 items (and resident in
        whole, numpy's large arrays being on huge pages)."""
        starts = self.starts - self.starts[1]
        qs = int(starts[-1])
        rows, columns, values = [], [], []
        for t in range(1, len(self.sizes)):
            levels, k = self.sizes[t]
            index = starts[t] + np.arange(levels)[:, None] * k + np.arange(k)
            shape = self.diagonal[t].shape
            rows.append(np.broadcast_to(index[:, :, None], shape).ravel())
            columns.append(np.broadcast_to(index[:, None, :], shape).ravel())
            values.append(self.diagonal[t].ravel())
        for (t, u), block in zip(self.pairs, self.cross, strict=True):
            if t == 0:
                continue
            k = self.sizes[t][1]
            column = starts[t] + np.repeat(block.level_of_entry, k) * k + np.tile(
                np.arange(k), len(block.rows))
            row = starts[u] + np.repeat(block.rows.astype(np.int64), k)
            rows += [row, column]
            columns += [column, row]
            values += [block.values.ravel()] * 2
        if rows:
            S_ss = sp.csr_matrix((np.concatenate(values), (np.concatenate(rows),
                                                           np.concatenate(columns))),
                                 shape=(qs, qs))
        else:
            S_ss = sp.csr_matrix((qs, qs))
        S_ss.sort_indices()
        coo = S_ss.tocoo()
        targets = coo.row.astype(np.int64) * qs + coo.col
        firsts = [(self.block(0, u), int(starts[u])) for u in range(1, len(self.sizes))]
        if len(firsts) == 1:
            return firsts[0][0], S_ss, targets
        return _side_by_side(firsts, qs), S_ss, targets


def term_blocks(terms, weights: np.ndarray | None) -> TermBlocks:
    """Z'WZ of a design's terms by term pairs (from the grouping codes, in one compiled pass
    per pair: :mod:`lmmpy.objective._termblocks_kernels`)."""
    from lmmpy.objective._crossprod import _level_blocks_array

    diagonal = tuple(_level_blocks_array(term, weights) for term in terms)
    weighted = [term.model_matrix.values if weights is None
                else term.model_matrix.values * weights[:, None] for term in terms]
    cross = tuple(_cross_levels(terms[t], terms[u], weighted[u])
                  for t in range(len(terms)) for u in range(t + 1, len(terms)))
    return TermBlocks(tuple((term.n_levels, term.n_columns) for term in terms), diagonal,
                      cross)


def _cross_levels(term_t, term_u, WV_u: np.ndarray) -> LevelBlocks:
    """Z_u'WZ_t grouped by t's levels, from the codes."""
    from lmmpy.objective._crossprod_kernels import pair_runs
    from lmmpy.objective._termblocks_kernels import fill_level_pairs

    codes_t = np.ascontiguousarray(term_t.codes)
    codes_u = np.ascontiguousarray(term_u.codes)
    kt, ku = term_t.n_columns, term_u.n_columns
    order, distinct = pair_runs(codes_t, term_t.n_levels, codes_u, term_u.n_levels)
    pointer = np.zeros(term_t.n_levels + 1, dtype=np.int64)
    np.cumsum(distinct * ku, out=pointer[1:])
    rows = np.empty(int(pointer[-1]), dtype=_row_type(term_u.n_levels * ku))
    values = np.zeros((len(rows), kt))
    fill_level_pairs(order, codes_t, np.ascontiguousarray(term_t.model_matrix.values,
                                                          dtype=float),
                     codes_u, np.ascontiguousarray(WV_u, dtype=float), pointer, rows, values)
    return LevelBlocks(pointer, rows, values, term_u.n_levels * ku)


def _row_type(size: int):
    return np.int32 if size < 2**31 else np.int64


def _added(a: LevelBlocks, b: LevelBlocks, in_place: bool) -> LevelBlocks:
    """a + b level by level on the union of the rows; ``in_place``: a and b are given up,
    and the pages of their arrays that the merge has passed are returned to the system
    as it goes (:func:`_release`), so that the sum, the operands' unread parts and one
    range of levels are all that is held."""
    from lmmpy.objective._sum_kernels import _union_counts as union_counts
    from lmmpy.objective._termblocks_kernels import merge_levels

    if (a.pointer.shape != b.pointer.shape or a.size != b.size
            or a.values.shape[1] != b.values.shape[1]):
        raise ValueError("cross-products of different designs cannot be added")
    counts = np.empty(len(a.pointer) - 1, dtype=np.int64)
    union_counts(a.pointer, a.rows, b.pointer, b.rows, counts)
    pointer = np.zeros_like(a.pointer)
    np.cumsum(counts, out=pointer[1:])
    del counts
    nnz = int(pointer[-1])
    rows = np.empty(nnz, dtype=np.promote_types(a.rows.dtype, b.rows.dtype))
    values = np.empty((nnz, a.values.shape[1]))
    levels = len(pointer) - 1
    steps = MERGE_STEPS if in_place and levels else 1
    bounds = np.searchsorted(pointer, np.linspace(0, nnz, steps + 1)[1:-1]).tolist()
    first = 0
    for last in [*bounds, levels]:
        merge_levels(a.pointer, a.rows, a.values, b.pointer, b.rows, b.values, pointer, rows,
                     values, first, last)
        if in_place:
            for block in (a, b):
                _release(block.rows, int(block.pointer[last]))
                _release(block.values, int(block.pointer[last]))
        first = last
    return LevelBlocks(pointer, rows, values, a.size)


MERGE_STEPS = 64   # ranges of levels an in-place sum is made in (its operands released behind)


def _release(array: np.ndarray, stop: int) -> None:
    """Return to the system the whole pages of ``array``'s memory before entry ``stop``
    (``madvise(MADV_DONTNEED)``: they read as zeros afterwards; the array is given up).
    Linux only; elsewhere nothing is released (the sum is the same)."""
    release = _madvise()
    if release is None or stop <= 0 or not array.flags.c_contiguous:
        return
    page = mmap.PAGESIZE
    start = array.ctypes.data
    end = start + stop * (array.nbytes // max(len(array), 1))
    first, last = -(-start // page) * page, end // page * page
    if last > first:
        release(ctypes.c_void_p(first), ctypes.c_size_t(last - first), _MADV_DONTNEED)


_MADV_DONTNEED = 4


@functools.cache
def _madvise():
    if not sys.platform.startswith("linux"):
        return None
    try:
        function = ctypes.CDLL(None, use_errno=True).madvise
    except (OSError, AttributeError):
        return None
    function.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
    function.restype = ctypes.c_int
    return function


def _side_by_side(firsts: list[tuple[LevelBlocks, int]], size: int) -> LevelBlocks:
    """Blocks of several terms over the same levels as one (rows offset by each term's
    start): level j's rows of the first term, then of the second, … (sorted)."""
    counts = sum(np.diff(block.pointer) for block, _ in firsts)
    pointer = np.zeros(len(counts) + 1, dtype=np.int64)
    np.cumsum(counts, out=pointer[1:])
    rows = np.empty(int(pointer[-1]), dtype=_row_type(size))
    values = np.empty((len(rows), firsts[0][0].values.shape[1]))
    filled = pointer[:-1].copy()
    for block, offset in firsts:
        n = np.diff(block.pointer)
        target = np.repeat(filled - block.pointer[:-1], n) + np.arange(len(block.rows))
        rows[target] = block.rows + offset
        values[target] = block.values
        filled += n
    return LevelBlocks(pointer, rows, values, size)
