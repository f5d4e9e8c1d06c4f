"""Satterthwaite's denominator degrees of freedom for t and F tests of fixed effects.

Satterthwaite (1946) matched the first two moments of a variance estimate to a
scaled χ²; lmerTest applies this to Var(l'β̂) (Kuznetsova, Brockhoff &
Christensen 2017, JSS 82(13), section 3; its ``devfun_vp``, ``get_covbeta``,
``contest1D``, ``contestMD``), which this module follows.

The variance parameters are ψ = (θ, σ).  With β profiled out but σ not, the
deviance is

    ML:    d(ψ) = log|L_θ|² + r²(θ)/σ² + n log(2πσ²)
    REML:  d(ψ) + log|R_X(θ)|² − p log(2πσ²)

and its Hessian H at ψ̂ gives the asymptotic covariance of ψ̂, A = 2 H⁺ (the
Moore–Penrose inverse over eigenvalues above 1e-8, as lmerTest).  The
covariance of β̂ as a function of ψ is V(ψ) = σ² (R_X'R_X)⁻¹, with Jacobian
J_i = ∂V/∂ψ_i.  Both derivatives are numerical (Richardson extrapolation,
numDeriv's default, as lmerTest).

One contrast l:  v = l'Vl,  g_i = l'J_i l,  ν = 2 v² / (g'A g),  t = l'β̂/√v on ν df.

Several (the rows of L, q of them): LVL' = P D P'; the rows of P'L give q
independent t statistics with dfs ν_m; F = Σ t_m² / q, and its denominator df
matches moments (Fai & Cornelius 1996): E = Σ ν_m/(ν_m − 2), ν = 2E/(E − q)
(2 when some ν_m ≤ 2; their mean when all ν_m agree).
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from lmmpy.inference._numderiv import hessian, jacobian
from lmmpy.objective._factorization import require_exact

if TYPE_CHECKING:
    from lmmpy.results import LinearMixedModel

EIGEN_TOL = 1e-8
_EQUAL_DF_TOL = 1e-8
_CACHE: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


@dataclass(frozen=True)
class VarparDerivatives:
    """What the Satterthwaite df need, computed once per model.

    Attributes
    ----------
    varpar : ψ̂ = (θ̂, σ̂)
    hessian : Hessian of the deviance in ψ at ψ̂
    vcov_varpar : A = 2 H⁺, the asymptotic covariance of ψ̂
    vcov_beta : V = Var(β̂) at ψ̂
    jacobian : ∂V/∂ψ_i, shape (p, p, len(ψ))
    """

    varpar: np.ndarray
    hessian: np.ndarray
    vcov_varpar: np.ndarray
    vcov_beta: np.ndarray
    jacobian: np.ndarray


def varpar_derivatives(model: LinearMixedModel) -> VarparDerivatives:
    """The derivatives of the deviance and of Var(β̂) in ψ = (θ, σ), cached per model.

    Examples
    --------
    >>> import lmmpy
    >>> m = lmmpy.lmer("Reaction ~ Days + (Days | Subject)", lmmpy.datasets.load("sleepstudy"))
    >>> varpar_derivatives(m).jacobian.shape
    (2, 2, 4)
    """
    require_exact(model.objective, "Satterthwaite's method (the exact deviance's Hessian)",
                  "ddf='residual' or 'asymptotic' does not")
    if model not in _CACHE:
        _CACHE[model] = _compute(model)
    return _CACHE[model]


def _compute(model: LinearMixedModel) -> VarparDerivatives:
    deviance, covariance = _varpar_functions(model)
    varpar = np.append(model.theta, model.sigma)
    H = hessian(deviance, varpar)
    return VarparDerivatives(
        varpar=varpar,
        hessian=H,
        vcov_varpar=2 * _pseudo_inverse(H),
        vcov_beta=model.vcov.to_numpy(),
        jacobian=jacobian(covariance, varpar),
    )


def _varpar_functions(model: LinearMixedModel):
    """d(ψ) and V(ψ) on a private copy of the objective (the model's factor is left alone)."""
    objective = model.objective.with_crossprods(model.objective.crossprods)
    n, p = objective.crossprods.n_obs, objective.crossprods.n_fixed
    solutions: dict[bytes, object] = {}

    def solve(theta):
        key = theta.tobytes()
        if key not in solutions:
            solutions[key] = objective.solve(theta)
        return solutions[key]

    def deviance(varpar):
        s, sigma2 = solve(varpar[:-1]), varpar[-1] ** 2
        value = s.logdet_L + s.pwrss / sigma2 + n * np.log(2 * np.pi * sigma2)
        if objective.reml:
            value += s.logdet_RX - p * np.log(2 * np.pi * sigma2)
        return value

    def covariance(varpar):
        R_inv = np.linalg.inv(solve(varpar[:-1]).R_X)  # p×p; faster than solve_triangular here
        return varpar[-1] ** 2 * R_inv @ R_inv.T

    return deviance, covariance


def _pseudo_inverse(H: np.ndarray) -> np.ndarray:
    values, vectors = np.linalg.eigh(H)
    keep = values > EIGEN_TOL
    return (vectors[:, keep] / values[keep]) @ vectors[:, keep].T


def contrast_df(model: LinearMixedModel, row: np.ndarray) -> tuple[float, float]:
    """Var(l'β̂) and its Satterthwaite df for one contrast vector l = ``row``."""
    d = varpar_derivatives(model)
    variance = float(row @ d.vcov_beta @ row)
    g = np.einsum("i,ijk,j->k", row, d.jacobian, row)
    return variance, float(2 * variance**2 / (g @ d.vcov_varpar @ g))


def f_statistic(model: LinearMixedModel, L: np.ndarray, beta: np.ndarray
                ) -> tuple[float, int, float]:
    """Satterthwaite F for H0: Lβ = 0 (β already shifted by the right-hand side).

    Returns F, its numerator df (the rank of L V L') and its denominator df.
    """
    d = varpar_derivatives(model)
    PtL, eigenvalues = independent_rows(L, d.vcov_beta)
    t2 = (PtL @ beta) ** 2 / eigenvalues
    nus = np.array([contrast_df(model, row)[1] for row in PtL])
    return float(t2.sum() / len(t2)), len(t2), combined_df(nus)


def independent_rows(L: np.ndarray, V: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Rows P'L whose estimates are uncorrelated, with their variances (LVL' = PDP').

    Eigenvalues below √ε × the largest are dropped (a rank-deficient L).
    """
    eigenvalues, P = np.linalg.eigh(L @ V @ L.T)
    order = np.argsort(eigenvalues)[::-1]
    eigenvalues, P = eigenvalues[order], P[:, order]
    keep = eigenvalues > max(np.sqrt(np.finfo(float).eps) * eigenvalues[0], 0.0)
    return (P[:, keep].T @ L), eigenvalues[keep]


def combined_df(nus: np.ndarray) -> float:
    """Denominator df of an F that averages q squared t statistics with dfs ν."""
    if len(nus) == 1:
        return float(nus[0])
    if np.all(np.abs(np.diff(nus)) < _EQUAL_DF_TOL):
        return float(np.mean(nus))
    if np.any(nus <= 2):
        return 2.0
    E = float(np.sum(nus / (nus - 2)))
    return 2 * E / (E - len(nus))
