"""The analytic gradient of the profiled deviance (ML) and REML criterion with respect to θ.

With S = Z'WZ, A = Λ'SΛ + I, C = Z'WX, c = Z'Wy, Λ = Σ_i θ_i E_i (E_i the
0/1 pattern of θ_i in Λ) and, at θ, the penalized least-squares solution
(β̂, û) with r² its penalized residual sum of squares:

* ``∂ log|A| / ∂θ_i = 2 tr(A⁻¹Λ'S E_i) = 2 Σ_{(r,c) ∈ E_i} Q[c, r]``,
  Q = A⁻¹Λ'S.  Only Q's entries at Λ's pattern are needed, i.e. its
  diagonal k×k blocks; each factorization supplies them (``trace_terms``).
* ``∂ r² / ∂θ_i = −2 g'E_i û`` with g = Z'W(y − Xβ̂ − ZΛû) = c − Cβ̂ − SΛû
  (the envelope theorem: (β̂, û) minimise r², so only Λ's explicit
  dependence on θ counts).
* REML's ``log|R_X|²`` = log|K|, K = X'WX − C'ΛA⁻¹Λ'C:
  ``∂ log|K| / ∂θ_i = −2 tr(K⁻¹H'E_iB)`` with B = A⁻¹Λ'C and H = C − SΛB.

Then, with the objectives of :mod:`lmmpy.objective._deviance` (Bates et al.
2015, eqs. 34 and 41),

    ML:   ∂d  = ∂log|A| + n ∂r²/r²
    REML: ∂dR = ∂log|A| + ∂log|K| + (n − p) ∂r²/r².

Everything but the Q entries is a few solves with A and products with the
cross-products, so a gradient costs about one more evaluation (the dense
inverse of the Schur complement dominates); it does not depend on n.
"""

from __future__ import annotations

import numpy as np
import scipy.linalg as la


def profiled_gradient(deviance, theta: np.ndarray, R: np.ndarray) -> np.ndarray:
    """∂/∂θ of ``deviance`` at θ, its factor freshly updated at θ (R from that update).

    Examples
    --------
    >>> from lmmpy.datasets import load
    >>> from lmmpy.design import build_design
    >>> from lmmpy.formula import parse_formula
    >>> from lmmpy.objective import ProfiledDeviance, cross_products
    >>> d = build_design(parse_formula("Yield ~ 1 + (1 | Batch)"), load("Dyestuff"))
    >>> f = ProfiledDeviance(cross_products(d), d.terms, reml=True)
    >>> value, gradient = f.value_and_gradient(np.array([0.7525807]))
    >>> abs(float(gradient[0])) < 1e-4   # θ̂ of lme4: a stationary point
    True
    """
    crossprods, layout, factor = deviance.crossprods, deviance.layout, deviance.factor
    p = crossprods.n_fixed
    R = np.triu(R)
    R_X = R[:p, :p]
    beta = la.solve_triangular(R_X, R[:p, p]) if p else np.zeros(0)
    r2 = float(R[p, p]) ** 2
    C, S = crossprods.ZtXy[:, :p], crossprods.ZtZ
    rows, cols, index = layout.lambda_rows, layout.lambda_cols, layout.lambda_theta
    Lambda = layout.Lambda(theta)
    n_theta = len(theta)

    residual = crossprods.ZtXy[:, p] - C @ beta
    u = factor.solve_A(Lambda.T @ residual)
    g = residual - S @ (Lambda @ u)
    d_r2 = -2.0 * np.bincount(index, g[rows] * u[cols], minlength=n_theta)
    d_logdet_A = 2.0 * np.bincount(index, factor.trace_terms(), minlength=n_theta)
    dof = crossprods.n_obs - (p if deviance.reml else 0)
    gradient = d_logdet_A + dof * d_r2 / r2
    if deviance.reml and p:
        B = factor.solve_A(Lambda.T @ C).reshape(-1, p)
        H = C - S @ (Lambda @ B)
        H_K = la.cho_solve((R_X, False), H.T).T        # H K⁻¹, K = R_X'R_X
        terms = np.einsum("ij,ij->i", H_K[rows], B[cols])
        gradient -= 2.0 * np.bincount(index, terms, minlength=n_theta)
    return gradient
