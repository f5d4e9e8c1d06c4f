"""Entries of A⁻¹ (A = Λ'Z'WZΛ + I) without a dense inverse: conditional variances, se_fit.

The conditional covariance of the spherical random effects is σ²A⁻¹ and that
of b = Λu is σ²ΛA⁻¹Λ' (Bates et al. 2015, section 5.3); lme4's ``condVar``
is its diagonal k×k block per level.  A prediction's standard error needs
A⁻¹ at the pairs of random effects one row touches.  Both are entries of A⁻¹
on the pattern of A (a row's random effects share a nonzero of Z'WZ), which
the factor already holds — solving for whole columns of A⁻¹, one per random
effect, costs q times a solve and grows as q².  :func:`selected_inverse`
gives those entries at about the cost of one factorization:

* ``dense`` path (q ≤ 128): A⁻¹ itself, from q solves;
* ``blocked`` path: with the first term's block A₁₁ block diagonal, S = the
  Schur complement on the other terms (``M`` of :mod:`._blocked`) and
  P = A₁₁⁻¹A₁ₛ, the block inverse

      A⁻¹ = [[A₁₁⁻¹ + P S⁻¹P', −P S⁻¹], [−S⁻¹P', S⁻¹]]

  gives level j's block A₁₁,ⱼ⁻¹ + W_jN_jW_j' (W_j = A₁₁,ⱼ⁻¹T', N_j the
  blocked factor's gather over the levels the level meets, as in its
  gradient), the other terms' entries from the dense S⁻¹ the path already
  affords, and the cross entries −(P S⁻¹)[(j, c), a] = −W_j t_e with t_e row a of
  S⁻¹Λ_sB_j at level j's entry e on row a, which the compiled rank update's gather
  gives with N_j (:mod:`._gather_kernels`; else sparse rows of P times S⁻¹);
* ``cholmod`` path: the sparse inverse subset of a simplicial LDL' factor of
  A (Takahashi recurrence, :mod:`._condvar_kernels`), with each level's k×k
  block put on the pattern.

Entries not on the pattern (a prediction row joining levels no observation
joined) come back as NaN; the callers solve for those rows.
"""

from __future__ import annotations

import functools
from typing import Protocol

import numpy as np
import scipy.sparse as sp

from lmmpy.objective._blocked import _ZPattern
from lmmpy.objective._factorization import require_exact
from lmmpy.objective._lambda import ThetaLayout
from lmmpy.objective._rankupdate import CompiledUpdate


class SelectedInverse(Protocol):
    """Entries of A⁻¹ at θ: :meth:`entries` for index pairs, NaN off the pattern."""

    def entries(self, rows: np.ndarray, cols: np.ndarray) -> np.ndarray: ...


class _DenseInverse:
    def __init__(self, inverse: np.ndarray):
        self.inverse = inverse

    def entries(self, rows, cols):
        return self.inverse[rows, cols]


class _SparseInverse:
    """A⁻¹ on the pattern of L, A = P'LDL'P (indices of A mapped through ``position``)."""

    def __init__(self, L: sp.csc_matrix, d: np.ndarray, permutation: np.ndarray):
        from lmmpy.objective._condvar_kernels import takahashi

        self.L = L
        self.position = np.empty_like(permutation)
        self.position[permutation] = np.arange(len(permutation))
        self.z = takahashi(L.indptr, L.indices, L.data, d)

    def entries(self, rows, cols):
        from lmmpy.objective._condvar_kernels import lookup

        rows, cols = self.position[rows], self.position[cols]
        return lookup(self.L.indptr, self.L.indices, self.z, rows, cols)


DENSE_CROSS_ENTRIES = 2_000_000   # −P S⁻¹ formed densely up to this many entries (16 MB)


