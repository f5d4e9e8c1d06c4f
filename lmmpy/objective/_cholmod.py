"""The general path: one sparse CHOLMOD factor of ``A = Λ'Z'WZΛ + I``, analysed once.

For fixed θ (Bates et al. 2015, eqs. 18-34), with S = Z'WZ and B = Λ'Z'W[X y]:

    A = Λ'SΛ + I = P'LL'P          CHOLMOD: symbolic analysis once, numeric per θ
    C = [X y]'W[X y] − B'A⁻¹B = R'R,  R = [[R_X, c_β], [0, r]]

so ``log|L|² = log|A|`` and the (p+1)×(p+1) upper-triangular R (which holds
R_X, c_β and r) come from one sparse and one small dense factorization.  This
path takes any structure; :mod:`lmmpy.objective._blocked` is faster where it
applies.  The pattern of A is fixed (explicit zeros kept, see
:mod:`lmmpy.objective._lambda`), so CHOLMOD's ordering and supernodes are
computed once (Chen, Davis, Hager & Rajamanickam 2008, ACM TOMS 35(3)).
Before the first numeric factorization the factor's size is counted from
that analysis (:mod:`lmmpy.objective._fill`): a factor that cannot fit in
memory is refused with :class:`~lmmpy.objective._fill.FactorTooLargeError`
naming its size, and CHOLMOD's own ``problem too large`` / ``out of memory``
errors are reported the same way.

The gradient (:mod:`lmmpy.objective._gradient`) needs ``Q = A⁻¹Λ'Z'WZ`` at
Λ's entries, i.e. ½ ∂log|A|/∂Λ: A⁻¹ on A's pattern (:mod:`._selinv`, the
selected inverse of the factor) weighed into the contributions that make
``Λ'SΛ`` (:meth:`ScaledCrossProduct.lambda_gradient`) — no inverse of Λ,
so θ may sit on its bound.  The gradient is offered (``gradient_fits``) when
the selected inverse's copy of L and its dense tail fit in half the available
memory; otherwise the optimizer does without it.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from lmmpy.objective import _fill
from lmmpy.objective._crossprod import CrossProducts
from lmmpy.objective._factorization import Capabilities
from lmmpy.objective._fill import (
    FactorTooLargeError,
    check_factor_fits,
    factor_nonzeros,
    too_large_message,
)
from lmmpy.objective._lambda import ScaledCrossProduct, ThetaLayout, scaled_cross_product


class CholmodFactorization:
    """θ → (log|L|², R) on a CHOLMOD factor; ``solve_A`` solves with A at the last θ.

    Examples
    --------
    >>> from lmmpy.datasets import load
    >>> from lmmpy.design import build_design
    >>> from lmmpy.formula import parse_formula
    >>> from lmmpy.objective import cross_products
    >>> from lmmpy.objective._lambda import theta_layout
    >>> d = build_design(parse_formula("Yield ~ 1 + (1 | Batch)"), load("Dyestuff"))
    >>> f = CholmodFactorization(cross_products(d), theta_layout(d.terms))
    >>> logdet, R = f.update(np.array([0.75]))
    >>> round(logdet, 4)
    8.0297
    """

    name = "cholmod"

    def __init__(self, crossprods: CrossProducts, layout: ThetaLayout,
                 _shared: tuple[ScaledCrossProduct, object] | None = None):
        self.crossprods = crossprods
        self.layout = layout
        if _shared is None:
            scaled = scaled_cross_product(crossprods.ZtZ, layout)
            factor = _analyze(scaled.pattern)
            check_factor_fits(scaled.pattern, factor.permutation())
            _shared = (scaled, factor)
        self.scaled, self.factor = _shared
        self._theta = None
        self._positions = None
        self._gradient_fits = None

    @property
    def capabilities(self) -> Capabilities:
        """The gradient (``trace_terms``) when its selected inverse fits in memory."""
        return Capabilities(gradient="trace_terms" if self.gradient_fits else None)

    @property
    def gradient_fits(self) -> bool:
        """Whether the gradient's selected inverse fits in memory (module docstring)."""
        if self._gradient_fits is None:
            from lmmpy.objective._selinv import inverse_fits

            counts = _fill.column_counts(self.scaled.pattern, self.factor.permutation())
            self._gradient_fits = inverse_fits(counts, _fill.available_memory())
        return self._gradient_fits

    def with_crossprods(self, crossprods: CrossProducts) -> CholmodFactorization:
        """Other cross-products: the analysis is reused when Z'WZ keeps its pattern (the
        numeric values are always the new ones), else made anew."""
        old, new = self.crossprods.ZtZ, crossprods.ZtZ
        if not (np.array_equal(old.indptr, new.indptr) and np.array_equal(old.indices, new.indices)):
            return CholmodFactorization(crossprods, self.layout)
        return CholmodFactorization(crossprods, self.layout, (self.scaled, self.factor.copy()))

    def update(self, theta: np.ndarray) -> tuple[float, np.ndarray]:
        """Refactor at θ; return log|L|² and R (raises LinAlgError when C is not PD)."""
        from lmmpy.objective._sksparse_compat import TOO_LARGE_ERRORS

        A = self.scaled.matrix(theta, self.crossprods.ZtZ.data)
        try:
            self.factor.factorize(A, beta=1.0)
        except (*TOO_LARGE_ERRORS, MemoryError) as error:
            raise _too_large(self.scaled.pattern, error, self.factor.permutation()) from error
        self._theta = np.array(theta, dtype=float)
        B = np.asarray(self.layout.Lambda(theta).T @ self.crossprods.ZtXy)
        C = self.crossprods.XytXy - B.T @ self.factor.solve(B)
        return float(self.factor.logdet()), np.linalg.cholesky(C).T

    def trace_terms(self) -> np.ndarray:
        """Q[c, r] at each entry (r, c) of Λ, Q = A⁻¹Λ'Z'WZ, at the θ of the last
        :meth:`update` (module docstring): ½ ∂log|A|/∂Λ[r, c]."""
        from lmmpy.objective._selinv import FactorInverse

        rows, cols = self._pattern_positions()
        inverse = FactorInverse(self.factor.lower())
        weights = inverse.entries(rows, cols)
        del inverse
        return 0.5 * self.scaled.lambda_gradient(self._theta, self.crossprods.ZtZ.data,
                                                 weights, len(self.layout.lambda_rows))

    def _pattern_positions(self) -> tuple[np.ndarray, np.ndarray]:
        """The entries of A's (lower) pattern in the factor's permuted order."""
        if self._positions is None:
            pattern = self.scaled.pattern
            position = np.empty(pattern.shape[0], dtype=np.int64)
            position[self.factor.permutation()] = np.arange(pattern.shape[0])
            columns = np.repeat(np.arange(pattern.shape[1]), np.diff(pattern.indptr))
            self._positions = (position[pattern.indices], position[columns])
        return self._positions

    def solve_A(self, B: np.ndarray | sp.spmatrix) -> np.ndarray:
        """A⁻¹B with A at the θ of the last :meth:`update`."""
        return self.factor.solve(B)

    def logdet(self) -> float:
        return float(self.factor.logdet())

    def Lambda(self, theta: np.ndarray) -> sp.csc_matrix:
        return self.layout.Lambda(theta)


