"""θ → profiled deviance on a CHOLMOD factor analysed once.

For fixed θ (Bates et al. 2015, eqs. 18-34), with S = Z'WZ and B = Λ'Z'W[X y]:

    A = Λ'SΛ + I = P'LL'P          CHOLMOD: symbolic analysis once, numeric per θ
    C = [X y]'W[X y] − B'A⁻¹B = R'R,  R = [[R_X, c_β], [0, r]]

so ``log|L|² = log|A|``, ``log|R_X|²`` and the penalized residual sum of
squares ``r² = R[p, p]²`` come from one sparse and one (p+1)×(p+1) dense
factorization, and

    ML:   d(θ)  = log|L|² + n (1 + log(2π r²/n)) − Σ log w                  (eq. 34)
    REML: dR(θ) = log|L|² + log|R_X|² + (n−p)(1 + log(2π r²/(n−p))) − Σ log w (eq. 41)

β̂ = R_X⁻¹ c_β and û = A⁻¹ (B_y − B_X β̂) are only formed at the optimum.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.linalg as la
import scipy.sparse as sp
from sksparse.cholmod import analyze

from lmmpy.objective._crossprod import CrossProducts
from lmmpy.objective._lambda import ScaledCrossProduct, ThetaLayout


@dataclass(frozen=True)
class Solution:
    """Everything the fitted model needs at one θ.

    Attributes
    ----------
    theta, beta, u, b : parameters and conditional modes (b = Λu)
    R_X : p×p upper-triangular factor, ``R_X'R_X = X'WX − R_ZX'R_ZX``
    sigma : residual standard deviation σ̂ (ML or REML divisor)
    pwrss : penalized weighted residual sum of squares r²
    logdet_L, logdet_RX : log|L|² and log|R_X|²
    deviance : the objective (ML deviance or REML criterion)
    """

    theta: np.ndarray
    beta: np.ndarray
    u: np.ndarray
    b: np.ndarray
    R_X: np.ndarray
    sigma: float
    pwrss: float
    logdet_L: float
    logdet_RX: float
    deviance: float


class ProfiledDeviance:
    """The profiled deviance (REML criterion) of a linear mixed model as a function of θ.

    The sparse factor is analysed once; each call refactors it numerically.
    This object is the mutable per-θ state; the cross-products are not changed.

    Examples
    --------
    >>> from lmmpy.datasets import load
    >>> from lmmpy.design import build_design
    >>> from lmmpy.formula import parse_formula
    >>> from lmmpy.objective import cross_products
    >>> d = build_design(parse_formula("Yield ~ 1 + (1 | Batch)"), load("Dyestuff"))
    >>> f = ProfiledDeviance(cross_products(d), d.terms, reml=True)
    >>> round(f(np.array([0.7525807])), 4)
    319.6543
    """

    def __init__(self, crossprods: CrossProducts, terms, reml: bool = True,
                 _shared: tuple[ThetaLayout, ScaledCrossProduct, object] | None = None):
        from lmmpy.objective._lambda import scaled_cross_product, theta_layout

        self.crossprods = crossprods
        self.reml = reml
        if _shared is None:
            layout = theta_layout(tuple(terms))
            scaled = scaled_cross_product(crossprods.ZtZ, layout)
            factor = analyze(scaled.pattern, mode="supernodal")
            _shared = (layout, scaled, factor)
        self.layout, self.scaled, self.factor = _shared
        self.terms = tuple(terms)
        self.n_evaluations = 0

    def with_crossprods(self, crossprods: CrossProducts, reml: bool | None = None):
        """The same structure (analysed factor reused) with other cross-products."""
        reml = self.reml if reml is None else reml
        return ProfiledDeviance(crossprods, self.terms, reml, _shared=(
            self.layout, self.scaled, self.factor.copy()))

    def __call__(self, theta: np.ndarray) -> float:
        self.n_evaluations += 1
        theta = np.asarray(theta, dtype=float)
        B = self._factorize(theta)
        try:
            R = self._augmented_factor(B)
        except la.LinAlgError:
            return np.inf
        return self._deviance(R)

    def solve(self, theta: np.ndarray) -> Solution:
        """β̂, û, σ̂ and the factors at θ."""
        theta = np.asarray(theta, dtype=float)
        B = self._factorize(theta)
        Y = self.factor.solve_A(B)
        R = np.linalg.cholesky(self.crossprods.XytXy - B.T @ Y).T
        p = self.crossprods.n_fixed
        R_X = R[:p, :p]
        beta = la.solve_triangular(R_X, R[:p, p]) if p else np.zeros(0)
        u = Y[:, p] - Y[:, :p] @ beta
        pwrss = R[p, p] ** 2
        return Solution(
            theta=theta,
            beta=beta,
            u=u,
            b=self.layout.Lambda(theta) @ u,
            R_X=R_X,
            sigma=float(np.sqrt(pwrss / self._dof())),
            pwrss=float(pwrss),
            logdet_L=float(self.factor.logdet()),
            logdet_RX=float(2 * np.sum(np.log(np.abs(np.diag(R_X))))),
            deviance=self._deviance(R),
        )

    def _factorize(self, theta: np.ndarray) -> np.ndarray:
        """Refactor A(θ) in place; return B = Λ'Z'W[X y]."""
        A = self.scaled.matrix(theta, self.crossprods.ZtZ.data)
        self.factor.cholesky_inplace(A, beta=1.0)
        return np.asarray(self.layout.Lambda(theta).T @ self.crossprods.ZtXy)

    def _augmented_factor(self, B: np.ndarray) -> np.ndarray:
        # C = [X y]'W[X y] − B'A⁻¹B; its Cholesky factor holds R_X, c_β and r.
        C = self.crossprods.XytXy - B.T @ self.factor.solve_A(B)
        return np.linalg.cholesky(C).T

    def _dof(self) -> int:
        return self.crossprods.n_obs - (self.crossprods.n_fixed if self.reml else 0)

    def _deviance(self, R: np.ndarray) -> float:
        p = self.crossprods.n_fixed
        pwrss = R[p, p] ** 2
        dof = self._dof()
        value = self.factor.logdet() + dof * (1 + np.log(2 * np.pi * pwrss / dof))
        if self.reml:
            value += 2 * np.sum(np.log(np.abs(np.diag(R)[:p])))
        return float(value - self.crossprods.sum_log_weights)


def conditional_variance_blocks(deviance: ProfiledDeviance, theta: np.ndarray,
                                chunk: int = 512) -> list[np.ndarray]:
    """Diagonal blocks of Λ A⁻¹ Λ' per term: array (levels, k, k) each (times σ² = condVar).

    Solves A X = Λ'E for chunks of unit vectors E, keeping only the entries within
    each k×k block, so memory stays O(q · chunk).
    """
    deviance._factorize(theta)
    Lambda_t = deviance.layout.Lambda(theta).T.tocsc()
    q = deviance.layout.size
    block_start = deviance.layout.block_start
    position = deviance.layout.position
    blocks = _empty_blocks(deviance.terms)
    for start in range(0, q, chunk):
        columns = np.arange(start, min(start + chunk, q))
        E = sp.csc_matrix((np.ones(len(columns)), (columns, np.arange(len(columns)))),
                          shape=(q, len(columns)))
        X = deviance.factor.solve_A((Lambda_t @ E).toarray())
        V = Lambda_t.T @ X  # columns of Λ A⁻¹ Λ'
        _scatter_blocks(V, columns, block_start, position, blocks)
    return blocks


def _empty_blocks(terms) -> list[np.ndarray]:
    return [np.zeros((term.n_levels, term.n_columns, term.n_columns)) for term in terms]


def _scatter_blocks(V, columns, block_start, position, blocks) -> None:
    term_of = np.concatenate([np.full(len(b) * b.shape[1], t) for t, b in enumerate(blocks)])
    first_of_term = np.concatenate([[0], np.cumsum([len(b) * b.shape[1] for b in blocks])])
    for local, column in enumerate(columns):
        t = term_of[column]
        k = blocks[t].shape[1]
        rows = block_start[column] + np.arange(k)
        level = (block_start[column] - first_of_term[t]) // k
        blocks[t][level, :, position[column]] = V[rows, local]
