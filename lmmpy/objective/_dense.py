"""The small-model path: one dense Cholesky factor of the whole augmented matrix.

With Λ̃ = diag(Λ_θ, I_{p+1}) and S the full cross-product matrix of [Z X y],

    Λ̃'SΛ̃ + diag(I_q, 0) = L L'

(Bates et al. 2015, eq. 18, all blocks at once).  ``log|L|²`` is twice the
sum of the log of its first q diagonal entries and its trailing
(p+1)×(p+1) block is R' with R = [[R_X, c_β], [0, r]].  When q + p + 1 is a
few dozen (sleepstudy: 39) the sparse machinery costs more than the
arithmetic; here an evaluation is a handful of small dense operations, about
as fast as lme4's compiled code.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from scipy.linalg import lapack

from lmmpy.objective._crossprod import CrossProducts
from lmmpy.objective._factorization import Capabilities
from lmmpy.objective._lambda import ThetaLayout

MAX_DENSE_SIZE = 128  # q + p + 1 up to which the whole system is factored densely


def dense_factorization(crossprods: CrossProducts,
                        layout: ThetaLayout) -> DenseFactorization | None:
    """The dense factorization when q + p + 1 ≤ ``MAX_DENSE_SIZE``, else None."""
    if layout.size + crossprods.n_fixed + 1 > MAX_DENSE_SIZE:
        return None
    return DenseFactorization(crossprods, layout)


class DenseFactorization:
    """θ → (log|L|², R) on a dense factor; ``solve_A`` solves with A at the last θ.

    Examples
    --------
    >>> from lmmpy.datasets import load
    >>> from lmmpy.design import build_design
    >>> from lmmpy.formula import parse_formula
    >>> from lmmpy.objective import cross_products
    >>> from lmmpy.objective._lambda import theta_layout
    >>> d = build_design(parse_formula("Yield ~ 1 + (1 | Batch)"), load("Dyestuff"))
    >>> f = DenseFactorization(cross_products(d), theta_layout(d.terms))
    >>> logdet, R = f.update(np.array([0.75]))
    >>> round(logdet, 4)
    8.0297
    """

    name = "dense"
    capabilities = Capabilities(gradient="augmented", hessian=True, snapshots=True)

    def __init__(self, crossprods: CrossProducts, layout: ThetaLayout):
        self.crossprods, self.layout = crossprods, layout
        self._S = np.block([[crossprods.ZtZ_dense(), crossprods.ZtXy],
                            [crossprods.ZtXy.T, crossprods.XytXy]])
        self._Lambda = np.eye(len(self._S))
        self._Lambda_index = (layout.lambda_rows, layout.lambda_cols)
        self._state = None
        self._gradient_weights: dict[tuple, object] = {}

    def with_crossprods(self, crossprods: CrossProducts) -> DenseFactorization:
        return DenseFactorization(crossprods, self.layout)

    def update(self, theta: np.ndarray) -> tuple[float, np.ndarray]:
        """Factor at θ; return log|L|² and R (upper triangle valid; LinAlgError when not PD)."""
        q = self.layout.size
        Lambda = self._Lambda
        Lambda[self._Lambda_index] = theta[self.layout.lambda_theta]
        Lambda_S = Lambda.T @ self._S
        M = Lambda_S @ Lambda
        M.ravel()[: q * (len(M) + 1): len(M) + 1] += 1.0  # the diagonal of the q block
        factor, info = lapack.dpotrf(M.T, lower=0, overwrite_a=1, clean=1)  # zero below:
        if info != 0:                                   # U⁻¹ is then clean for the gradient
            raise np.linalg.LinAlgError(f"augmented matrix not positive definite ({info})")
        logdet = 2.0 * float(np.log(factor.diagonal()[:q]).sum())
        self._state = (factor, logdet, Lambda_S)
        return logdet, factor[q:, q:]

    def snapshot(self) -> tuple:
        """The state :meth:`update` left (references: every update allocates anew)."""
        return self._state

    def restore(self, snapshot: tuple) -> None:
        """Return to a state :meth:`snapshot` took."""
        self._state = snapshot

    def augmented_gradient(self, n_theta: int, reml: bool, n_obs: int) -> np.ndarray:
        """The objective's gradient from one triangular inverse of the whole augmented factor.

        With M = U'U the augmented matrix and ℓ_k = log|M[:k, :k]|, the ML
        deviance is ℓ_q + n(ℓ_m − ℓ_{m−1}) and the REML criterion
        ℓ_{q+p} + (n − p)(ℓ_m − ℓ_{q+p}), up to constants (m = q + p + 1).
        As ∂M = Ẽ'SΛ̃ + Λ̃'SẼ only touches Λ's columns,

            ∂ℓ_k/∂θ_i = 2 Σ_{(r,c) ∈ E_i} Σ_{j<k} X[c, j] Y[j, r],
            X = U⁻¹,  Y = X'(Λ̃'S)[:, :q]

        (M[:k, :k]⁻¹ = X[:k, :k]X[:k, :k]' as U is triangular), so the
        objective's combination of the three is X diag(w) Y at Λ's entries,
        with w_j the weight of the range j falls in: a handful of small dense
        operations.
        """
        q, layout = self.layout.size, self.layout
        X = self._inverse_factor()
        Y = X.T @ self._state[2][:, :q]
        # Σ_j X[c, j] w_j Y[j, r]: one product gives all three derivatives
        weights = self._weights(reml, n_obs)[0]
        per_entry = ((X * weights) @ Y)[layout.lambda_cols, layout.lambda_rows]
        return 2.0 * np.bincount(layout.lambda_theta, per_entry, minlength=n_theta)

    def augmented_hessian(self, n_theta: int, reml: bool,
                          n_obs: int) -> tuple[np.ndarray, np.ndarray]:
        """The objective's gradient and Hessian at the last θ, from U⁻¹ as the gradient is.

        With w̃_a the weight of index a (see :meth:`augmented_gradient`),
        X = U⁻¹, K' = X'Λ̃'S and, for θ_i's entries s = (r_s, c_s) of Λ,
        A_i = Σ_s K'[:, r_s] X[c_s, :] and F_i = A_i + A_i' = X'(∂_iM)X,

            g_i  = Σ_a w̃_a F_i[a, a],
            H_ij = 2 Σ_{s∈i, t∈j} S[r_s, r_t] G[c_s, c_t] − Σ_{a,b} w̃_max(a,b) F_i[a,b] F_j[a,b],

        G = X diag(w̃) X', the two terms of ∂²log|M_k| = tr(M_k⁻¹∂²M_k) −
        tr(M_k⁻¹∂_iM_kM_k⁻¹∂_jM_k) (∂²M = E_i'SE_j + E_j'SE_i) summed over k
        with the objective's weights.  The first term only reads the pairs of
        Λ's entries whose S[r_s, r_t] is not zero (those of one level, for a
        single term); A_i is one batched product over θ's entries, padded to the
        longest θ.  A few small dense products: cheap on this path's small m.
        """
        X = self._inverse_factor()
        weights, pair_weights = self._weights(reml, n_obs)
        entries = self._entries
        Kt = X.T @ self._state[2]
        G = (X * weights) @ X.T
        first = np.bincount(entries.theta_pairs, entries.S * G.take(entries.col_pairs),
                            minlength=n_theta * n_theta).reshape(n_theta, n_theta)
        rows_of_X = X[entries.padded_cols]
        if entries.mask is not None:
            rows_of_X *= entries.mask
        A = Kt[:, entries.padded_rows].transpose(1, 0, 2) @ rows_of_X
        F = A + A.transpose(0, 2, 1)
        gradient = 2.0 * (A.reshape(n_theta, -1)[:, ::len(X) + 1] @ weights)   # w̃·diag(A_i)
        second = (F * pair_weights).reshape(n_theta, -1) @ F.reshape(n_theta, -1).T
        hessian = 2.0 * first - second
        return gradient, (hessian + hessian.T) / 2

    @functools.cached_property
    def _entries(self) -> _LambdaEntries:
        return _LambdaEntries.of(self.layout, self._S)

    def _inverse_factor(self) -> np.ndarray:
        """U⁻¹ of the last update's factor (upper; the factor's lower part is clean)."""
        X, info = lapack.dtrtri(self._state[0], lower=0)
        if info != 0:
            raise np.linalg.LinAlgError(f"augmented factor singular ({info})")
        return X

    def _weights(self, reml: bool, n_obs: int) -> tuple[np.ndarray, np.ndarray]:
        """w̃ (1 on Λ's columns, 1 or 0 on X's for REML or ML, n − p or n on y's) and
        w̃_max(a,b), for this objective (made once)."""
        key = (reml, n_obs)
        if key not in self._gradient_weights:
            m, q = len(self._S), self.layout.size
            weights = np.ones(m)
            weights[q:m - 1] = 1.0 if reml else 0.0
            weights[-1] = n_obs - (m - 1 - q) if reml else n_obs
            index = np.arange(m)
            self._gradient_weights[key] = (weights, weights[np.maximum.outer(index, index)])
        return self._gradient_weights[key]

    def Lambda(self, theta: np.ndarray) -> np.ndarray:
        """Λ_θ as a dense q×q array (the small models of this path: no sparse overhead)."""
        q = self.layout.size
        Lambda = np.zeros((q, q))
        Lambda[self._Lambda_index] = theta[self.layout.lambda_theta]
        return Lambda

    def logdet(self) -> float:
        return self._state[1]

    def solve_A(self, B: np.ndarray | sp.spmatrix) -> np.ndarray:
        """A⁻¹B, A = Λ'Z'WZΛ + I at the θ of the last :meth:`update`."""
        q = self.layout.size
        B = B.toarray() if sp.issparse(B) else np.asarray(B, dtype=float)
        x, _ = lapack.dpotrs(self._state[0][:q, :q], B, lower=0)
        return x


@dataclass(frozen=True)
class _LambdaEntries:
    """Λ's entries s = (r_s, c_s) as :meth:`DenseFactorization.augmented_hessian` reads them.

    For the pairs (s, t) of entries with S[r_s, r_t] ≠ 0: ``theta_pairs`` is the
    pair of θ's (θ_s n_θ + θ_t), ``S`` the fixed S[r_s, r_t] and ``col_pairs``
    the flat index of G[c_s, c_t] in an m × m G.  ``padded_rows`` and
    ``padded_cols`` list each θ's entries in a row of an n_θ × (most entries)
    array, the gaps masked by ``mask`` (n_θ × most × 1; None without gaps).
    """

    theta_pairs: np.ndarray
    S: np.ndarray
    col_pairs: np.ndarray
    padded_rows: np.ndarray
    padded_cols: np.ndarray
    mask: np.ndarray | None

    @classmethod
    def of(cls, layout: ThetaLayout, S: np.ndarray) -> _LambdaEntries:
        rows, cols, thetas = layout.lambda_rows, layout.lambda_cols, layout.lambda_theta
        n_theta = int(thetas.max()) + 1
        pair_S = S.take(rows, axis=0).take(rows, axis=1)
        first, second = np.nonzero(pair_S)
        padded_rows, padded_cols, mask = layout.entries_by_theta
        return cls(thetas[first] * n_theta + thetas[second], pair_S[first, second],
                   cols[first] * len(S) + cols[second], padded_rows, padded_cols, mask)
