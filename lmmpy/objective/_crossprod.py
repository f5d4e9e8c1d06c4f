"""Cross-products of the weighted model matrices: the only place n is touched.

Every quantity of the profiled deviance (Bates et al. 2015, section 3) is a
function of ``Z'WZ``, ``Z'W[X y]`` and ``[X y]'W[X y]``, with y the response
less the offset.  Computing them once makes an evaluation of the objective
independent of the number of observations.

Conditioning.  The products are not those of [X y] but of [X̃ ỹ], with

    X̃ = X T,    ỹ = y − X̃ s,

chosen so that nothing depends on the location of y or of X's columns:

* T is unit triangular: when X has a constant column (the intercept), every
  other column is centred on its weighted mean, x̃_j = x_j − m_j·1.  The
  subtraction is exact when the column's spread is small beside its location
  (Sterbenz), so a timestamp-like x = t + 1.7e9 becomes t − t̄ without
  rounding, X̃ = X T holds exactly for the T that is stored, and
  X̃'WX̃ no longer carries (1.7e9)² beside the spread it needs.
* s is the weighted least-squares coefficient of y on X̃ (from the p×p
  products), subtracted column by column, the constant column first (again
  exact by Sterbenz): ỹ'Wỹ is then the residual sum of squares of that fit,
  not Σ w y², and r² = ỹ'Wỹ − ‖c_u‖² − ‖c_β‖² (eq. 30) cancels no more
  digits for y + 1e9 than for y.  Any s would be exact; this one makes ỹ
  small.

Both leave the profiled objective unchanged: β is profiled out, so y → y − Xb
moves β̂ by b and nothing else; and |T| = 1, so log|R_X| (the REML term) is
the same for R̃_X = R_X T.  The solution maps back to the design's
coordinates (:meth:`CrossProducts.original_beta`,
:meth:`CrossProducts.original_R_X`): β̂ = T(s + β̃), R_X = R̃_X T⁻¹ (still
upper triangular), so every consumer of β̂, R_X and vcov sees the design's
coordinates; :meth:`CrossProducts.ZtX` and :meth:`CrossProducts.XtX` give
the products in those coordinates for methods that need them, and
:meth:`CrossProducts.fixing` the products with one coefficient held fixed (the
profile), conditioned alike.  lme4 gets the same invariance another way: it
forms the residual y − Xβ − Zb row by row (a second pass over n at every
evaluation) instead of from cross-products.  The location of the columns of a
random-effects term (``(t | g)`` with t = 1.7e9 + days) is not conditioned:
that changes θ's coordinates, which the optimizer and every consumer of θ read.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field, replace

import numpy as np
import scipy.sparse as sp
from scipy.linalg import lapack

from lmmpy.design import Design
from lmmpy.objective._termblocks import TermBlocks


@dataclass(frozen=True)
class CrossProducts:
    """Weighted cross-products of ``Z`` and ``[X y]``.

    Attributes
    ----------
    ZtZ : sparse (q, q), ``Z'WZ`` in CSC form (sorted indices)
    ZtXy : ndarray (q, p + 1), ``Z'W[X y]``
    XytXy : ndarray (p + 1, p + 1), ``[X y]'W[X y]``
    n_obs, n_fixed : n and p
    sum_log_weights : Σ log w_i (0 without weights)
    ZtZ_product : ``Z'WZ`` as it was formed: dense for a small model
        (:data:`DENSE_PRODUCT_COLUMNS`), by term pairs for a chunked fit
        (:class:`~lmmpy.objective._termblocks.TermBlocks`), else CSC; ``ZtZ`` and
        :meth:`ZtZ_dense` convert on first use (the dense path never needs the CSC
        form, the blocked path reads term blocks as they are)
    transform : ndarray (p, p) or None, T of X̃ = X T (None: the identity)
    shift : ndarray (p,) or None, s of ỹ = y − X̃ s (None: zero)

    ``X`` and ``y`` above are the conditioned X̃ and ỹ (see the module docstring).
    """

    ZtXy: np.ndarray
    XytXy: np.ndarray
    n_obs: int
    n_fixed: int
    sum_log_weights: float
    ZtZ_product: sp.csc_matrix | np.ndarray | TermBlocks = field(repr=False)
    transform: np.ndarray | None = None
    shift: np.ndarray | None = None

    @functools.cached_property
    def ZtZ(self) -> sp.csc_matrix:
        if sp.issparse(self.ZtZ_product):
            return self.ZtZ_product
        if isinstance(self.ZtZ_product, TermBlocks):
            return self.ZtZ_product.tocsc()
        ZtZ = sp.csc_matrix(self.ZtZ_product)
        ZtZ.sort_indices()
        return ZtZ

    @property
    def ZtZ_matrix(self) -> sp.csc_matrix | np.ndarray:
        """Z'WZ as a matrix: dense for a small model, else CSC (term blocks converted)."""
        product = self.ZtZ_product
        return self.ZtZ if isinstance(product, TermBlocks) else product

    def ZtZ_times(self, X: np.ndarray) -> np.ndarray:
        """``Z'WZ X`` (from the term blocks when Z'WZ is kept by term pairs: no
        compressed-column copy of it is made)."""
        if isinstance(self.ZtZ_product, TermBlocks):
            return self.ZtZ_product.times(X)
        return self.ZtZ @ X

    def ZtZ_dense(self) -> np.ndarray:
        """``Z'WZ`` as a dense array (do not modify: it may be the stored product)."""
        product = self.ZtZ_product
        if isinstance(product, TermBlocks):
            return self.ZtZ.toarray()
        return product.toarray() if sp.issparse(product) else product

    def with_response(self, Z: sp.spmatrix, X: np.ndarray, y: np.ndarray,
                      weights: np.ndarray | None) -> CrossProducts:
        """The same design (X as the design has it) with another offset-adjusted response.

        Only y's products change; X is conditioned again (the same T) and the
        new y residualised on it.
        """
        X, transform = conditioned_columns(X, weights)
        WX = X if weights is None else weights[:, None] * X
        y, shift = residualised(X, WX, y, self.XytXy[:-1, :-1])
        wy = y if weights is None else weights * y
        ZtXy = self.ZtXy.copy()
        ZtXy[:, -1] = Z.T @ wy
        XytXy = self.XytXy.copy()
        XytXy[:-1, -1] = XytXy[-1, :-1] = X.T @ wy
        XytXy[-1, -1] = y @ wy
        return CrossProducts(ZtXy, XytXy, self.n_obs, self.n_fixed, self.sum_log_weights,
                             self.ZtZ_product, transform, shift)

    def __add__(self, other: CrossProducts) -> CrossProducts:
        """The products of the rows of both: blocks summed (the same T and s, see
        :class:`Conditioning`).  Sparse ``Z'WZ`` keep every entry either pattern has,
        explicit zeros too (the factorizations' patterns must not depend on the values)."""
        if not isinstance(other, CrossProducts):
            return NotImplemented
        return self.added(other)

    def added(self, other: CrossProducts, in_place: bool = False) -> CrossProducts:
        """``self + other``; ``in_place``: both operands are given up, and Z'WZ by term
        pairs is summed into the larger one's arrays (:meth:`TermBlocks.added`)."""
        if self.ZtXy.shape != other.ZtXy.shape or not (
                _same(self.transform, other.transform) and _same(self.shift, other.shift)):
            raise ValueError("cross-products of different designs or conditioning cannot be added")
        return CrossProducts(self.ZtXy + other.ZtXy, self.XytXy + other.XytXy,
                             self.n_obs + other.n_obs, self.n_fixed,
                             self.sum_log_weights + other.sum_log_weights,
                             _sum_products(self.ZtZ_product, other.ZtZ_product, in_place),
                             self.transform, self.shift)

    # ---- the design's coordinates ------------------------------------------------------
    @functools.cached_property
    def _inverse(self) -> np.ndarray:
        """T⁻¹ (p×p; the identity without conditioning), made once.

        LAPACK's triangular inverse directly: scipy's ``solve_triangular`` cost
        6 ms a call here, twice a sleepstudy fit.
        """
        if self.transform is None:
            return np.eye(self.n_fixed)
        if not _is_upper(self.transform):
            return np.linalg.inv(self.transform)
        inverse, _ = lapack.dtrtri(self.transform, lower=0, unitdiag=1)
        return inverse

    def _inverse_transform(self) -> np.ndarray:
        return self._inverse

    def original_beta(self, beta: np.ndarray) -> np.ndarray:
        """β in the design's coordinates from β̃ fitted to [X̃ ỹ]: T(s + β̃)."""
        if self.shift is not None:
            beta = self.shift + beta
        return beta if self.transform is None else self.transform @ beta

    def original_R_X(self, R_X: np.ndarray) -> np.ndarray:
        """R_X in the design's coordinates: R̃_X T⁻¹, upper triangular with R̃_X's diagonal.

        T⁻¹ is unit upper triangular when the constant column comes first (as
        the design puts it); otherwise the product is triangularised again by
        a QR (R_X'R_X, the only thing R_X stands for, is the same).
        """
        if self.transform is None:
            return R_X
        R = R_X @ self._inverse_transform()
        if _is_upper(self.transform):
            return R
        R = np.linalg.qr(R, mode="r")
        return np.sign(np.diagonal(R))[:, None] * R

    def ZtX(self) -> np.ndarray:
        """``Z'WX`` (q×p) in the design's coordinates: Z'WX̃ T⁻¹."""
        return self.ZtXy[:, :-1] @ self._inverse_transform()

    def XtX(self) -> np.ndarray:
        """``X'WX`` (p×p) in the design's coordinates: T⁻ᵀ X̃'WX̃ T⁻¹."""
        inverse = self._inverse_transform()
        return inverse.T @ self.XytXy[:-1, :-1] @ inverse

    def fixing(self, j: int, value: float) -> CrossProducts:
        """The products of the model with β_j held at ``value``: [X₋ⱼ, y − value·x_j].

        Conditioned again, with U = T⁻¹ (X = X̃U): T' = (U₋ⱼ,₋ⱼ)⁻¹ (unit
        triangular), so X₋ⱼT' = X̃₋ⱼ + x̃_j r' with r' = U[j, −j]T' (zero when T
        only centres on an intercept that is not column j); y − value·x_j =
        ỹ + X̃a with a = s − U e_j·value, whose part in the new columns, a₋ⱼ, is
        the new shift and whose rest, x̃_j(a_j − r'a₋ⱼ), joins ỹ.  One
        (p+1)×p matrix M maps the products: [X̃' ỹ'] = [X̃ ỹ] M.
        """
        p = self.n_fixed
        U = self._inverse_transform()
        keep = np.delete(np.arange(p), j)
        T_new = np.linalg.inv(U[np.ix_(keep, keep)])
        r = U[j, keep] @ T_new
        shift = np.zeros(p) if self.shift is None else self.shift
        a = shift - U[:, j] * value
        M = np.zeros((p + 1, p))
        M[keep, np.arange(p - 1)] = 1.0
        M[j, :-1] = r
        M[j, -1] = a[j] - r @ a[keep]
        M[p, -1] = 1.0
        return replace(self, ZtXy=self.ZtXy @ M, XytXy=M.T @ self.XytXy @ M, n_fixed=p - 1,
                       transform=T_new, shift=a[keep])


