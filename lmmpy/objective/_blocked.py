"""The blocked path: Cholesky factor of the augmented system by random-effects term.

Order the columns as [first term | other terms s | X y] (the first term has
the most levels, lme4's order) and write the augmented matrix

    [ZΛ X y]'W[ZΛ X y] + diag(I_q, 0) = [[A₁₁, A₁ᵣ], [Aᵣ₁, Aᵣᵣ]]

(Bates et al. 2015, eq. 18; Bates, Alday & Kokandakar 2025 for the blocks).
Every row belongs to one level of the first term, so A₁₁ = I ⊗ … is block
diagonal: A₁₁ = diag_j(T'D_jT + I) with D_j the k×k cross-product of level j
and T the term's template.  Its Cholesky factor is a batch of k×k factors
L_j.  Eliminating it leaves the dense Schur complement on the rest,

    Aᵣᵣ − Aᵣ₁A₁₁⁻¹A₁ᵣ = Λ̃'(Sᵣᵣ − G)Λ̃ + diag(I, 0),   G = Sᵣ₁ Ω S₁ᵣ,
    Ω = diag_j(Ω_j),  Ω_j = T (L_jL_j')⁻¹ T' = V_jV_j',  V_j = T L_j'⁻¹,

with Λ̃ = diag(Λ_s, I) and S the fixed cross-products.  G's block on the other
terms is a sparse rank update (:mod:`lmmpy.objective._rankupdate`), its blocks
with [X y] are dense products.  One dense Cholesky of the Schur complement
(size m = q − q₁ + p + 1) then gives everything the objective needs:

    log|L|² = Σ_j log|L_j|² + log|L_ss|²,   R = L_dd'  (R_X, c_β and r),

the trailing (p+1)×(p+1) block.  Per evaluation nothing depends on n, and no
Python loop runs over levels.  A solve with A = Λ'Z'WZΛ + I (for û and the
conditional variances, at the optimum only) is block back-substitution.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field, replace

import numpy as np
import scipy.sparse as sp
from scipy.linalg import lapack

from lmmpy.objective._crossprod import CrossProducts
from lmmpy.objective._factorization import Capabilities
from lmmpy.objective._lambda import ThetaLayout
from lmmpy.objective._rankupdate import (
    CompiledUpdate,
    DenseUpdate,
    LevelBlocks,
    PairPattern,
    PairProducts,
    numba_available,
    update_kind,
)
from lmmpy.objective._termblocks import TermBlocks

MAX_DENSE_REST = 2500   # largest Schur complement (other terms + p + 1) always factored densely
                        # (past it: _schurfill.dense_rest_pays)
LEAN_SIZE = 4000        # from this many other levels, a compiled rank update goes straight
                        # into the Schur complement (one thread, no m × m temporaries);
                        # below it too when the update runs in one thread anyway
HELD_ONCE_BYTES = 2**28  # a Schur complement larger than this (8m² bytes, m > 5,792) is held
                         # once: no earlier θ's factor kept beside it, its inverse (the
                         # gradient's) taken in place of the factor


@dataclass(frozen=True)
class _ZStructure:
    """The numbers taken from one Z'WZ (weight-dependent: never kept across a reweighting;
    shared only by refits to another response, whose Z'WZ is the same object)."""

    k: int                    # columns of the first term
    n_levels: int             # levels of the first term
    D: np.ndarray             # (ℓ, k, k) diagonal blocks of Z₁'WZ₁
    S_s1: sp.csr_matrix       # Z_s'WZ₁ (or its products from its level blocks:
                              # _blocked_terms.LevelProduct)
    S_ss: np.ndarray          # Z_s'WZ_s, dense (CSR from term blocks: _dense_S_ss)
    update: object            # sparse rank update of G_ss (see _rankupdate)
    rest_theta: np.ndarray | None  # θ index of each diagonal Λ_s entry (None: Λ_s not diagonal)
    pattern: _ZPattern        # where these numbers sit in Z'WZ (weight-free, kept;
                              # _blocked_terms.TermPattern for Z'WZ by term pairs)

    @property
    def q1(self) -> int:
        return self.k * self.n_levels

    @property
    def qs(self) -> int:
        return self.S_ss.shape[0]


