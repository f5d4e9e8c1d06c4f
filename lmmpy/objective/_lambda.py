"""The relative covariance factor Λ_θ and the map θ → Λ'Z'WZΛ on a fixed pattern.

Λ_θ is block diagonal with one k×k lower-triangular block T per level of each
term (Bates et al. 2015, eq. 4 and section 2.3).  CHOLMOD's numeric
refactorization needs the sparsity pattern of ``Λ'Z'WZΛ + I`` to stay the one
it analysed, whatever θ is (a θ on its bound must not drop entries), but
scipy's sparse products prune zeros.  So the product is written out once as a
list of contributions

    (Λ'SΛ)[a, b] += T[i, a] · S[i, j] · T[j, b]

each naming its entry of S, its two θ's and its place in the fixed pattern;
an evaluation is one gather, two multiplies and a ``bincount`` — no sparse
algebra, and nothing that depends on n.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from lmmpy._boundary import theta_positions
from lmmpy.design import RandomEffectsTerm


@dataclass(frozen=True)
class ThetaLayout:
    """Where θ sits in Λ: for every random effect, its block and position in T.

    Attributes
    ----------
    block_start : first random-effect index of each random effect's k×k block
    position : index of each random effect within its block (row of T)
    block_size : k of each random effect's block
    theta_offset : index in θ of the term's first θ, per random effect
    lambda_rows, lambda_cols, lambda_theta : the entries of Λ (rows ≥ cols within
        a block) and the θ index of each
    """

    block_start: np.ndarray
    position: np.ndarray
    lambda_rows: np.ndarray
    lambda_cols: np.ndarray
    lambda_theta: np.ndarray
    size: int

    @functools.cached_property
    def entries_by_theta(self) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        """Λ's entries grouped by θ: their rows and columns as n_θ × (most entries)
        arrays, padded, and a mask (n_θ × most × 1) of the real ones (None when
        every θ has as many).  Read-only, made once per layout."""
        thetas = self.lambda_theta
        n_theta = int(thetas.max()) + 1
        order = np.argsort(thetas, kind="stable")
        counts = np.bincount(thetas, minlength=n_theta)
        slot = np.arange(len(thetas)) - np.repeat(np.cumsum(counts) - counts, counts)
        padded_rows = np.zeros((n_theta, counts.max()), dtype=np.intp)
        padded_cols = np.zeros_like(padded_rows)
        mask = np.zeros((*padded_rows.shape, 1))
        padded_rows[thetas[order], slot] = self.lambda_rows[order]
        padded_cols[thetas[order], slot] = self.lambda_cols[order]
        mask[thetas[order], slot] = 1.0
        for array in (padded_rows, padded_cols, mask):
            array.flags.writeable = False
        return padded_rows, padded_cols, None if np.all(counts == counts.max()) else mask

    def Lambda(self, theta: np.ndarray) -> sp.csc_matrix:
        """Λ_θ as a CSC matrix (explicit zeros kept)."""
        return sp.csc_matrix(
            (theta[self.lambda_theta], (self.lambda_rows, self.lambda_cols)),
            shape=(self.size, self.size),
        )


def theta_layout(terms: tuple[RandomEffectsTerm, ...]) -> ThetaLayout:
    """Where θ sits in Λ for these terms (shared between designs of the same shape:
    its arrays are read-only)."""
    return _layout(tuple((term.n_levels, term.n_columns, term.correlated) for term in terms))


@functools.lru_cache(maxsize=64)
def _layout(shape: tuple[tuple[int, int, bool], ...]) -> ThetaLayout:
    """The layout of terms of these (levels, k, correlated): nothing else of a term
    matters, and a bootstrap or a simulation fits the same shape again and again."""
    starts, positions, rows, cols, thetas = [], [], [], [], []
    offset_q, offset_theta = 0, 0
    for levels, k, correlated in shape:
        theta_rows, theta_cols = theta_positions(k, correlated)
        block = offset_q + k * np.arange(levels)
        starts.append(np.repeat(block, k))
        positions.append(np.tile(np.arange(k), levels))
        rows.append((block[:, None] + theta_rows[None, :]).ravel())
        cols.append((block[:, None] + theta_cols[None, :]).ravel())
        thetas.append(np.tile(offset_theta + np.arange(len(theta_rows)), levels))
        offset_q += levels * k
        offset_theta += len(theta_rows)
    arrays = [np.concatenate(parts) for parts in (starts, positions, rows, cols, thetas)]
    for array in arrays:
        array.flags.writeable = False
    return ThetaLayout(*arrays, size=offset_q)


@dataclass(frozen=True)
class ScaledCrossProduct:
    """Precomputed contributions of θ to the lower triangle of ``Λ'SΛ``.

    ``pattern`` is the CSC lower triangle (diagonal always present) whose
    ``data`` :meth:`values` fills.
    """

    pattern: sp.csc_matrix
    source: np.ndarray       # index into S.data
    theta_left: np.ndarray   # θ index of T[i, a]
    theta_right: np.ndarray  # θ index of T[j, b]
    target: np.ndarray       # index into pattern.data
    entry_left: np.ndarray   # index of Λ[i, a] in the layout's lambda_* arrays
    entry_right: np.ndarray  # index of Λ[j, b]

    def values(self, theta: np.ndarray, S_data: np.ndarray) -> np.ndarray:
        contributions = S_data[self.source] * theta[self.theta_left] * theta[self.theta_right]
        return np.bincount(self.target, contributions, minlength=self.pattern.nnz)

    def matrix(self, theta: np.ndarray, S_data: np.ndarray) -> sp.csc_matrix:
        out = self.pattern.copy()
        out.data = self.values(theta, S_data)
        return out

    def lambda_gradient(self, theta: np.ndarray, S_data: np.ndarray, weights: np.ndarray,
                        n_entries: int) -> np.ndarray:
        """∂/∂Λ_e of Σ_ab W[a, b] (Λ'SΛ)[a, b] for every entry e of Λ (the layout's order),
        W symmetric and given by its values on the pattern (``weights``, as
        ``pattern.data``); with W = A⁻¹ this is ∂log|Λ'SΛ + I|/∂Λ_e.

        Each contribution S[i, j] T[i, a] T[j, b] to the lower triangle stands for
        itself and, off the diagonal, its mirror image: it adds W[a, b] S[i, j]
        times the other factor to each of its two entries of Λ, twice off the diagonal.
        """
        pattern = self.pattern
        columns = np.repeat(np.arange(pattern.shape[1]), np.diff(pattern.indptr))
        weights = np.where(pattern.indices == columns, weights, 2.0 * weights)
        w = weights[self.target] * S_data[self.source]
        return (np.bincount(self.entry_left, w * theta[self.theta_right], minlength=n_entries)
                + np.bincount(self.entry_right, w * theta[self.theta_left], minlength=n_entries))


def scaled_cross_product(S: sp.csc_matrix, layout: ThetaLayout) -> ScaledCrossProduct:
    """Write ``Λ'SΛ`` (lower triangle) as contributions of the entries of S."""
    S_coo = S.tocoo()
    by_row = _lambda_entries_by_row(layout)
    source, a, theta_left, entry_left = _expand(np.arange(S.nnz), S_coo.row, by_row)
    j = S_coo.col[source]
    right_index, b, theta_right, entry_right = _expand(np.arange(len(source)), j, by_row)
    source, a = source[right_index], a[right_index]
    theta_left, entry_left = theta_left[right_index], entry_left[right_index]
    lower = a >= b
    source, a, b = source[lower], a[lower], b[lower]
    theta_left, theta_right = theta_left[lower], theta_right[lower]
    entry_left, entry_right = entry_left[lower], entry_right[lower]
    q = layout.size
    keys = np.concatenate([b.astype(np.int64) * q + a, np.arange(q, dtype=np.int64) * (q + 1)])
    unique_keys, inverse = np.unique(keys, return_inverse=True)
    pattern = sp.csc_matrix(
        (np.zeros(len(unique_keys)), (unique_keys % q, unique_keys // q)), shape=(q, q)
    )
    pattern.sort_indices()
    return ScaledCrossProduct(
        pattern=pattern,
        source=source,
        theta_left=theta_left,
        theta_right=theta_right,
        target=inverse[: len(source)],
        entry_left=entry_left,
        entry_right=entry_right,
    )


def _lambda_entries_by_row(layout: ThetaLayout) -> tuple[np.ndarray, ...]:
    """Entries of Λ sorted by row: (row pointer, column, θ index, index of the entry)."""
    order = np.argsort(layout.lambda_rows, kind="stable")
    counts = np.bincount(layout.lambda_rows, minlength=layout.size)
    pointer = np.concatenate([[0], np.cumsum(counts)])
    return pointer, layout.lambda_cols[order], layout.lambda_theta[order], order


def _expand(ids: np.ndarray, rows: np.ndarray, by_row) -> tuple[np.ndarray, ...]:
    """For each id with Λ-row ``rows[id]``, one output per entry of Λ in that row:
    (id, column, θ index, index of the entry)."""
    pointer, columns, thetas, order = by_row
    counts = pointer[rows + 1] - pointer[rows]
    repeated = np.repeat(ids, counts)
    within = np.arange(len(repeated)) - np.repeat(np.cumsum(counts) - counts, counts)
    entry = np.repeat(pointer[rows], counts) + within
    return repeated, columns[entry], thetas[entry], order[entry]
