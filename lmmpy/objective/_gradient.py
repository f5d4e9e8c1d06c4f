"""The analytic gradient of the profiled deviance (ML) and REML criterion with respect to θ.

With S = Z'WZ, A = Λ'SΛ + I, C = Z'WX, c = Z'Wy, Λ = Σ_i θ_i E_i (E_i the
0/1 pattern of θ_i in Λ) and, at θ, the penalized least-squares solution
(β̂, û) with r² its penalized residual sum of squares:

* ``∂ log|A| / ∂θ_i = 2 tr(A⁻¹Λ'S E_i) = 2 Σ_{(r,c) ∈ E_i} Q[c, r]``,
  Q = A⁻¹Λ'S.  Only Q's entries at Λ's pattern are needed, i.e. its
  diagonal k×k blocks; the blocked factorization supplies them
  (``trace_terms``).  The dense path instead differentiates the log-determinants
  of the leading blocks of the whole augmented factor (``augmented_gradient``),
  which gives the same three terms at once.
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
from scipy.linalg import lapack


def profiled_gradient(deviance, theta: np.ndarray, R: np.ndarray) -> np.ndarray:
    """∂/∂θ of ``deviance`` at θ, its factor freshly updated at θ (R from that update).

    Examples
    --------
    >>> from lmmpy.datasets import load
    >>> from lmmpy.design import build_design
    >>> from lmmpy.formula import parse_formula
    >>> from lmmpy.objective import ProfiledDeviance, cross_products
    >>> d = build_design(parse_formula("Yield ~ 1 + (1 | Batch)"), load("Dyestuff"))
    >>> f = ProfiledDeviance(cross_products(d), d.terms, reml=False)
    >>> value, gradient = f.value_and_gradient(np.array([0.7525807]))
    >>> abs(float(gradient[0])) < 1e-4   # lme4's ML θ̂: a stationary point
    True
    """
    crossprods, layout, factor = deviance.crossprods, deviance.layout, deviance.factor
    p = crossprods.n_fixed
    if factor.capabilities.gradient == "augmented":  # the dense path: all from one factor
        return factor.augmented_gradient(len(theta), deviance.reml and p > 0, crossprods.n_obs)
    R_X = R[:p, :p]  # upper triangles only are read (LAPACK, no checks: small models are fast)
    beta = lapack.dtrtrs(R_X, R[:p, p])[0] if p else np.zeros(0)
    r2 = float(R[p, p]) ** 2
    C = crossprods.ZtXy[:, :p]
    Lambda = layout.Lambda(theta)
    rows, cols = layout.lambda_rows, layout.lambda_cols
    reml = deviance.reml and p

    # One solve for û (first column) and, for REML, B = A⁻¹Λ'C; then g and H alike.
    residual = crossprods.ZtXy[:, p] - C @ beta
    W = np.column_stack([residual, C]) if reml else residual[:, None]
    solution = factor.solve_A(Lambda.T @ W).reshape(len(W), -1)
    fitted = W - crossprods.ZtZ_times(Lambda @ solution)   # [g, H]
    dof = crossprods.n_obs - (p if deviance.reml else 0)
    traces = factor.trace_terms()
    deviance.record_information(theta, information_metric(layout, traces, dof))
    per_entry = 2.0 * traces
    per_entry -= (2.0 * dof / r2) * fitted[rows, 0] * solution[cols, 0]
    if reml:
        H_K = lapack.dpotrs(R_X, fitted[:, 1:].T, lower=0)[0].T   # H K⁻¹, K = R_X'R_X
        per_entry -= 2.0 * np.einsum("ij,ij->i", H_K[rows], solution[cols, 1:])
    return np.bincount(layout.lambda_theta, per_entry, minlength=len(theta))


def information_metric(layout, traces: np.ndarray, dof: int) -> np.ndarray | None:
    """A curvature model of the objective at θ from the gradient's trace terms, for a
    diagonal Λ (scalar and ``||`` terms); None otherwise.

    For a diagonal Λ the trace terms are Q_ii = (1 − a_i)/θ_t with a_i = (A⁻¹)_ii,
    the conditional variance of u_i over σ² (i among θ_t's entries).  Were term t
    alone (one-way, a_i = 1/(1 + n_iθ_t²)), the expected information of θ_t would
    give the deviance the curvature 4 Σ_i (n_iθ_t/(1 + n_iθ_t²))² = 4 Σ_i Q_ii²;
    the model takes that with the a_i of the whole model, and removes what profiling
    σ² out takes (the information I_θσ²I_σ²σ²⁻¹I_σ²θ, with I_θσ² = Σ_i Q_ii/σ²):

        B_ts = 4 δ_ts Σ_{i∈t} Q_ii² − (4/ν) (Σ_{i∈t} Q_ii)(Σ_{i∈s} Q_ii),

    ν = n (ML) or n − p (REML).  The other terms' effects on a term's (A⁻¹)'s
    off-diagonal entries are left out, so B overstates the curvature a little
    (InstEval near θ̂: 1.04–1.31 times the Hessian's diagonal, where EM's
    4ℓ/θ², :func:`lmmpy._descent.em_metric`, is 1.5–2.9 times it): a first metric
    for BFGS that costs nothing beyond the gradient.

    Examples
    --------
    >>> from lmmpy.datasets import load
    >>> from lmmpy.design import build_design
    >>> from lmmpy.formula import parse_formula
    >>> from lmmpy.objective import ProfiledDeviance, cross_products
    >>> d = build_design(parse_formula("Yield ~ 1 + (1 | Batch)"), load("Dyestuff"))
    >>> f = ProfiledDeviance(cross_products(d), d.terms, reml=False, _path="blocked")
    >>> _ = f.value_and_gradient(np.array([0.75]))
    >>> bool(f.information(np.array([0.75]))[0, 0] > 0)
    True
    """
    if not np.array_equal(layout.lambda_rows, layout.lambda_cols):
        return None
    n_theta = int(layout.lambda_theta.max()) + 1 if len(traces) else 0
    sums = np.bincount(layout.lambda_theta, traces, minlength=n_theta)
    squares = np.bincount(layout.lambda_theta, traces**2, minlength=n_theta)
    return 4.0 * np.diag(squares) - (4.0 / dof) * np.outer(sums, sums)


def em_update(terms, theta: np.ndarray, gradient: np.ndarray) -> np.ndarray:
    """One EM step for θ, read off the gradient of the profiled objective at θ.

    For a term with template T and ℓ levels, EM replaces the relative
    covariance TT' by the average over levels of E[u_ju_j' | y]/σ̂² mapped
    through T (Laird & Ware 1982; Bates et al. 2015, sec. 3.1 for u):

        TT' ← T P T' / ℓ,   P = Σ_j (û_jû_j'/σ̂² + (A⁻¹)_jj).

    (REML: σ̂² = r²/(n − p) and the posterior of u with β integrated out,
    whose covariance adds A⁻¹Λ'CK⁻¹C'ΛA⁻¹ to A⁻¹.)
    Both parts of P are already in the gradient: with F the k×k lower
    triangle of ∂d/∂T (θ's entries, summed over levels), the module
    docstring's terms give P = ℓI − F'T/2 (its upper triangle needs F's lower
    one only), so the step costs nothing beyond the gradient.  A scalar term
    gets θ ← θ·√(1 − θ ∂d/∂θ / 2ℓ).  Far from the optimum EM moves each
    term's scale in one step where a quasi-Newton method, lacking any
    curvature yet, needs a line search; near the optimum EM is slow (linear).
    The optimizer therefore takes a few EM steps first (:mod:`lmmpy.optimize`).
    A term whose new TPT' is not positive definite keeps its θ.

    Examples
    --------
    >>> from lmmpy.datasets import load
    >>> from lmmpy.design import build_design
    >>> from lmmpy.formula import parse_formula
    >>> from lmmpy.objective import ProfiledDeviance, cross_products
    >>> d = build_design(parse_formula("Yield ~ 1 + (1 | Batch)"), load("Dyestuff"))
    >>> f = ProfiledDeviance(cross_products(d), d.terms, reml=False)
    >>> theta = np.array([2.0])
    >>> _, gradient = f.value_and_gradient(theta)
    >>> stepped = em_update(d.terms, theta, gradient)
    >>> bool(f(stepped) < f(theta)), round(float(stepped[0]), 4)
    (True, 1.0107)
    """
    stepped = np.array(theta, dtype=float)
    offset = 0
    for term in terms:
        part = slice(offset, offset + term.n_theta)
        offset += term.n_theta
        k, levels = term.n_columns, term.n_levels
        T = term.template(stepped[part])
        F = np.zeros((k, k))
        F[term.theta_rows, term.theta_cols] = gradient[part]
        if term.correlated and k > 1:
            upper = np.triu(F.T @ T)
            P = levels * np.eye(k) - (upper + np.triu(upper, 1).T) / 2
            try:
                T = np.linalg.cholesky(T @ P @ T.T / levels)
            except np.linalg.LinAlgError:
                continue
        else:  # diagonal T: P's diagonal only
            scale = np.diagonal(T)
            T = np.diag(scale * np.sqrt(np.maximum(1 - np.diagonal(F) * scale / (2 * levels), 0)))
        stepped[part] = T[term.theta_rows, term.theta_cols]
    return stepped
