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
    capabilities = Capabilities()

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
        B = np.asarray(self.layout.Lambda(theta).T @ self.crossprods.ZtXy)
        C = self.crossprods.XytXy - B.T @ self.factor.solve(B)
        return float(self.factor.logdet()), np.linalg.cholesky(C).T

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