DENSE_PRODUCT_COLUMNS = 128        # q up to the dense path's size ...
DENSE_PRODUCT_ENTRIES = 2_000_000  # ... and a dense Z of at most 16 MB


def random_effects_matrix(design: Design) -> sp.csc_matrix:
    """``Z = [Z_1 Z_2 ...]`` for the terms in the design's order (``Design.Z``, built once)."""
    return design.Z


def cross_products(design: Design, Z: sp.csc_matrix | None = None,
                   conditioning: Conditioning | None = None,
                   by_terms: bool = False) -> CrossProducts:
    """Compute the cross-products of a design.

    A small model (q ≤ ``DENSE_PRODUCT_COLUMNS``) forms them with dense
    products of a dense Z; a larger one term pair by term pair from the
    grouping codes (:func:`_term_pair_products`), with no Z at all.  A ``Z``
    given by the caller is multiplied out as it is.  ``conditioning`` fixes
    T and s in advance (every chunk of a chunked fit uses the same, so that
    the chunks' products add up, :mod:`lmmpy.chunked`); by default they are
    found from the design's own rows.  ``by_terms``: Z'WZ of a large model kept by
    term pairs, each block once (:class:`~lmmpy.objective._termblocks.TermBlocks`,
    the chunked fits' layout), not in compressed columns.

    Examples
    --------
    >>> from lmmpy.datasets import load
    >>> from lmmpy.design import build_design
    >>> from lmmpy.formula import parse_formula
    >>> d = build_design(parse_formula("Yield ~ 1 + (1 | Batch)"), load("Dyestuff"))
    >>> cross_products(d).ZtZ.diagonal()
    array([5., 5., 5., 5., 5., 5.])
    """
    weights = design.weights
    if conditioning is None:
        X, transform = conditioned_columns(design.X.values, weights)
    else:
        X, transform = conditioning.columns(design.X.values), conditioning.transform
    WX = X if weights is None else weights[:, None] * X
    XtX = X.T @ WX
    if conditioning is None:
        y, shift = residualised(X, WX, design.y - design.offset, XtX)
    else:
        y, shift = conditioning.response(X, design.y - design.offset), conditioning.shift
    Xy = np.column_stack([X, y])
    WXy = np.column_stack([WX, y if weights is None else weights * y])
    q = sum(term.n_random_effects for term in design.terms)
    if Z is None and not (q <= DENSE_PRODUCT_COLUMNS
                          and design.n_obs * q <= DENSE_PRODUCT_ENTRIES):
        if by_terms and len(design.terms) > 1:
            from lmmpy.objective._termblocks import term_blocks

            ZtZ, ZtXy = term_blocks(design.terms, weights), _term_ZtXy(design.terms, WXy)
        else:
            ZtZ, ZtXy = _term_pair_products(design.terms, WXy, weights)
    else:
        if Z is None:   # a small model: dense products cost a tenth of the sparse ones
            Z = _dense_random_effects_matrix(design)
        if weights is None:
            WZ = Z
        else:
            WZ = weights[:, None] * Z if isinstance(Z, np.ndarray) else sp.diags(weights) @ Z
        ZtZ, ZtXy = Z.T @ WZ, np.asarray(WZ.T @ Xy)
        if sp.issparse(ZtZ):
            ZtZ = sp.csc_matrix(ZtZ)
            ZtZ.sort_indices()
    XytXy = np.empty((X.shape[1] + 1,) * 2)
    XytXy[:-1, :-1] = XtX
    XytXy[:, -1] = XytXy[-1, :] = Xy.T @ WXy[:, -1]
    return CrossProducts(
        ZtXy=ZtXy,
        XytXy=XytXy,
        n_obs=design.n_obs,
        n_fixed=X.shape[1],
        sum_log_weights=0.0 if weights is None else float(np.sum(np.log(weights))),
        ZtZ_product=ZtZ,
        transform=transform,
        shift=shift,
    )