def _analyze(pattern: sp.csc_matrix):
    """CHOLMOD's supernodal analysis; ``problem too large`` / ``out of memory`` (and
    numpy's MemoryError) become :class:`FactorTooLargeError`, saying how large."""
    from lmmpy.objective._sksparse_compat import TOO_LARGE_ERRORS, SparseCholesky

    try:
        return SparseCholesky(pattern)
    except (*TOO_LARGE_ERRORS, MemoryError) as error:
        raise _too_large(pattern, error, None) from error


def _too_large(pattern: sp.csc_matrix, error: Exception,
               permutation: np.ndarray | None) -> FactorTooLargeError:
    """The error for a factor CHOLMOD could not make, with its size counted on a simplicial
    analysis when there is no permutation yet (which makes no supernodes, the step whose
    integer sizes overflow)."""
    from sksparse.cholmod import CholmodError

    from lmmpy.objective._sksparse_compat import SparseCholesky

    reason = str(error) or type(error).__name__
    try:
        if permutation is None:
            permutation = SparseCholesky(pattern, supernodal=False).permutation()
        nonzeros = factor_nonzeros(pattern, permutation)
    except (CholmodError, MemoryError):
        nonzeros = None
    return FactorTooLargeError(
        too_large_message(pattern.shape[0], nonzeros, _fill.available_memory(), reason=reason))
