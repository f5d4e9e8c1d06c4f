"""An approximate factorization for designs whose exact factor does not fit (opt-in only).

Never chosen by itself: ``ProfiledDeviance(..., _path="stochastic")`` asks for it.
With A = Λ'Z'WZΛ + I and D its diagonal, Ã = D^-½AD^-½ has a unit diagonal, and

    log|A| = log|D| + tr log Ã
           = log|D| + tr(Ã − I) − ½‖Ã − I‖²_F + tr f(Ã),   f(x) = log x − (x−1) + (x−1)²/2,

where tr(Ã − I) = 0 and ‖Ã − I‖_F come from A's entries exactly, and only the
remainder tr f(Ã) (third order in Ã − I, which for two crossed factors is
bipartite, so its odd powers have no trace either) is estimated: by stochastic
Lanczos quadrature (Ubaru, Chen & Saad 2017, SIAM J. Matrix Anal. Appl. 38(4)),
``steps`` Lanczos steps from each of ``probes`` Rademacher vectors z, z'f(Ã)z ≈
q Σ_k τ_k² f(ϑ_k) (ϑ, τ the Lanczos tridiagonal's eigenvalues and first
eigenvector components), averaged.  The probes are drawn once (``seed``), so
the estimate is a smooth function of θ that an optimizer can minimise; its
standard error (:attr:`standard_error`, the probes' spread over √probes) is
the method's error in log|A|.  The solves A⁻¹B the objective needs (R, and û)
are by conjugate gradients preconditioned by D, to a relative residual of
``rtol``: exact to that tolerance.  Memory: A's entries and q × probes numbers,
never a factor.  No gradient: the optimizer is BOBYQA.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from scipy.linalg import eigh_tridiagonal

from lmmpy.objective._crossprod import CrossProducts
from lmmpy.objective._factorization import Capabilities
from lmmpy.objective._lambda import ThetaLayout

BREAKDOWN = 1e-8   # a Lanczos residual this small (unit vectors) ends the recurrence: past
                   # an invariant subspace its vectors are rounding noise, not Krylov vectors


class StochasticFactorization:
    """θ → (an estimate of log|A|, R) without a factor of A (module docstring).

    Examples
    --------
    >>> from lmmpy.datasets import load
    >>> from lmmpy.design import build_design
    >>> from lmmpy.formula import parse_formula
    >>> from lmmpy.objective import cross_products
    >>> from lmmpy.objective._lambda import theta_layout
    >>> d = build_design(parse_formula("diameter ~ 1 + (1 | plate) + (1 | sample)"),
    ...                  load("Penicillin"))
    >>> f = StochasticFactorization(cross_products(d), theta_layout(d.terms))
    >>> logdet, R = f.update(np.array([1.5, 3.2]))
    >>> abs(logdet - 94.609) < 4 * f.standard_error    # exact (CHOLMOD): 94.609
    True
    """

    name = "stochastic"
    capabilities = Capabilities(exact=False)

    def __init__(self, crossprods: CrossProducts, layout: ThetaLayout, probes: int = 32,
                 steps: int = 12, seed: int = 20261203, rtol: float = 1e-10):
        self.crossprods, self.layout = crossprods, layout
        self.probes = np.random.default_rng(seed).choice([-1.0, 1.0], (layout.size, probes))
        self.steps, self.rtol = steps, rtol
        self._state = None
        self._guess = None
        S = sp.csr_matrix(crossprods.ZtZ)
        S.sort_indices()
        self._S = S
        self._rows = np.repeat(np.arange(S.shape[0]), np.diff(S.indptr))
        self._diagonal = np.flatnonzero(self._rows == S.indices)
        self._diagonal_only = (np.array_equal(layout.lambda_rows, layout.lambda_cols)
                               and len(self._diagonal) == S.shape[0])

    def _matrix(self, theta: np.ndarray) -> sp.csr_matrix:
        """A = Λ'SΛ + I: on S's own pattern (entries scaled by λ_aλ_b) when Λ is diagonal
        (random intercepts, diagonal terms) and S stores its diagonal, else by products."""
        if not self._diagonal_only:
            Lambda = self.layout.Lambda(theta)
            return sp.csr_matrix(Lambda.T @ self.crossprods.ZtZ @ Lambda
                                 + sp.eye(self.layout.size, format="csr"))
        lam = np.zeros(self.layout.size)
        lam[self.layout.lambda_rows] = theta[self.layout.lambda_theta]
        data = self._S.data * lam[self._rows] * lam[self._S.indices]
        data[self._diagonal] += 1.0
        return sp.csr_matrix((data, self._S.indices, self._S.indptr), shape=self._S.shape)

    def with_crossprods(self, crossprods: CrossProducts) -> StochasticFactorization:
        other = StochasticFactorization(crossprods, self.layout, self.probes.shape[1],
                                        self.steps, 0, self.rtol)
        other.probes = self.probes
        return other

    def Lambda(self, theta: np.ndarray) -> sp.csc_matrix:
        return self.layout.Lambda(theta)

    def update(self, theta: np.ndarray) -> tuple[float, np.ndarray]:
        """Estimate log|A| and solve for R at θ (LinAlgError when C is not PD)."""
        A = self._matrix(theta)
        d = A.diagonal()
        scale = 1.0 / np.sqrt(d)
        rows = np.repeat(np.arange(A.shape[0]), np.diff(A.indptr))
        scaled = sp.csr_matrix((A.data * scale[rows] * scale[A.indices], A.indices, A.indptr),
                               shape=A.shape)
        off = scaled.data[rows != scaled.indices]
        remainder, error = self._quadrature(scaled)
        logdet = float(np.sum(np.log(d))) - 0.5 * float(off @ off) + remainder
        B = np.asarray(self.layout.Lambda(theta).T @ self.crossprods.ZtXy)
        X = self._solve(A, d, B)
        C = self.crossprods.XytXy - B.T @ X
        self._state = (A, d, logdet, error)
        return logdet, np.linalg.cholesky(C).T

    @property
    def standard_error(self) -> float:
        """The estimate's standard error at the last θ (the probes' spread / √probes)."""
        return self._state[3]

    def logdet(self) -> float:
        return self._state[2]

    def solve_A(self, B: np.ndarray | sp.spmatrix) -> np.ndarray:
        """A⁻¹B by preconditioned conjugate gradients, at the last θ."""
        A, d = self._state[0], self._state[1]
        B = B.toarray() if sp.issparse(B) else np.asarray(B, dtype=float)
        return self._solve(A, d, B)

    def _solve(self, A: sp.csr_matrix, d: np.ndarray, B: np.ndarray) -> np.ndarray:
        """Block conjugate gradients, one independent recurrence a column, preconditioned by
        D⁻¹, from the last solution of that shape (the optimizer's θ's are close)."""
        vector = B.ndim == 1
        B = B.reshape(len(B), -1)
        X = np.zeros_like(B)
        if self._guess is not None and self._guess.shape == B.shape:
            X = self._guess.copy()
        R = B - A @ X
        Z = R / d[:, None]
        P = Z.copy()
        rz = np.sum(R * Z, axis=0)
        norms = np.maximum(np.linalg.norm(B, axis=0), 1e-300)
        for _ in range(10 * len(d)):
            if np.all(np.linalg.norm(R, axis=0) <= self.rtol * norms):
                break
            AP = A @ P
            alpha = rz / np.where(rz == 0, 1.0, np.sum(P * AP, axis=0))
            X += P * alpha
            R -= AP * alpha
            Z = R / d[:, None]
            rz_new = np.sum(R * Z, axis=0)
            P = Z + P * (rz_new / np.where(rz == 0, 1.0, rz))
            rz = rz_new
        self._guess = X.copy()
        return X.ravel() if vector else X

    def _quadrature(self, scaled: sp.csr_matrix) -> tuple[float, float]:
        """tr f(Ã) and its standard error: Lanczos from every probe at once (no
        reorthogonalisation: Gauss quadrature needs none), then each tridiagonal's
        eigenvalues and first components."""
        q, count = self.probes.shape
        V = self.probes / np.sqrt(q)
        previous = np.zeros_like(V)
        beta = np.zeros(count)
        steps = min(self.steps, q)
        length = np.full(count, steps)         # a probe's recurrence ends at its breakdown
        alphas, betas = np.zeros((steps, count)), np.zeros((steps, count))
        for k in range(steps):
            W = scaled @ V
            alphas[k] = np.einsum("ij,ij->j", V, W)
            W -= V * alphas[k]
            W -= previous * beta
            beta = np.sqrt(np.einsum("ij,ij->j", W, W))
            ended = (beta <= BREAKDOWN) & (length == steps)
            length[ended] = k + 1             # an invariant subspace: exact from here
            beta = np.where(length > k + 1, beta, 0.0)
            betas[k] = beta
            W *= np.divide(1.0, beta, out=np.zeros_like(beta), where=beta > 0)
            previous, V = V, W
        estimates = np.empty(count)
        for j in range(count):
            k = length[j]
            nodes, vectors = eigh_tridiagonal(alphas[:k, j], betas[: k - 1, j])
            x = np.maximum(nodes, 1e-300)
            f = np.log(x) - (x - 1) + 0.5 * (x - 1) ** 2
            estimates[j] = q * float(np.sum(vectors[0] ** 2 * f))
        return float(np.mean(estimates)), float(np.std(estimates, ddof=1) / np.sqrt(count))