class _BlockedInverse:
    """The block inverse on the blocked factor (module docstring)."""

    def __init__(self, factor, theta: np.ndarray):
        z = factor.structure
        V, L1_inverse = factor._first
        self.q1, self.k, self.qs = z.q1, z.k, z.qs
        scalar = z.k == 1   # 1 × 1 blocks: the batched matmuls' single products elementwise
        A11_inverse = (L1_inverse * L1_inverse if scalar
                       else L1_inverse.transpose(0, 2, 1) @ L1_inverse)
        self.first = A11_inverse
        self._upper = np.zeros((0, 0))
        self._dense_cross = self._gathered = None
        if not z.qs:
            return
        upper = factor._schur_inverse()
        lam = factor._rest_diagonal(theta)
        if lam is not None and isinstance(z.update, CompiledUpdate):
            N, t = z.update.gathered(upper.T, lam)   # upper.T: C order, lower valid
            self._gathered = (z.update.blocks, t)
        else:
            N = factor._level_forms(theta, upper)
        if scalar:
            W = L1_inverse * V
            self.first = A11_inverse + W * N * W
        else:
            W = L1_inverse.transpose(0, 2, 1) @ V.transpose(0, 2, 1)   # A₁₁,ⱼ⁻¹T'
            self.first = A11_inverse + W @ N @ W.transpose(0, 2, 1)
        self.W = W
        self._upper = upper   # S⁻¹, upper triangle valid
        self._factor, self._theta = factor, theta

    @functools.cached_property
    def rest(self) -> np.ndarray:
        """S⁻¹ (symmetric, dense)."""
        return np.triu(self._upper) + np.triu(self._upper, 1).T

    @functools.cached_property
    def P(self) -> sp.csr_matrix:
        """P = A₁₁⁻¹A₁ₛ = blockdiag(W_j) Z₁'WZₛ Λₛ (q₁ × qₛ, the levels each level meets)."""
        z, W = self._factor.structure, self.W
        lam = self._factor._rest_diagonal(self._theta)
        if z.k == 1 and lam is not None and isinstance(z.pattern, _ZPattern):
            # scalar first term, diagonal Λₛ: each entry one product (w_j s) λ_a, as the
            # sparse products make it, on S_s1''s pattern (sorted, made once) without the
            # five matrices between
            from lmmpy.objective._matvec import with_data

            template, order, rows = z.pattern.transposed_S_s1()
            data = W[:, 0, 0][rows] * z.S_s1.data[order]
            data *= lam[template.indices]
            return with_data(template, data)
        W_blocks = sp.block_diag(list(W), format="csr") if z.k > 1 else sp.diags(W.ravel())
        P = (W_blocks @ z.S_s1.T.tocsr() @ self._factor._Lambda_s(self._theta).tocsr()).tocsr()
        P.sort_indices()
        return P

    def entries(self, rows, cols):
        rows, cols = np.asarray(rows), np.asarray(cols)
        if len(rows):   # a gradient's pairs are all of one kind: no masks (their values
            kind = self._one_kind(rows, cols)   # as the masked assignments give them)
            if kind is not None:
                return kind
        first_r, first_c = rows < self.q1, cols < self.q1
        out = np.full(len(rows), np.nan)
        both = first_r & first_c
        same = both & (rows // self.k == cols // self.k)
        out[same] = self.first[rows[same] // self.k, rows[same] % self.k, cols[same] % self.k]
        rest = ~first_r & ~first_c
        if rest.any():
            r, c = rows[rest] - self.q1, cols[rest] - self.q1
            out[rest] = self._upper[np.minimum(r, c), np.maximum(r, c)]
        mixed = first_r != first_c
        if mixed.any():
            r = np.where(first_r, rows, cols)[mixed]
            c = np.where(first_r, cols, rows)[mixed] - self.q1
            out[mixed] = self._cross(r, c)
        return out

    def _one_kind(self, rows: np.ndarray, cols: np.ndarray) -> np.ndarray | None:
        """The entries when every pair is of one kind (first term × other terms; one level's
        block of the first term; a diagonal entry of the other terms), else None."""
        q1, k = self.q1, self.k
        rows_first, cols_first = rows.max() < q1, cols.max() < q1
        if rows_first and cols.min() >= q1:
            return self._cross(rows, cols - q1)
        if rows_first and cols_first:
            level = rows // k if k > 1 else rows
            if not np.array_equal(level, cols // k if k > 1 else cols):
                return None
            if k == 1:
                return self.first[:, 0, 0][rows]
            return self.first[level, rows % k, cols % k]
        if rows.min() >= q1 and np.array_equal(rows, cols):
            return np.diagonal(self._upper)[rows - q1]
        return None

    def _cross(self, r: np.ndarray, c: np.ndarray) -> np.ndarray:
        """(A⁻¹)[r, q₁ + c] = −(P S⁻¹)[r, c]: from the compiled update's gather when it made
        one (on the pattern: −W_j t_e, e level j's entry on row c), from the dense product
        when it is small (no compiled kernel to load), else row by row of the sparse P."""
        if self._gathered is not None:
            from lmmpy.objective._gather_kernels import find_entries

            blocks, t = self._gathered
            entry = np.empty(len(r), dtype=np.int64)
            find_entries(np.asarray(blocks.pointer, dtype=np.int64),
                         np.asarray(blocks.rows, dtype=np.int64), r // self.k,
                         np.asarray(c, dtype=np.int64), entry)
            found = entry >= 0
            if found.all():   # every pair on the pattern (a gradient's): no masks
                return self._cross_at(r, entry, t)
            out = np.empty(len(r))
            out[found] = self._cross_at(r[found], entry[found], t)
            out[~found] = self._cross_by_rows(r[~found], c[~found])
            return out
        return self._cross_by_rows(r, c)

    def _cross_at(self, r: np.ndarray, entry: np.ndarray, t: np.ndarray) -> np.ndarray:
        """−W_j t_e for first-term positions r (level j, column r mod k) and entries e."""
        if self.k == 1:
            return -self.W[r, 0, 0] * t[entry, 0]
        return -np.einsum("ed,ed->e", self.W[r // self.k, r % self.k], t[entry])

    def _cross_by_rows(self, r: np.ndarray, c: np.ndarray) -> np.ndarray:
        if self.q1 * self.qs <= DENSE_CROSS_ENTRIES:
            if self._dense_cross is None:
                from lmmpy.objective._matvec import times

                self._dense_cross = -times(self.P, self.rest)
            return self._dense_cross[r, c]
        from lmmpy.objective._condvar_kernels import sparse_rows_times_symmetric

        P = self.P   # sorted indices (__init__); S⁻¹ = self.rest is symmetric
        order = np.argsort(c, kind="stable")   # by row of S⁻¹: each row read while in cache
        out = np.empty(len(r))
        out[order] = -sparse_rows_times_symmetric(P.indptr, P.indices, P.data, self.rest,
                                                  r[order], c[order])
        return out


def selected_inverse(deviance, theta: np.ndarray) -> SelectedInverse:
    """Entries of A⁻¹ at θ on the factorization ``deviance`` uses (module docstring).

    Examples
    --------
    >>> import lmmpy
    >>> m = lmmpy.lmer("Reaction ~ Days + (Days | Subject)", lmmpy.datasets.load("sleepstudy"))
    >>> inverse = selected_inverse(m.objective, m.theta)
    >>> A = m.objective.layout.Lambda(m.theta).T @ m.objective.crossprods.ZtZ \\
    ...     @ m.objective.layout.Lambda(m.theta) + np.eye(36)
    >>> bool(np.isclose(inverse.entries(np.array([0]), np.array([1]))[0],
    ...                 np.linalg.inv(A)[0, 1]))
    True
    """
    require_exact(deviance, "A conditional variance or a prediction's standard error "
                  "(an entry of A⁻¹)")
    theta = np.asarray(theta, dtype=float)
    deviance._factorize(theta)
    path = deviance.path
    if path == "dense":
        return _DenseInverse(deviance.factor.solve_A(np.eye(deviance.layout.size)))
    if path == "blocked":
        return _BlockedInverse(deviance.factor, theta)
    return _sparse_inverse(deviance.crossprods.ZtZ, deviance.layout, deviance.factor, theta)


def _sparse_inverse(ZtZ: sp.csc_matrix, layout: ThetaLayout, factor,
                    theta: np.ndarray) -> _SparseInverse:
    """Simplicial LDL' of A with every level's k×k block on its pattern, then Takahashi."""
    from lmmpy.objective._sksparse_compat import SparseCholesky

    A = factor.scaled.matrix(theta, ZtZ.data).tocoo()
    block_rows, block_cols = _level_block_pairs(layout)
    lower = block_rows >= block_cols
    # explicit zeros keep every block on the pattern (a coo → csc conversion keeps them)
    A = sp.csc_matrix((np.concatenate([A.data, np.zeros(lower.sum())]),
                       (np.concatenate([A.row, block_rows[lower]]),
                        np.concatenate([A.col, block_cols[lower]]))), shape=A.shape)
    factor = SparseCholesky(A, supernodal=False)
    factor.factorize(A, beta=1.0)
    L, diagonal = factor.unit_ldl()
    L.sort_indices()
    return _SparseInverse(L, diagonal, factor.permutation())


def _level_block_pairs(layout: ThetaLayout) -> tuple[np.ndarray, np.ndarray]:
    """(row, col) of every entry of every level's k×k block."""
    counts = np.bincount(layout.block_start)[layout.block_start]   # k of each one's block
    rows = np.repeat(np.arange(layout.size), counts)
    within = np.arange(len(rows)) - np.repeat(np.cumsum(counts) - counts, counts)
    cols = np.repeat(layout.block_start, counts) + within
    return rows, cols


def conditional_variances(deviance, theta: np.ndarray) -> list[np.ndarray]:
    """Diagonal blocks of ΛA⁻¹Λ' per term, arrays (levels, k, k) (times σ² = lme4's condVar).

    Examples
    --------
    >>> import lmmpy
    >>> m = lmmpy.lmer("Reaction ~ Days + (Days | Subject)", lmmpy.datasets.load("sleepstudy"))
    >>> blocks = conditional_variances(m.objective, m.theta)
    >>> round(float(m.sigma * np.sqrt(blocks[0][0, 0, 0])), 3)   # lme4: condsd 12.071
    12.071
    """
    inverse = selected_inverse(deviance, theta)
    out, offset, theta_start = [], 0, 0
    for term in deviance.terms:
        k, levels = term.n_columns, term.n_levels
        first = offset + k * np.arange(levels)
        a, b = np.meshgrid(np.arange(k), np.arange(k), indexing="ij")
        rows = (first[:, None] + a.ravel()[None, :]).ravel()
        cols = (first[:, None] + b.ravel()[None, :]).ravel()
        blocks = inverse.entries(rows, cols).reshape(levels, k, k)
        T = term.template(theta[theta_start:theta_start + term.n_theta])
        out.append(T @ blocks @ T.T)
        offset += term.n_random_effects
        theta_start += term.n_theta
    return out