@dataclass(frozen=True)
class _ZPattern:
    """Where the blocked factor's numbers sit in Z'WZ's stored entries: depends on the
    sparsity pattern only, so it survives a reweighting (a GLMM's PIRLS step), which then
    costs gathers from the new Z'WZ, not the analysis (the rank update's pair table).

    Each ``*_source`` lists positions in ``Z'WZ.data``, each ``*_target`` flat indices in
    the array they fill.
    """

    indptr: np.ndarray        # Z'WZ's pattern, to check a new Z'WZ against (its arrays,
    indices: np.ndarray       # not copies: the products are not changed in place)
    k: int
    n_levels: int
    D_source: np.ndarray
    D_target: np.ndarray
    S_s1: sp.csr_matrix       # Z_s'WZ₁'s pattern, data = source positions
    blocks: LevelBlocks       # B = S_s1 by level, values = source positions (−1: none)
    S_ss_source: np.ndarray
    S_ss_target: np.ndarray
    qs: int
    update: object            # PairPattern, DenseUpdate (the class: nothing to keep) or None
                              # (the compiled update, nothing to keep either)
    rest_theta: np.ndarray | None
    # weight-free tables made once from the pattern (Sᵣᵣ's lower entries, by the Schur
    # complement's order): not compared, not shown
    tables: dict = field(default_factory=dict, compare=False, repr=False)

    def matches(self, ZtZ: sp.csc_matrix) -> bool:
        """Whether Z'WZ has this pattern (the same arrays, as PIRLS's reweightings give, or
        equal ones)."""
        return ((ZtZ.indptr is self.indptr or np.array_equal(ZtZ.indptr, self.indptr))
                and (ZtZ.indices is self.indices or np.array_equal(ZtZ.indices, self.indices)))

    def lower_entries(self, m: int):
        """Where Sᵣᵣ's lower triangle is stored (module docstring of
        :meth:`BlockedFactorization._lower_entries`), for a Schur complement of order m:
        (flat index, row, column, S_ss's rows and columns, the [X y] rows' rows and
        columns, which of them fall in X), or None when more than a fifth is stored."""
        if m not in self.tables:
            self.tables[m] = _lower_layout(self.S_ss_target, self.qs, m)
        return self.tables[m]

    def structure(self, ZtZ: sp.csc_matrix, compiled: bool = False) -> _ZStructure:
        """The numbers of this Z'WZ (which must have the pattern) where the factor reads them;
        ``compiled``: the rank update by the compiled loop, whose set-up does not depend on
        the values (a reweighting then costs no pair table: 30 ms against 6 for the loop's
        call on 2 million pairs)."""
        from lmmpy.objective._matvec import with_data

        data = ZtZ.data
        D = np.zeros((self.n_levels, self.k, self.k))
        D.ravel()[self.D_target] = data[self.D_source]
        S_s1 = with_data(self.S_s1, data[self.S_s1.data])   # the pattern's arrays, no check
        S_ss = np.zeros((self.qs, self.qs))
        S_ss.ravel()[self.S_ss_target] = data[self.S_ss_source]
        update = None
        if self.qs:
            from lmmpy.objective._pattern_kernels import gather_values

            values = np.empty(self.blocks.values.shape)
            gather_values(data, self.blocks.values, values)
            blocks = replace(self.blocks, values=values)
            if self.update is DenseUpdate:
                update = self._dense_update(blocks)
            elif self.update is not None and not compiled:
                update = PairProducts(blocks, self.update)
            else:
                update = CompiledUpdate(blocks)
        return _ZStructure(self.k, self.n_levels, D, S_s1, S_ss, update, self.rest_theta, self)


    def transposed_S_s1(self) -> tuple[sp.csr_matrix, np.ndarray, np.ndarray]:
        """Z₁'WZ_s's pattern: (a CSR matrix of it, sorted, for :func:`._matvec.with_data`;
        for each of its entries the entry of S_s1 it holds and its row), made once."""
        if "transposed_S_s1" not in self.tables:
            from lmmpy.objective._matvec import csr_from_arrays, transposed_csr

            numbered = csr_from_arrays(self.S_s1.shape, np.arange(self.S_s1.nnz, dtype=float),
                                       self.S_s1.indices, self.S_s1.indptr)
            transposed = transposed_csr(numbered)
            order = transposed.data.astype(np.int64)
            rows = np.repeat(np.arange(transposed.shape[0]), np.diff(transposed.indptr))
            self.tables["transposed_S_s1"] = (transposed, order, rows)
        return self.tables["transposed_S_s1"]

    def _dense_update(self, blocks: LevelBlocks) -> DenseUpdate:
        """``DenseUpdate(blocks)`` with its dense B filled through a flat index made once
        per pattern (a reweighting would repeat the level of every entry and a 2-d scatter;
        the same array)."""
        if "dense_update" not in self.tables:
            b = self.blocks
            self.tables["dense_update"] = b.level_of_entry * b.size + b.rows
        k = blocks.values.shape[1]
        update = DenseUpdate.__new__(DenseUpdate)
        update.B = np.zeros((blocks.n_levels, blocks.size, k))
        update.B.reshape(-1, k)[self.tables["dense_update"]] = blocks.values
        return update


def blocked_factorization(crossprods: CrossProducts, layout: ThetaLayout,
                          terms) -> BlockedFactorization | None:
    """The blocked factorization when the structure allows it, else None.

    It applies when the first term's block is block diagonal (always, for the
    term with the most levels), the rank update fits in memory (or numba is
    installed), and the Schur complement on the other terms and [X y] (order
    m) is worth factoring densely: always up to ``MAX_DENSE_REST``; past it
    when ``DENSE_COPIES`` m × m arrays fit in memory and the complement's
    sparse factor would fill in anyway (two large crossed factors: a tenth of
    its off-diagonal entries stored, or a predicted fill that makes the dense
    factor cheaper, :func:`lmmpy.objective._schurfill.dense_rest_pays`).
    A complement too large to factor densely whose predicted sparse factor
    cannot fit in memory either raises
    :class:`~lmmpy.objective._fill.FactorTooLargeError` at once.
    """
    terms = tuple(terms)
    q1 = terms[0].n_random_effects
    m = layout.size - q1 + crossprods.n_fixed + 1
    by_terms = isinstance(crossprods.ZtZ_product, TermBlocks)
    rest = crossprods.ZtZ_product.rest() if by_terms else None
    if m > MAX_DENSE_REST:
        from lmmpy.objective._schurfill import dense_rest_pays, rest_pays

        if by_terms:
            B, _, targets = rest
            if not rest_pays(B, *np.divmod(targets, m - crossprods.n_fixed - 1), m,
                             layout.size):
                return None
        elif not dense_rest_pays(crossprods.ZtZ, terms[0], m, layout.size):
            return None
    if by_terms:
        from lmmpy.objective._blocked_terms import term_structure

        structure = term_structure(crossprods.ZtZ_product, layout, rest)
    else:
        structure = _z_structure(crossprods.ZtZ, layout, terms[0])
    if structure is None:
        return None
    return BlockedFactorization(crossprods, layout, terms, structure)


