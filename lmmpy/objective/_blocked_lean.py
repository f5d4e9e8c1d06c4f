"""The blocked path's dense Schur complement for large crossed designs: lean and reordered.

When the other terms have thousands of levels (the items of a 60,000 users ×
8,000 items ratings model: M is 8,002 square) M dominates memory (512 MB a
copy) and time (its Cholesky factor m³/3 flops, the gradient's ``dpotri``
2m³/3 more).  For scalar other terms (Λ_s diagonal) and the compiled rank
update (:class:`~lmmpy.objective._rankupdate.CompiledUpdate`), this class

* builds M in one array: the compiled loop adds λ_aλ_bG[a, b] into it, which is
  then negated and given Sᵣᵣ's few entries — no G and no other m × m array;
* orders the other terms' levels by how many levels of the first term touch
  them, rarely rated items first and popular ones last (M's factor is dense
  whatever the order, but the gradient's work is not);
* forms no M⁻¹ for the gradient: with L⁻¹ from ``dtrtri`` (m³/3, half of
  ``dpotri``) diag(M⁻¹) is the squared column norms of L⁻¹, and each level's
  N_j = B_j'Λ_sM⁻¹Λ_sB_j = Y_j'Y_j with Y_j = L⁻¹Λ_sB_j, a sum of the columns
  of L⁻¹ at the level's rows.  Column a of L⁻¹ is not zero from row a down
  only, so with the popular levels last those columns are short:
  Σ_j Σ_{a ∈ R_j} k(m − a) multiply-adds, a fraction of dpotri's second half
  (``dlauum``, m³/3) when ratings concentrate on popular items.

Everything here is in the permuted order; :attr:`order` (new position → old
row) and :attr:`position` (old row → new position) translate.
"""

from __future__ import annotations

import numpy as np
from scipy.linalg import lapack

from lmmpy.objective._rankupdate import CompiledUpdate, LevelBlocks, _executor


class LeanRest:
    """M, its solves and the gradient's inverse terms in the popular-last order.

    ``blocks``: B (the other terms' rows × the first term's levels) by level;
    ``entries``: (flat index, row, column, value) of Sᵣᵣ's stored lower triangle in M
    (order m: the other terms' qs rows, then [X y]).

    Examples
    --------
    >>> import scipy.sparse as sp
    >>> from lmmpy.objective._rankupdate import level_blocks
    >>> blocks = level_blocks(sp.csc_matrix(np.array([[1.0, 1.0], [0.0, 1.0]])), 1)
    >>> rest = LeanRest(blocks, (np.array([0, 4]), np.array([0, 1]), np.array([0, 1]),
    ...                          np.array([1.0, 2.0])), 3)
    >>> rest.order.tolist()      # row 1 is touched by one level, row 0 by two: 1 first
    [1, 0]
    """

    def __init__(self, blocks: LevelBlocks, entries: tuple, m: int):
        qs = blocks.size
        touches = np.bincount(blocks.rows, minlength=qs)
        self.order = np.argsort(touches, kind="stable")
        self.position = np.empty(qs, dtype=np.int64)
        self.position[self.order] = np.arange(qs)
        rows = self.position[blocks.rows]
        by_level = np.lexsort((rows, blocks.level_of_entry))   # sorted rows within a level
        self.blocks = LevelBlocks(blocks.pointer, rows[by_level].astype(np.intp),
                                  np.ascontiguousarray(blocks.values[by_level]), qs)
        self.update = CompiledUpdate(self.blocks)
        _, entry_rows, entry_cols, values = entries
        full = np.concatenate([self.position, np.arange(qs, m)])
        a, b = full[entry_rows], full[entry_cols]
        a, b = np.maximum(a, b), np.minimum(a, b)
        self.entries = (a * m + b, a, b, values)
        self.m, self.qs = m, qs

    def schur(self, V: np.ndarray, lam: np.ndarray) -> np.ndarray:
        """Λ̃'(Sᵣᵣ − G_ss)Λ̃ in the permuted order (lower triangle; the [X y] rows of G and
        the identity are the caller's), ``lam`` λ of the other terms then 1's, natural order."""
        lam = self.permuted(lam)
        M = np.zeros((self.m, self.m))
        self.update.add_scaled(M, V, lam[: self.qs])
        np.negative(M, out=M)
        index, rows, cols, values = self.entries
        M.ravel()[index] += values * (lam[rows] * lam[cols])
        return M

    def permuted(self, vector: np.ndarray) -> np.ndarray:
        """A vector over M's rows (natural order) in the permuted order."""
        return np.concatenate([vector[: self.qs][self.order], vector[self.qs:]])

    def inverse_terms(self, L: np.ndarray, lam: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """diag(M⁻¹) on the other terms (natural order) and the first term's level forms
        N_j = B_j'Λ_sM⁻¹Λ_sB_j (ℓ, k, k), from M's lower factor ``L`` (its leading qs × qs
        block read; C order) and λ of the other terms (natural order)."""
        from lmmpy.objective._kernels import inverse_level_forms, lower_column_norms

        qs = self.qs
        inverse = np.asfortranarray(L[:qs, :qs])            # a copy: L stays the state's
        inverse, info = lapack.dtrtri(inverse, lower=1, overwrite_c=1)
        if info != 0:
            raise np.linalg.LinAlgError(f"Schur complement not invertible ({info})")
        columns = inverse.T                                   # C order: row a = L⁻¹'s column a
        diagonal = lower_column_norms(columns)[self.position]
        values = self.blocks.values * lam[self.order][self.blocks.rows][:, None]
        k = values.shape[1]
        forms = np.zeros((self.blocks.n_levels, k, k))
        bounds = self.update.bounds
        args = [(self.blocks.pointer, self.blocks.rows, values, columns, bounds[i],
                 bounds[i + 1], forms) for i in range(len(bounds) - 1)]
        list(_executor(len(args)).map(lambda a: inverse_level_forms(*a), args))
        return diagonal, forms

    def full_inverse(self, L: np.ndarray) -> np.ndarray:
        """M⁻¹ on the other terms, symmetric, natural order (the gradient's rare case of a θ
        on its bound)."""
        inverse, info = lapack.dpotri(L[: self.qs, : self.qs].T, lower=0)
        if info != 0:
            raise np.linalg.LinAlgError(f"Schur complement not invertible ({info})")
        inverse = np.triu(inverse) + np.triu(inverse, 1).T
        return inverse[np.ix_(self.position, self.position)]
