"""The blocked factor (:mod:`lmmpy.objective._blocked`) on Z'WZ kept by term pairs.

A chunked fit's products are :class:`~lmmpy.objective._termblocks.TermBlocks`: the
first term's diagonal blocks and its cross block B = Z_s'WZ₁, grouped by its levels,
are what the blocked factor reads, so it takes them by reference — no positions
gathered from a compressed-column matrix, no CSR copy of B (:class:`LevelProduct`
multiplies by B from its level blocks).  With two terms nothing of B is copied.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp

from lmmpy.objective._blocked import _diagonal_rest_theta, _lower_layout, _ZStructure
from lmmpy.objective._lambda import ThetaLayout
from lmmpy.objective._rankupdate import LevelBlocks, update_kind
from lmmpy.objective._termblocks import TermBlocks


@dataclass(frozen=True)
class TermPattern:
    """What the factor reads of Z'WZ's pattern when Z'WZ is kept by term pairs (nothing to
    gather: the blocks are read as they are)."""

    blocks: LevelBlocks       # B = Z_s'WZ₁ by the first term's levels
    S_ss_target: np.ndarray   # flat indices of S_ss's non-zeros
    qs: int

    tables: dict = field(default_factory=dict, compare=False, repr=False)

    def matches(self, ZtZ) -> bool:
        return False

    def lower_entries(self, m: int):
        """As :meth:`lmmpy.objective._blocked._ZPattern.lower_entries`."""
        if m not in self.tables:
            self.tables[m] = _lower_layout(self.S_ss_target, self.qs, m)
        return self.tables[m]


class LevelProduct:
    """B = Z_s'WZ₁ (qs × q1) from its level blocks, as far as the factor multiplies by it:
    ``B @ X`` and ``B.T @ Y`` (compiled loops over the stored entries, no CSR copy)."""

    def __init__(self, blocks: LevelBlocks, transposed: bool = False):
        self.blocks, self.transposed = blocks, transposed
        k = blocks.values.shape[1]
        q1 = k * blocks.n_levels
        self.shape = (q1, blocks.size) if transposed else (blocks.size, q1)

    @property
    def T(self) -> LevelProduct:
        return LevelProduct(self.blocks, not self.transposed)

    def tocsr(self) -> sp.csr_matrix:
        """The matrix itself (made when asked for: conditional variances)."""
        b, k = self.blocks, self.blocks.values.shape[1]
        counts = np.repeat(np.diff(b.pointer), k)   # row (j, c) of B': level j's entries
        entry = np.repeat(b.pointer[:-1], k)
        order = (np.repeat(entry, counts)
                 + np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts))
        column = np.repeat(np.tile(np.arange(k), b.n_levels), counts)
        transposed = sp.csr_matrix(
            (b.values[order, column], b.rows[order].astype(np.int64),
             np.concatenate([[0], np.cumsum(counts)])), shape=(k * b.n_levels, b.size))
        return transposed if self.transposed else transposed.T.tocsr()

    def __matmul__(self, X: np.ndarray) -> np.ndarray:
        from lmmpy.objective._termblocks_kernels import columns_times, rows_times

        X = np.asarray(X, dtype=float)
        vector = X.ndim == 1
        X = np.ascontiguousarray(X.reshape(len(X), -1))
        out = np.zeros((self.shape[0], X.shape[1]))
        b = self.blocks
        (columns_times if self.transposed else rows_times)(b.pointer, b.rows, b.values, X, out)
        return out.ravel() if vector else out


def term_structure(blocks: TermBlocks, layout: ThetaLayout,
                   rest: tuple | None = None) -> _ZStructure | None:
    """The blocked factor's numbers from Z'WZ by term pairs: the first term's blocks by
    reference (with two terms, B is the stored block itself), no positions to gather;
    ``rest``: :meth:`TermBlocks.rest` when the caller has it."""
    n_levels, k = blocks.sizes[0]
    B, S_ss, targets = blocks.rest() if rest is None else rest
    qs = S_ss.shape[0]
    update = None
    if qs:
        kind = update_kind(B)
        if kind is None:
            return None
        update = kind(B)
    q1 = k * n_levels
    return _ZStructure(k, n_levels, blocks.diagonal[0], LevelProduct(B), S_ss, update,
                       _diagonal_rest_theta(layout, q1), TermPattern(B, targets, qs))