def _off_diagonal_density(structure: _ZStructure) -> float:
    """The share of the Schur complement's off-diagonal entries (on the other terms) that
    are not zero: those of Z_s'WZ_s and of the rank update's pattern."""
    from lmmpy.objective import _schurfill

    if structure.qs < 2:
        return 1.0
    pattern = structure.pattern
    ss_rows, ss_cols = np.divmod(pattern.S_ss_target, pattern.qs)
    return _schurfill.off_diagonal_density(
        _schurfill.schur_pattern(pattern.blocks, ss_rows, ss_cols))


def _z_structure(ZtZ: sp.csc_matrix, layout: ThetaLayout, first,
                 pattern: _ZPattern | None = None, compiled: bool = False) -> _ZStructure | None:
    """The blocked factor's numbers from Z'WZ, on ``pattern`` when Z'WZ has it (else one
    analysed anew; None when the first term's block is not block diagonal or the rank
    update does not fit)."""
    if pattern is None or not pattern.matches(ZtZ):
        pattern = _z_pattern(ZtZ, layout, first)
    return None if pattern is None else pattern.structure(ZtZ, compiled)


def _z_pattern(ZtZ: sp.csc_matrix, layout: ThetaLayout, first) -> _ZPattern | None:
    """Analyse Z'WZ's pattern: the stored positions of each piece the factor reads (read
    from the CSC arrays in place, :mod:`lmmpy.objective._pattern_kernels`)."""
    from lmmpy.objective._pattern_kernels import (
        column_splits,
        level_block_positions,
        lower_block_by_rows,
    )

    k, n_levels = first.n_columns, first.n_levels
    q1, qs = k * n_levels, ZtZ.shape[0] - k * n_levels
    indptr, indices = ZtZ.indptr, ZtZ.indices
    split = column_splits(indptr, indices, q1)   # each column: rows < q1, then rows ≥ q1
    D_source = _ranges(indptr[:q1], split[:q1])
    D_rows, D_cols = indices[D_source], np.repeat(np.arange(q1), split[:q1] - indptr[:q1])
    if np.any(D_rows // k != D_cols // k):
        return None
    D_target = (D_rows // k) * k * k + (D_rows % k) * k + D_cols % k
    pointer = np.empty(qs + 1, dtype=indices.dtype)   # nnz(B) < nnz(Z'WZ): it fits
    nnz_B = int(np.sum(indptr[1:q1 + 1] - split[:q1]))
    columns = np.empty(nnz_B, dtype=indices.dtype)
    positions = np.empty(nnz_B, dtype=np.int64)
    lower_block_by_rows(indices, split[:q1], indptr[1:q1 + 1], q1, qs, pointer, columns,
                        positions)
    S_s1 = sp.csr_matrix((qs, q1))   # the arrays as they are (no check, no copy)
    S_s1.data, S_s1.indices, S_s1.indptr = positions, columns, pointer
    block_pointer, rows, block_positions = level_block_positions(
        indices, split[:q1], indptr[1:q1 + 1], k, q1)
    blocks = LevelBlocks(block_pointer, rows, block_positions, qs)
    update = None
    if qs:
        kind = update_kind(blocks)
        if kind is None:
            return None
        update = (PairPattern(blocks) if kind is PairProducts
                  else DenseUpdate if kind is DenseUpdate else None)
    S_ss_source = _ranges(split[q1:], indptr[q1 + 1:])
    rest_rows = indices[S_ss_source].astype(np.int64) - q1
    rest_cols = np.repeat(np.arange(qs, dtype=np.int64), indptr[q1 + 1:] - split[q1:])
    return _ZPattern(indptr, indices, k, n_levels, D_source, D_target, S_s1, blocks,
                     S_ss_source, rest_rows * qs + rest_cols, qs, update,
                     _diagonal_rest_theta(layout, q1))


def _lower_layout(S_ss_target: np.ndarray, qs: int, m: int):
    """The positions of :meth:`_ZPattern.lower_entries` (None: more than a fifth stored)."""
    ss_rows, ss_cols = np.divmod(S_ss_target, qs)
    lower = ss_rows >= ss_cols
    ss_rows, ss_cols = ss_rows[lower], ss_cols[lower]
    if len(ss_rows) + (m - qs) * (m + qs + 1) // 2 > 0.2 * m * m:
        return None
    xy = np.arange(qs, m)
    xy_rows = np.repeat(xy, xy + 1)
    xy_cols = np.arange(len(xy_rows)) - np.repeat(np.cumsum(xy + 1) - (xy + 1), xy + 1)
    rows, cols = np.concatenate([ss_rows, xy_rows]), np.concatenate([ss_cols, xy_cols])
    return rows * m + cols, rows, cols, ss_rows, ss_cols, xy_rows, xy_cols, xy_cols >= qs


def _ranges(starts: np.ndarray, stops: np.ndarray) -> np.ndarray:
    """The positions starts[i] … stops[i] − 1, for every i in turn."""
    from lmmpy.objective._pattern_kernels import gather_ranges

    out = np.empty(int(np.sum(stops - starts)), dtype=np.int64)
    gather_ranges(np.asarray(starts, dtype=np.int64), np.asarray(stops, dtype=np.int64), out)
    return out


def _diagonal_rest_theta(layout: ThetaLayout, q1: int) -> np.ndarray | None:
    rest = layout.lambda_rows >= q1
    rows, cols = layout.lambda_rows[rest], layout.lambda_cols[rest]
    if np.any(rows != cols) or len(rows) != layout.size - q1:
        return None
    index = np.empty(layout.size - q1, dtype=np.intp)
    index[rows - q1] = layout.lambda_theta[rest]
    return index


class BlockedFactorization:
    """θ → (log|L|², R) on the blocked factor; ``solve_A`` solves with A at the last θ.

    Examples
    --------
    >>> from lmmpy.datasets import load
    >>> from lmmpy.design import build_design
    >>> from lmmpy.formula import parse_formula
    >>> from lmmpy.objective import cross_products
    >>> from lmmpy.objective._lambda import theta_layout
    >>> d = build_design(parse_formula("Yield ~ 1 + (1 | Batch)"), load("Dyestuff"))
    >>> f = blocked_factorization(cross_products(d), theta_layout(d.terms), d.terms)
    >>> logdet, R = f.update(np.array([0.75]))
    >>> round(logdet, 4)
    8.0297
    """

    name = "blocked"
    capabilities = Capabilities(gradient="trace_terms", snapshots=True)

    def __init__(self, crossprods: CrossProducts, layout: ThetaLayout, terms,
                 structure: _ZStructure):
        self.crossprods, self.layout, self.terms = crossprods, layout, tuple(terms)
        self.structure = structure
        z = structure
        p1 = crossprods.n_fixed + 1
        self._S1d = crossprods.ZtXy[: z.q1].reshape(z.n_levels, z.k, p1)
        self._m = z.qs + p1   # the Schur complement's order
        self._n_theta1 = self.terms[0].n_theta
        self._S_rr_entries = self._lower_entries()
        self._state = self._first = self._rank_update = self._target_scale = None
        self._pair_index = None
        self._rest_lambda = None
        self._T1 = None
        self._held_once = 8.0 * self._m**2 > HELD_ONCE_BYTES
        if self._held_once:   # the objective keeps no second state (_deviance._update)
            self.capabilities = Capabilities(gradient="trace_terms", snapshots=False)
        self._inverted = False   # the factor's leading block holds M⁻¹ (_schur_inverse)

    @functools.cached_property
    def _S_rr(self) -> np.ndarray:
        """Sᵣᵣ = [[S_ss, Z_s'W[X y]], [·, [X y]'W[X y]]], dense (made only when read: on a
        large crossed model it is 2,000² where its lower triangle has a few thousand
        entries, :meth:`_lower_entries`)."""
        z, crossprods = self.structure, self.crossprods
        qs, rest = z.qs, crossprods.ZtXy[z.q1:]
        S_rr = np.empty((self._m, self._m))   # np.block's array, without its checks
        S_rr[:qs, :qs] = _dense_S_ss(z)
        S_rr[:qs, qs:] = rest
        S_rr[qs:, :qs] = rest.T
        S_rr[qs:, qs:] = crossprods.XytXy
        return S_rr

    def _lower_entries(self):
        """(flat index, row, column, value) of Sᵣᵣ's lower triangle on its pattern (S_ss's
        stored entries, every entry of the [X y] rows), or None when more than a fifth of
        it is stored (the dense product is then as cheap), without forming Sᵣᵣ (the
        positions are the pattern's, made once; the values this Z'WZ's)."""
        z = self.structure
        if z.qs == 0:
            return None
        layout = z.pattern.lower_entries(self._m)
        if layout is None:
            return None
        index, rows, cols, ss_rows, ss_cols, xy_rows, xy_cols, to_X = layout
        ZtXy, XytXy = self.crossprods.ZtXy[z.q1:], self.crossprods.XytXy
        qs = z.qs
        xy_values = np.where(to_X, XytXy[xy_rows - qs, np.where(to_X, xy_cols - qs, 0)],
                             ZtXy[np.where(to_X, 0, xy_cols), xy_rows - qs])
        ss_values = z.S_ss[ss_rows, ss_cols]   # (a 1 × n matrix when S_ss is CSR)
        values = np.concatenate([np.asarray(ss_values).ravel(), xy_values])
        return index, rows, cols, values

    def with_crossprods(self, crossprods: CrossProducts) -> BlockedFactorization:
        """The factorization for other cross-products.

        The numbers read from Z'WZ (D, S, the rank update's tabulated products) are
        reused only when Z'WZ is the same object, as for a new response; other weights
        (a GLMM's reweighting) take them from their Z'WZ, on the analysed pattern when
        the new Z'WZ has it (else a pattern analysed anew), with the rank update by the
        compiled loop when numba is there (a table of pair products would be made at
        every reweighting).
        """
        if crossprods.ZtZ_product is self.crossprods.ZtZ_product:
            return BlockedFactorization(crossprods, self.layout, self.terms, self.structure)
        if isinstance(crossprods.ZtZ_product, TermBlocks):
            from lmmpy.objective._blocked_terms import term_structure

            structure = term_structure(crossprods.ZtZ_product, self.layout)
            if structure is None:
                raise ValueError("the blocked factorization does not apply to these "
                                 "cross-products")
            return BlockedFactorization(crossprods, self.layout, self.terms, structure)
        structure = _z_structure(crossprods.ZtZ, self.layout, self.terms[0],
                                 self.structure.pattern, compiled=numba_available())
        if structure is None:
            raise ValueError("the blocked factorization does not apply to these cross-products")
        return BlockedFactorization(crossprods, self.layout, self.terms, structure)

    def update(self, theta: np.ndarray) -> tuple[float, np.ndarray]:
        """Factor at θ; return log|L|² and R (upper triangle valid; LinAlgError when not PD)."""
        if self._held_once:   # the last factor goes before the new M is made
            self._state = self._first = None
        logdet1, V, L1, L1_inverse = self._first_term(theta)
        M = self._schur_complement(theta, V)
        factor, info = lapack.dpotrf(M.T, lower=0, overwrite_a=1, clean=0)
        if info != 0:
            raise np.linalg.LinAlgError(f"Schur complement not positive definite ({info})")
        L = factor.T
        qs = self.structure.qs
        diagonal = np.diagonal(L)
        logdet = logdet1 + 2 * float(np.sum(np.log(diagonal[:qs])))
        self._state = (theta.copy(), L1, L, logdet)
        self._first = (V, L1_inverse)
        self._inverted = False
        return logdet, factor[qs:, qs:]

    def _factored(self) -> tuple:
        """The state, its factor made again at its θ (the same bits) when its leading block
        was inverted in place by :meth:`_schur_inverse`."""
        if self._inverted:
            self.update(self._state[0])
        return self._state

    def snapshot(self) -> tuple:
        """The state :meth:`update` left (references: every update allocates anew)."""
        return self._state, self._first, self._rank_update, self._target_scale

    def restore(self, snapshot: tuple) -> None:
        """Return to a state :meth:`snapshot` took."""
        self._state, self._first, self._rank_update, self._target_scale = snapshot

    def _first_term(self, theta: np.ndarray):
        """log|A₁₁|, V (ℓ, k, k) with Ω_j = V_jV_j', the factors L_j and their inverses."""
        z = self.structure
        T = self._template(theta)
        if z.k == 1:
            a = T[0, 0] ** 2 * z.D[:, 0, 0] + 1.0
            root = np.sqrt(a)[:, None, None]
            return float(np.sum(np.log(a))), T[0, 0] / root, root, 1.0 / root
        A = T.T @ z.D @ T  # T'D_jT, stacked (numpy's batched matmul, not a BLAS call a level)
        A[:, np.arange(z.k), np.arange(z.k)] += 1.0
        L1, L1_inverse = batched_cholesky(A)
        V = T @ L1_inverse.transpose(0, 2, 1)  # T L_j'⁻¹
        logdet = 2 * float(np.sum(np.log(np.diagonal(L1, axis1=1, axis2=2))))
        return logdet, V, L1, L1_inverse

    def _schur_complement(self, theta: np.ndarray, V: np.ndarray) -> np.ndarray:
        """Λ̃'(Sᵣᵣ − G)Λ̃ + diag(I, 0): lower triangle valid (all of it if Λ_s is not diagonal)."""
        z, qs = self.structure, self.structure.qs
        if z.k == 1:   # 1 × 1 blocks: each product one multiplication, as matmul makes it
            F = V * self._S1d
            VF = V * F
        else:
            F = V.transpose(0, 2, 1) @ self._S1d           # V_j' S_jd
            VF = V @ F
        flat = F.reshape(z.q1, -1)
        if not qs:
            return self._S_rr - flat.T @ flat
        G_sd = _times(z.S_s1, VF.reshape(z.q1, -1))
        if z.rest_theta is None:
            return self._general_schur(theta, V, G_sd, flat)
        lam = np.ones(self._m)
        lam[:qs] = theta[z.rest_theta]
        M = self._lean_schur(V, lam) if self._lean else self._scaled_rest_update(V, lam)
        M[qs:, :qs] -= G_sd.T * lam[:qs]
        M[qs:, qs:] -= flat.T @ flat
        M.ravel()[: qs * (len(M) + 1): len(M) + 1] += 1.0
        return M

    def _scaled_rest_update(self, V: np.ndarray, lam: np.ndarray) -> np.ndarray:
        """Λ̃'SᵣᵣΛ̃ − Λ_s'G_ssΛ_s (lower), G_ss kept for the gradient."""
        z, qs = self.structure, self.structure.qs
        M = self._scaled_S_rr(lam)
        if isinstance(z.update, PairProducts):
            index, rows, cols = self._pairs_in_M
            self._rank_update = z.update.values(V)
            self._target_scale = lam[rows] * lam[cols]   # the gradient's gather reuses it
            M.ravel()[index] -= self._rank_update * self._target_scale
        else:
            self._rank_update = z.update(V)
            scaled = self._rank_update * lam[:qs]   # λ_aλ_b G[a, b], one temporary
            scaled *= lam[:qs, None]
            M[:qs, :qs] -= scaled
        return M

    @functools.cached_property
    def _lean(self) -> bool:
        """Whether the compiled rank update goes straight into M (``LEAN_SIZE``, or a loop
        that runs in one thread anyway): a diagonal Λ_s and a sparse Sᵣᵣ, so that no m × m
        array but M itself is made."""
        z = self.structure
        return (isinstance(z.update, CompiledUpdate) and z.rest_theta is not None
                and self._S_rr_entries is not None
                and (z.qs >= LEAN_SIZE or not z.update.threaded))

    def _lean_schur(self, V: np.ndarray, lam: np.ndarray) -> np.ndarray:
        """Λ̃'(Sᵣᵣ − G_ss)Λ̃ (lower, on the other terms: G's [X y] rows are the caller's) in
        one m × m array: λ_aλ_bG[a, b] added by the compiled loop, negated, Sᵣᵣ's entries
        added.  Nothing of G is kept (the gradient does without it)."""
        M = np.zeros((self._m, self._m))
        self.structure.update.add_scaled(M, V, lam[: self.structure.qs])
        np.negative(M, out=M)
        index, rows, cols, values = self._S_rr_entries
        M.ravel()[index] += values * (lam[rows] * lam[cols])
        self._rank_update = self._target_scale = None
        return M

    def _scaled_S_rr(self, lam: np.ndarray) -> np.ndarray:
        """diag(λ) Sᵣᵣ diag(λ), lower triangle: Sᵣᵣ's few entries when it is sparse (a
        single scalar term's block is diagonal), else the dense product."""
        entries = self._S_rr_entries
        if entries is None:
            M = np.multiply(self._S_rr, lam[:, None])
            M *= lam
            return M
        index, rows, cols, values = entries
        M = np.zeros((self._m, self._m))
        M.ravel()[index] = values * (lam[rows] * lam[cols])
        return M

    @property
    def _pairs_in_M(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Flat indices in M of the entries of G_ss the tabulated update yields, and their (a, b)."""
        if self._pair_index is None:
            qs, targets = self.structure.qs, self.structure.update.targets
            rows, cols = targets // qs, targets % qs
            self._pair_index = (rows * self._m + cols, rows, cols)
        return self._pair_index

    def _general_schur(self, theta, V, G_sd, flat) -> np.ndarray:
        """The Schur complement when Λ_s is not diagonal (vector-valued later terms)."""
        z, qs = self.structure, self.structure.qs
        M = self._S_rr.copy()
        M[qs:, qs:] -= flat.T @ flat
        M[qs:, :qs] -= G_sd.T
        M[:qs, qs:] -= G_sd
        G_ss = self._rank_update = z.update(V)
        M[:qs, :qs] -= G_ss + np.tril(G_ss, -1).T
        self._scale_rest(M, theta)
        M[np.diag_indices(qs)] += 1.0
        return M

    def _scale_rest(self, M: np.ndarray, theta: np.ndarray) -> None:
        """M ← Λ̃'MΛ̃ with Λ̃ = diag(Λ_s, I)."""
        qs = self.structure.qs
        Lambda_s = self._Lambda_s(theta)
        M[:, :qs] = (Lambda_s.T @ M[:, :qs].T).T
        M[:qs, :] = Lambda_s.T @ M[:qs, :]

    def logdet(self) -> float:
        return self._state[3]

    def Lambda(self, theta: np.ndarray) -> sp.csc_matrix:
        return self.layout.Lambda(theta)

    def trace_terms(self) -> np.ndarray:
        """Q[c, r] at each entry (r, c) of Λ, Q = A⁻¹Λ'Z'WZ, at the last θ (for the gradient).

        With M the Schur complement on the other terms s and Ω_j = V_jV_j'
        (module docstring), the block inverse of A gives Q's diagonal blocks:

            first term, level j:  Q_jj = A₁₁,j⁻¹ T'[D_j − N_j(I − Ω_jD_j)],
                                  N_j = B_j'Λ_sM⁻¹Λ_s'B_j   (B = Z_s'WZ₁),
            other terms:          Q_ss = M⁻¹Λ_s'(S_ss − G),

        no inverse of T needed (θ may sit on its bound).  M⁻¹ is one dense
        inverse (``dpotri``) of the factor already computed; N_j is a gather
        over the same pairs as the rank update.
        """
        theta = self._state[0]
        V, L1_inverse = self._first
        z, layout = self.structure, self.layout
        rows, cols = layout.lambda_rows, layout.lambda_cols
        terms = np.empty(len(rows))
        first = rows < z.q1
        N = np.zeros_like(z.D)
        if z.qs:
            M_inverse = self._schur_inverse()
            terms[~first] = self._rest_trace_terms(theta, M_inverse, rows[~first] - z.q1,
                                                   cols[~first] - z.q1)
            N = self._level_forms(theta, M_inverse)
        V_t = V.transpose(0, 2, 1)
        inner = z.D - N + N @ (V @ (V_t @ z.D))                       # D − N(I − ΩD)
        Q1 = L1_inverse.transpose(0, 2, 1) @ (V_t @ inner)  # L_j'⁻¹V_j' = A₁₁,j⁻¹T'
        k = z.k
        terms[first] = Q1[rows[first] // k, cols[first] % k, rows[first] % k]
        return terms

    def _schur_inverse(self) -> np.ndarray:
        """M⁻¹ on the other terms at the last θ: upper triangle valid, Fortran order."""
        qs = self.structure.qs
        if self._held_once:   # in place: the factor is not needed again at this θ but by
            upper = self._factored()[2].T   # solve_A, which then factors again
            from lmmpy.objective._lapack_inplace import potri_leading

            potri_leading(upper, qs)
            self._inverted = True
            return upper[:qs, :qs]
        M_inverse, info = lapack.dpotri(self._state[2][:qs, :qs].T, lower=0)
        if info != 0:
            raise np.linalg.LinAlgError(f"Schur complement not invertible ({info})")
        return M_inverse

    def _rest_diagonal(self, theta: np.ndarray) -> np.ndarray | None:
        """λ of the diagonal Λ_s, or None when Λ_s is not diagonal."""
        z = self.structure
        return None if z.rest_theta is None else theta[z.rest_theta]

    def _rest_trace_terms(self, theta, M_inverse, rest_rows, rest_cols) -> np.ndarray:
        """Q_ss[c, r] at Λ_s's entries (r, c).

        Diagonal Λ_s = diag(λ) with no λ near 0: Q_ssΛ_s = I − M⁻¹ (as
        M = Λ_s'(S_ss − G)Λ_s + I), so Q[a, a] = (1 − M⁻¹[a, a]) / λ_a.
        Otherwise the product M⁻¹Λ_s'(S_ss − G) at the entries.
        """
        lam = self._rest_diagonal(theta)
        if lam is not None and np.min(np.abs(lam)) > 1e-6:
            return ((1.0 - np.diagonal(M_inverse)) / lam)[rest_rows]
        z = self.structure
        M_inverse = _symmetric_from_upper(M_inverse)
        G = self._rank_update
        if G is None:   # the lean Schur complement keeps no G: made anew (θ near its bound)
            G = z.update(self._first[0])
        if G.ndim == 1:
            G = z.update.lower_from_values(G)
        G = G + np.tril(G, -1).T
        Lambda_s = self._Lambda_s(theta)
        U = np.asarray(Lambda_s.T @ (_dense_S_ss(z) - G))
        return np.einsum("em,me->e", M_inverse[rest_cols], U[:, rest_rows])

    def _level_forms(self, theta, M_inverse) -> np.ndarray:
        """N_j = B_j'(Λ_sM⁻¹Λ_s')B_j for every level j of the first term."""
        z = self.structure
        lam = self._rest_diagonal(theta)
        if lam is not None and isinstance(z.update, PairProducts):
            targets = z.update.targets  # a·q_s + b, a ≥ b: M⁻¹[b, a] in M⁻¹'s upper triangle
            weights = M_inverse.ravel(order="F")[targets]
            weights *= self._target_scale   # λ_aλ_b, from this θ's Schur complement
            return z.update.level_forms_at_targets(weights)
        if lam is not None and isinstance(z.update, CompiledUpdate):
            return z.update.level_forms_scaled(M_inverse.T, lam)   # its upper = .T's lower
        M_inverse = _symmetric_from_upper(M_inverse)
        if lam is not None:
            scaled = M_inverse * np.outer(lam, lam)
        else:
            Lambda_s = self._Lambda_s(theta)
            scaled = np.asarray(Lambda_s @ np.asarray(Lambda_s @ M_inverse).T)
        return z.update.level_forms(scaled)

    def solve_A(self, B: np.ndarray | sp.spmatrix) -> np.ndarray:
        """A⁻¹B, A = Λ'Z'WZΛ + I at the θ of the last :meth:`update` (block substitution)."""
        theta = self._state[0]
        z = self.structure
        B = B.toarray() if sp.issparse(B) else np.asarray(B, dtype=float)
        vector = B.ndim == 1
        B = B.reshape(len(B), -1)
        z1 = self._solve_first(B[: z.q1])
        if not z.qs:
            return z1.ravel() if vector else z1
        # A_s1 = Λ_s'S_s1Λ₁ applied as three factors, never formed
        x_s = self._solve_rest(B[z.q1:] - self._Lambda_rest(theta, _times(
            z.S_s1, self._Lambda_first(theta, z1)), transpose=True))
        x1 = z1 - self._solve_first(self._Lambda_first(
            theta, _transpose_times(z.S_s1, self._Lambda_rest(theta, x_s)), transpose=True))
        x = np.vstack([x1, x_s])
        return x.ravel() if vector else x

    def _solve_rest(self, B: np.ndarray) -> np.ndarray:
        """M⁻¹B on the other terms with the whole (contiguous) factor: no copy of its block.

        M = L_ss L_ss' is the leading block of LL' = U'U; solving U'w = [B; 0]
        and then U x = [w_s; 0] leaves M⁻¹B in x's first q_s rows.
        """
        qs, upper = self.structure.qs, self._factored()[2].T
        padded = np.zeros((len(upper), B.shape[1]))
        padded[:qs] = B
        w, _ = lapack.dtrtrs(upper, padded, lower=0, trans=1)
        w[qs:] = 0.0
        x, _ = lapack.dtrtrs(upper, w, lower=0, trans=0)
        return x[:qs]

    def _solve_first(self, B1: np.ndarray) -> np.ndarray:
        """A₁₁⁻¹B₁ = L_j'⁻¹L_j⁻¹B_j level by level (batched, with the stored inverses)."""
        z = self.structure
        L1_inverse = self._first[1]
        blocks = B1.reshape(z.n_levels, z.k, -1)
        if z.k == 1:
            return (blocks * L1_inverse**2).reshape(B1.shape)
        return (L1_inverse.transpose(0, 2, 1) @ (L1_inverse @ blocks)).reshape(B1.shape)

    def _Lambda_first(self, theta, X: np.ndarray, transpose: bool = False) -> np.ndarray:
        """Λ₁X (or Λ₁'X): the first term's template on every level's rows."""
        z = self.structure
        T = self._template(theta)
        if z.k == 1:   # each entry one product t·x, as the batched 1 × 1 matmul makes it
            return T[0, 0] * X
        blocks = X.reshape(z.n_levels, z.k, -1)
        return ((T.T if transpose else T) @ blocks).reshape(X.shape)

    def _template(self, theta: np.ndarray) -> np.ndarray:
        """The first term's T at θ (kept for the last θ: a solve asks twice, the update once)."""
        key = theta.tobytes()
        if self._T1 is None or self._T1[0] != key:
            self._T1 = (key, self.terms[0].template(theta[: self._n_theta1]))
        return self._T1[1]

    def _Lambda_s(self, theta: np.ndarray) -> sp.csr_matrix:
        """Λ on the other terms at θ, built once per θ from its own entries (no slicing of Λ)."""
        key = theta.tobytes()
        if self._rest_lambda is None or self._rest_lambda[0] != key:
            layout, q1, qs = self.layout, self.structure.q1, self.structure.qs
            rest = layout.lambda_rows >= q1
            matrix = sp.csr_matrix((theta[layout.lambda_theta[rest]],
                                    (layout.lambda_rows[rest] - q1, layout.lambda_cols[rest] - q1)),
                                   shape=(qs, qs))
            self._rest_lambda = (key, matrix)
        return self._rest_lambda[1]

    def _Lambda_rest(self, theta, X: np.ndarray, transpose: bool = False) -> np.ndarray:
        """Λ_sX (or Λ_s'X) on the other terms."""
        lam = self._rest_diagonal(theta)
        if lam is not None:
            return lam[:, None] * X
        Lambda_s = self._Lambda_s(theta)
        return np.asarray((Lambda_s.T if transpose else Lambda_s) @ X)


def _times(S, X: np.ndarray) -> np.ndarray:
    """S X for S_s1 (CSR, or the term blocks' product): scipy's kernel without its dispatch."""
    from lmmpy.objective._matvec import times

    return times(S, X) if sp.issparse(S) else np.asarray(S @ X)


def _transpose_times(S, X: np.ndarray) -> np.ndarray:
    """S'X, as :func:`_times`."""
    from lmmpy.objective._matvec import transpose_times

    return transpose_times(S, X) if sp.issparse(S) else np.asarray(S.T @ X)


def _dense_S_ss(structure: _ZStructure) -> np.ndarray:
    S_ss = structure.S_ss
    return S_ss.toarray() if sp.issparse(S_ss) else S_ss


def _symmetric_from_upper(upper: np.ndarray) -> np.ndarray:
    return np.triu(upper) + np.triu(upper, 1).T


def batched_cholesky(A: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Lower Cholesky factors L and their inverses for a stack A (ℓ, k, k) of SPD matrices.

    Loops over the k² entries (vectorised over the ℓ matrices), which for the
    small k of random-effects terms beats ``np.linalg`` on stacked arrays.

    Examples
    --------
    >>> L, L_inv = batched_cholesky(np.array([[[4.0, 2.0], [2.0, 5.0]]]))
    >>> L[0].tolist(), L_inv[0].tolist()
    ([[2.0, 0.0], [1.0, 2.0]], [[0.5, 0.0], [-0.25, 0.5]])
    """
    k = A.shape[1]
    if k > 4:
        L = np.linalg.cholesky(A)
        return L, np.linalg.inv(L)
    a = np.moveaxis(A, 0, -1)  # (k, k, ℓ): each entry contiguous over the levels
    L = np.zeros_like(a)
    for i in range(k):
        for j in range(i + 1):
            s = a[i, j] - sum(L[i, m] * L[j, m] for m in range(j))
            L[i, j] = np.sqrt(s) if i == j else s / L[j, j]
    L_inv = np.zeros_like(a)
    for i in range(k):
        L_inv[i, i] = 1.0 / L[i, i]
        for j in range(i):
            L_inv[i, j] = -sum(L[i, m] * L_inv[m, j] for m in range(j, i)) * L_inv[i, i]
    return np.moveaxis(L, -1, 0), np.moveaxis(L_inv, -1, 0)
