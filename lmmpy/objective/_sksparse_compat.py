"""The few CHOLMOD operations lmmpy uses, on scikit-sparse 0.4.x and 0.5.x alike.

scikit-sparse 0.4 (built against SuiteSparse 5, e.g. Debian 12) and 0.5 (SuiteSparse
>= 7.4: Ubuntu 24.04, Debian 13, Homebrew) wrap CHOLMOD with different APIs:

=============================  ==============================  ==========================
operation                      0.4.x                           0.5.x
=============================  ==============================  ==========================
symbolic analysis              ``analyze(A, mode=...)``        ``CholeskyFactor(A, ...)``
numeric factor of A + βI       ``f.cholesky_inplace(A, β)``    ``f.factorize(A, beta=β)``
solve with A                   ``f.solve_A(B)`` / ``f(B)``     ``f.solve(B)``
too large for CHOLMOD          ``CholmodTooLargeError``        ``CholmodOverflowError``
=============================  ==============================  ==========================

Both take A's lower triangle (0.4 always, 0.5 with ``lower=True``).  0.5 also turns a
supernodal factor into a simplicial one after each factorization, so that the next
one would be simplicial (no BLAS: on InstEval's ML criterion, 168 ms an evaluation
against 81 ms): the 0.5 branch keeps the symbolic analysis and factors a copy of it
each time (0.04 ms).

Examples
--------
>>> import scipy.sparse as sp
>>> A = sp.csc_matrix([[4.0, 0.0], [2.0, 3.0]])        # lower triangle of [[4, 2], [2, 3]]
>>> f = SparseCholesky(A)
>>> f.factorize(A, beta=1.0)                            # [[5, 2], [2, 4]]
>>> round(f.logdet(), 6), f.solve(np.array([7.0, 6.0])).round(6).tolist()
(2.772589, [1.0, 1.0])
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from sksparse import cholmod

# 0.5 renamed the numeric factor class (Factor -> CholeskyFactor) and its methods.
NEW_API: bool = hasattr(cholmod, "CholeskyFactor")

#: CHOLMOD's "problem too large" (integer overflow) and out-of-memory errors.
TOO_LARGE_ERRORS: tuple[type[Exception], ...] = (
    getattr(cholmod, "CholmodOverflowError", None) or cholmod.CholmodTooLargeError,
    cholmod.CholmodOutOfMemoryError,
)


class SparseCholesky:
    """P'LL'P = A + βI for a fixed pattern: symbolic analysis once, numeric per A.

    Parameters
    ----------
    pattern : scipy.sparse matrix
        The pattern every later A has; only its lower triangle (diagonal included)
        is read, here and in :meth:`factorize`.
    supernodal : bool
        Supernodal (BLAS, for large factors) rather than CHOLMOD's choice.

    Examples
    --------
    >>> A = sp.csc_matrix(np.diag([4.0, 9.0]))
    >>> f = SparseCholesky(A)
    >>> f.factorize(A)
    >>> f.solve(np.array([4.0, 9.0])).round(12).tolist()
    [1.0, 1.0]
    """

    def __init__(self, pattern: sp.spmatrix, supernodal: bool = True, _symbolic=None):
        mode = "supernodal" if supernodal else "auto"
        if _symbolic is not None:
            self._symbolic = _symbolic
        elif NEW_API:
            self._symbolic = cholmod.CholeskyFactor(_csc(pattern), lower=True,
                                                    supernodal_mode=mode)
        else:
            self._symbolic = cholmod.analyze(_csc(pattern), mode=mode)
        self._numeric = None  # 0.4 factors in place: then the symbolic object itself

    def copy(self) -> SparseCholesky:
        """Same analysis, a copy of the current numeric factor, refactored independently."""
        if NEW_API:
            clone = SparseCholesky(None, _symbolic=self._symbolic)
            clone._numeric = None if self._numeric is None else self._numeric.copy()
        else:
            clone = SparseCholesky(None, _symbolic=self._symbolic.copy())
            clone._numeric = None if self._numeric is None else clone._symbolic
        return clone

    def factorize(self, A: sp.spmatrix, beta: float = 0.0) -> None:
        """Factor A + βI (A's lower triangle, the analysed pattern).

        A supernodal factor raises LinAlgError when A + βI is not positive definite
        (0.4's simplicial factor is LDL' and does not check).
        """
        try:
            if NEW_API:
                self._numeric = self._symbolic.copy().factorize(_csc(A), beta=beta)
            else:
                self._symbolic.cholesky_inplace(_csc(A), beta=beta)
                self._numeric = self._symbolic
        except cholmod.CholmodNotPositiveDefiniteError as error:
            raise np.linalg.LinAlgError(f"sparse matrix not positive definite ({error})") \
                from error

    def solve(self, B: np.ndarray | sp.spmatrix) -> np.ndarray | sp.spmatrix:
        """(A + βI)⁻¹B for the last :meth:`factorize`."""
        return self._factor().solve(B) if NEW_API else self._factor().solve_A(B)

    def logdet(self) -> float:
        """log|A + βI| for the last :meth:`factorize`."""
        factor = self._factor()
        if NEW_API and factor.is_ll:  # 0.5's logdet() copies L; ``factor`` is a view of it
            return float(2 * np.log(factor.factor.diagonal()).sum())
        return float(factor.logdet())

    def permutation(self) -> np.ndarray:
        """The fill-reducing ordering p of the analysis: P A P' = LL' with A[p][:, p]."""
        return np.asarray(self._symbolic.perm if NEW_API else self._symbolic.P())

    def lower(self) -> sp.csc_matrix:
        """L with LL' = P(A + βI)P' for the last :meth:`factorize` (a copy; the factor
        stays as it is)."""
        factor = self._factor()
        if NEW_API and factor.is_ll:
            return sp.csc_matrix(factor.L)
        if NEW_API:
            unit, diagonal = self.unit_ldl()
            return sp.csc_matrix(unit @ sp.diags(np.sqrt(diagonal)))
        return sp.csc_matrix(factor.L())   # 0.4: L() converts a copy of the factor

    def unit_ldl(self) -> tuple[sp.csc_matrix, np.ndarray]:
        """(L, d) with unit lower-triangular L and L diag(d) L' = P(A + βI)P', from a
        simplicial factor of the last :meth:`factorize` (LL' or LDL' alike)."""
        factor = self._factor()
        if NEW_API and factor.is_ll:
            lower = sp.csc_matrix(factor.L)
            diagonal = lower.diagonal()
            return sp.csc_matrix(lower @ sp.diags(1.0 / diagonal)), diagonal**2
        if NEW_API:
            return sp.csc_matrix(factor.L), np.asarray(factor.D.diagonal())
        lower, diagonal = factor.L_D()
        return sp.csc_matrix(lower), np.asarray(diagonal.diagonal())

    def _factor(self):
        if self._numeric is None:
            raise RuntimeError("SparseCholesky: factorize() before solve() or logdet()")
        return self._numeric


def cholesky(A: sp.spmatrix) -> SparseCholesky:
    """A factored once (A symmetric positive definite; its lower triangle is used).

    Examples
    --------
    >>> f = cholesky(sp.csc_matrix([[2.0, 1.0], [1.0, 2.0]]))
    >>> f.solve(np.array([3.0, 3.0])).round(12).tolist()
    [1.0, 1.0]
    """
    factor = SparseCholesky(A, supernodal=False)
    factor.factorize(A)
    return factor


def _csc(A: sp.spmatrix) -> sp.spmatrix:
    """CSC with sorted indices, as both versions expect (0.5 warns when it converts)."""
    A = A if A.format == "csc" else A.tocsc()
    if not A.has_sorted_indices:
        A = A.sorted_indices()
    return A