def conditioned_columns(X: np.ndarray,
                        weights: np.ndarray | None) -> tuple[np.ndarray, np.ndarray | None]:
    """X̃ = X T with every column centred on the (first) constant column, and T.

    x̃_j = x_j − m_j x_c with m_j x_c the weighted mean of x_j; T is the
    identity but for row c, −m (T[c, c] = 1), so |T| = 1.  Without a constant
    column X is returned as it is and T is None.
    """
    constant = _constant_column(X)
    if constant is None or X.shape[1] < 2:
        return X, None
    level = X[0, constant]
    means = (X.mean(axis=0) if weights is None else weights @ X / weights.sum()) / level
    means[constant] = 0.0
    transform = np.eye(X.shape[1])
    transform[constant] -= means
    return X - np.outer(X[:, constant], means), transform


def _constant_column(X: np.ndarray) -> int | None:
    """The first column whose values are all one non-zero number (the intercept)."""
    if not len(X):
        return None
    candidates = np.flatnonzero((X[0] != 0) & (X.min(axis=0) == X.max(axis=0)))
    return int(candidates[0]) if len(candidates) else None


def residualised(X: np.ndarray, WX: np.ndarray, y: np.ndarray,
                 XtX: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
    """ỹ = y − X s with s the weighted least-squares coefficient (XtX = X'WX), and s.

    s is solved on the unit-diagonal scaling of X'WX (columns on scales 1e6
    apart stay solvable); X s is subtracted one column at a time, the constant
    column first, so that y − s_c is exact for a large location.  None when
    there are no fixed effects.
    """
    p = X.shape[1]
    if p == 0:
        return y, None
    scale = np.sqrt(np.diagonal(XtX).copy())
    scale[scale == 0] = 1.0
    scaled = XtX / np.outer(scale, scale)
    rhs = (WX.T @ y) / scale
    try:   # numpy's solve: scipy's Cholesky wrappers cost 100 µs, a sleepstudy fit's 4 %
        shift = np.linalg.solve(scaled, rhs) / scale
    except np.linalg.LinAlgError:
        shift = np.linalg.lstsq(scaled, rhs, rcond=None)[0] / scale
    return subtracted(X, y, shift, _constant_column(X)), shift


def subtracted(X: np.ndarray, y: np.ndarray, shift: np.ndarray, constant: int | None) -> np.ndarray:
    """y − X s, one column at a time, the ``constant`` column first (exact for a large
    location, see :func:`residualised`)."""
    residual = np.array(y, dtype=float)
    first = [] if constant is None else [constant]
    for j in first + [j for j in range(X.shape[1]) if j != constant]:
        residual -= X[:, j] * shift[j]
    return residual


@dataclass(frozen=True)
class Conditioning:
    """T and s of X̃ = X T, ỹ = y − X̃ s chosen in advance, for designs whose products
    must add up (the chunks of :mod:`lmmpy.chunked`: any T and s are exact).

    Attributes
    ----------
    constant : the column the others are centred on (its values are 1), or None
    means : m of x̃_j = x_j − m_j x_c (m_c = 0), or None (T the identity)
    shift : s, or None (zero)

    Examples
    --------
    >>> c = Conditioning(0, np.array([0.0, 2.0]), np.array([1.0, 0.5]))
    >>> X = np.array([[1.0, 1.0], [1.0, 3.0]])
    >>> c.columns(X).tolist(), c.response(c.columns(X), np.array([0.0, 2.0])).tolist()
    ([[1.0, -1.0], [1.0, 1.0]], [-0.5, 0.5])
    """

    constant: int | None
    means: np.ndarray | None
    shift: np.ndarray | None

    @property
    def transform(self) -> np.ndarray | None:
        if self.means is None:
            return None
        T = np.eye(len(self.means))
        T[self.constant] -= self.means
        return T

    def columns(self, X: np.ndarray) -> np.ndarray:
        """X̃ = X T (as :func:`conditioned_columns` forms it)."""
        if self.means is None:
            return X
        return X - np.outer(X[:, self.constant], self.means)

    def response(self, X: np.ndarray, y: np.ndarray) -> np.ndarray:
        """ỹ = y − X̃ s, for X̃ from :meth:`columns`."""
        if self.shift is None:
            return np.array(y, dtype=float)
        return subtracted(X, y, self.shift, self.constant)


def _is_upper(T: np.ndarray) -> bool:
    return not np.any(np.tril(T, -1))


def _term_pair_products(terms, WXy: np.ndarray,
                        weights: np.ndarray | None) -> tuple[sp.csc_matrix, np.ndarray]:
    """Z'WZ (CSC, sorted) and Z'W[X y] block by block (MixedModels.jl's blocks of A).

    A term with itself and with [X y]: sums by level (``bincount``), the
    diagonal block being block diagonal.  Two terms t < u: Z_t'WZ_u from their
    codes in one compiled pass (:mod:`lmmpy.objective._crossprod_kernels`), in
    CSC; its transpose (the block below the diagonal) by one conversion of the
    block, not of n-row matrices.  Each term's columns are its blocks stacked
    in row order, and the terms' columns side by side: CSC stacks that keep
    the pieces' sorted rows, with no sort.
    """
    from lmmpy.objective._crossprod_kernels import cross_block

    ZtXy = _term_ZtXy(terms, WXy)
    weighted = [term.model_matrix.values if weights is None
                else term.model_matrix.values * weights[:, None] for term in terms]
    cross = {(t, u): cross_block(terms[t].codes, terms[t].model_matrix.values,
                                 terms[t].n_levels, terms[u].codes, weighted[u],
                                 terms[u].n_levels)
             for t in range(len(terms)) for u in range(t + 1, len(terms))}
    columns = []
    for t in range(len(terms)):
        pieces = [cross[s, t] for s in range(t)]
        diagonal = _level_blocks(terms[t], weights)   # symmetric: its CSR arrays are its CSC
        pieces.append(sp.csc_matrix((diagonal.data, diagonal.indices, diagonal.indptr),
                                    shape=diagonal.shape))
        pieces += [cross[t, u].tocsr().T for u in range(t + 1, len(terms))]
        columns.append(pieces[0] if len(pieces) == 1 else sp.vstack(pieces, format="csc"))
    ZtZ = columns[0] if len(columns) == 1 else sp.hstack(columns, format="csc")
    ZtZ = sp.csc_matrix(ZtZ)
    ZtZ.sort_indices()   # sorted pieces stacked in row order: a check, no sort
    return ZtZ, ZtXy


def _term_ZtXy(terms, WXy: np.ndarray) -> np.ndarray:
    """Z'W[X y] term by term: row (level, a) of term t, a sum by level."""
    starts = np.cumsum([0] + [term.n_random_effects for term in terms])
    ZtXy = np.zeros((starts[-1], WXy.shape[1]))
    for t, term in enumerate(terms):
        V, k = term.model_matrix.values, term.n_columns
        for a in range(k):
            for j in range(WXy.shape[1]):
                ZtXy[starts[t] + a: starts[t + 1]: k, j] = np.bincount(
                    term.codes, V[:, a] * WXy[:, j], minlength=term.n_levels)
    return ZtXy


def _level_blocks_array(term, weights: np.ndarray | None) -> np.ndarray:
    """Z_t'WZ_t's k×k blocks by level, (ℓ, k, k), summed with ``bincount``."""
    V, codes, k, levels = term.model_matrix.values, term.codes, term.n_columns, term.n_levels
    WV = V if weights is None else V * weights[:, None]
    blocks = np.empty((levels, k, k))
    for a in range(k):
        for b in range(a, k):
            blocks[:, a, b] = blocks[:, b, a] = np.bincount(codes, WV[:, a] * V[:, b],
                                                            minlength=levels)
    return blocks


def _level_blocks(term, weights: np.ndarray | None) -> sp.csr_matrix:
    """Z_t'WZ_t: k×k blocks by level, summed with ``bincount`` (CSR, sorted)."""
    k, levels = term.n_columns, term.n_levels
    blocks = _level_blocks_array(term, weights)
    columns = (k * np.arange(levels)[:, None, None] + np.arange(k)).repeat(k, axis=1)
    return sp.csr_matrix((blocks.ravel(), columns.ravel(), np.arange(0, levels * k * k + 1, k)),
                         shape=(levels * k, levels * k))


def _dense_random_effects_matrix(design: Design) -> np.ndarray:
    """Z as a dense array, straight from the terms' codes and model matrices (a
    small model's fit needs no sparse Z; ``Design.Z`` is built when asked for)."""
    rows = np.arange(design.n_obs)[:, None]
    Z = np.zeros((design.n_obs, sum(term.n_random_effects for term in design.terms)))
    start = 0
    for term in design.terms:
        k = term.n_columns
        Z[rows, start + term.codes[:, None] * k + np.arange(k)] = term.model_matrix.values
        start += term.n_random_effects
    return Z


def _same(a: np.ndarray | None, b: np.ndarray | None) -> bool:
    return (a is None and b is None) or (a is not None and b is not None
                                         and np.array_equal(a, b))


def _sum_products(a, b, in_place: bool = False):
    """Z'WZ + Z'WZ: by term pairs when both are (:meth:`TermBlocks.added`), dense when
    either is (a small model), else CSC on the union of the patterns, sorted, explicit
    zeros kept (scipy's own sum drops them)."""
    if isinstance(a, TermBlocks) and isinstance(b, TermBlocks):
        return a.added(b, in_place)
    if isinstance(a, TermBlocks) or isinstance(b, TermBlocks):
        a = a.tocsc() if isinstance(a, TermBlocks) else a
        b = b.tocsc() if isinstance(b, TermBlocks) else b
    if not sp.issparse(a) or not sp.issparse(b):
        return (a.toarray() if sp.issparse(a) else a) + (b.toarray() if sp.issparse(b) else b)
    if a.nnz == b.nnz and np.array_equal(a.indptr, b.indptr) and np.array_equal(a.indices,
                                                                                b.indices):
        return sp.csc_matrix((a.data + b.data, a.indices, a.indptr), shape=a.shape)
    from lmmpy.objective._sum_kernels import csc_union_sum

    return csc_union_sum(a, b)   # one merge: no COO copies (lmmpy.objective._sum_kernels)
