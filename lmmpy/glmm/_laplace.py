"""The GLMM criteria at (θ, β): Laplace (nAGQ = 1) and adaptive Gauss–Hermite (nAGQ > 1).

With û the conditional modes from PIRLS and L the Cholesky factor of
A = Λ'Z'WZΛ + I at û's working weights, the Laplace approximation to minus
twice the log-likelihood is (Bates et al. 2015, eq. 59 for the Gaussian case;
lme4's ``glmerLaplace``)

    −2ℓ(θ, β) ≈ −2 log p(y | û) + ‖û‖² + log|L|²,

with −2 log p(y | μ) the family's ``aic`` (R's, which for Gamma and the inverse
Gaussian estimates the dispersion as deviance / Σ wt and adds 2), so the value
is lme4's ``logLik`` for nAGQ = 1.

For one scalar random-effects term the integral factors over its levels j and
adaptive Gauss–Hermite quadrature (Pinheiro & Bates 1995; lme4's
``glmerAGQ``) centres the rule at û_j, scaled by the conditional standard
deviation s_j = 1/L_jj:

    −2ℓ ≈ Σ_j devc_j(û_j) + log|L|²
          − 2 Σ_j log Σ_k w_k exp((z_k² + devc_j(û_j) − devc_j(û_j + z_k s_j)) / 2),

devc_j(u) = Σ_{i in j} d_i + u² (deviance residuals, so the saturated
log-likelihood is left out, as in lme4's logLik for nAGQ > 1), z_k, w_k the
nodes and weights of the rule for the standard normal density.
"""

from __future__ import annotations

import functools

import numpy as np

from lmmpy.glmm._pirls import PirlsResult, ReweightedSystem


def laplace_deviance(system: ReweightedSystem, result: PirlsResult) -> float:
    """−2 log p(y | û) + ‖û‖² + log|L|² (lme4's Laplace criterion)."""
    u = result.u
    return system.response.aic(result.mu) + float(u @ u) + result.logdet_L


def agq_applies(system: ReweightedSystem) -> bool:
    """Quadrature needs one random-effects term with one column."""
    terms = system.design.terms
    return len(terms) == 1 and terms[0].n_columns == 1


def agq_deviance(system: ReweightedSystem, result: PirlsResult, n_nodes: int) -> float:
    """The adaptive Gauss–Hermite approximation of −2ℓ (see the module docstring)."""
    term = system.design.terms[0]
    codes, v = term.codes, term.model_matrix.values[:, 0]
    levels = term.n_levels
    theta, u0 = float(result.theta[0]), result.u
    devc0 = _by_level(codes, system.response.deviance_residuals(result.mu), levels) + u0**2
    weights = system.response.working(result.eta, system.design.offset)[0]
    sd = 1.0 / np.sqrt(1.0 + theta**2 * np.bincount(codes, weights * v**2, minlength=levels))
    mult = np.zeros(levels)
    for z, w in zip(*gauss_hermite_normal(n_nodes), strict=True):
        if z == 0.0:
            mult += w
            continue
        u = u0 + z * sd
        mu = system.response.mu(result.eta + theta * v * (z * sd)[codes])
        devc = _by_level(codes, system.response.deviance_residuals(mu), levels) + u**2
        mult += w * np.exp((z**2 + devc0 - devc) / 2)
    return float(np.sum(devc0) + result.logdet_L - 2 * np.sum(np.log(mult)))


def _by_level(codes: np.ndarray, values: np.ndarray, levels: int) -> np.ndarray:
    return np.bincount(codes, values, minlength=levels)


@functools.cache
def gauss_hermite_normal(n_nodes: int) -> tuple[np.ndarray, np.ndarray]:
    """Nodes and weights of the n-point Gauss–Hermite rule for the standard normal density
    (weights summing to 1; the middle node of an odd rule exactly 0).

    Examples
    --------
    >>> z, w = gauss_hermite_normal(3)
    >>> z.round(6).tolist(), w.round(6).tolist()
    ([-1.732051, 0.0, 1.732051], [0.166667, 0.666667, 0.166667])
    """
    nodes, weights = np.polynomial.hermite_e.hermegauss(n_nodes)
    if n_nodes % 2:
        nodes[n_nodes // 2] = 0.0
    return nodes, weights / weights.sum()
