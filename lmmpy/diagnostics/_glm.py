"""Generalized linear models by IRLS, possibly rank deficient, for the GLMM pooling comparison.

Iteratively reweighted least squares (McCullagh & Nelder 1989, §2.5; R's
``glm.fit``): at η the working weights w = wt (dμ/dη)²/V(μ) and working
response z = η − o + (y − μ)/(dμ/dη) give a weighted least-squares problem,
solved by :func:`lmmpy.diagnostics._ols.ols` (minimum-norm, so aliased columns
need no dropping: η = Aφ̂ is unique, and estimable functions f'φ̂ are too).  A
step that raises the deviance is halved; iteration stops when the relative
change of the deviance is below 1e-12 (R: 1e-8).

At convergence Cov(φ̂) = φ (A'WA)⁺ with φ = 1 for the binomial and Poisson and
φ = Pearson χ² / (n − r) otherwise (R's ``summary.glm``); the log-likelihood is
R's ``logLik.glm``, −½ ``family$aic`` (+1 for an estimated dispersion), with
r (+1) parameters.

References
----------
McCullagh, P. & Nelder, J. A. (1989). *Generalized Linear Models*, 2nd ed.
Chapman & Hall.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from lmmpy.diagnostics._ols import OLSFit, ols

if TYPE_CHECKING:
    from lmmpy.glmm._response import GlmResponse

MAX_ITERATIONS = 100
TOLERANCE = 1e-12
MAX_HALVINGS = 30


@dataclass(frozen=True, eq=False)
class GLMFit:
    """A GLM fit: coefficients, their covariance, deviance and likelihood.

    Attributes
    ----------
    coef : minimum-norm φ̂ (p,)
    cov : φ (A'WA)⁺ at the final weights (p, p)
    deviance : Σ d_i
    loglik : R's ``logLik`` of the fit
    rank : rank of A
    n_obs : rows fitted
    converged : whether the deviance settled within ``MAX_ITERATIONS``
    """

    coef: np.ndarray
    cov: np.ndarray
    deviance: float
    loglik: float
    rank: int
    n_obs: int
    converged: bool
    dispersion_counted: bool
    _last: OLSFit

    @property
    def n_params(self) -> int:
        return self.rank + int(self.dispersion_counted)

    @property
    def df_resid(self) -> int:
        return self.n_obs - self.rank

    @property
    def aic(self) -> float:
        return -2 * self.loglik + 2 * self.n_params

    @property
    def bic(self) -> float:
        return -2 * self.loglik + self.n_params * np.log(self.n_obs)

    def estimable(self, F: np.ndarray) -> np.ndarray:
        """Whether each row f of F gives an estimable f'φ (bool array)."""
        return self._last.estimable(F)


def glm(A: np.ndarray, response: GlmResponse, offset: np.ndarray) -> GLMFit:
    """Fit the GLM of ``response`` (family, prior weights) on the columns of A with ``offset``.

    Examples
    --------
    >>> import numpy as np
    >>> from lmmpy.glmm import Binomial
    >>> from lmmpy.glmm._response import GlmResponse
    >>> y = np.array([0.0, 0.0, 1.0, 0.0, 1.0, 1.0])
    >>> r = GlmResponse(y, np.ones(6), np.ones(6), Binomial())
    >>> A = np.column_stack([np.ones(6), np.arange(6.0)])
    >>> glm(A, r, np.zeros(6)).coef.round(3).tolist()   # R: glm(y ~ x, binomial)
    [-3.035, 1.214]
    """
    family = response.family
    eta = response.start_eta()
    deviance, converged = np.inf, False
    for _ in range(MAX_ITERATIONS):
        weights, z = response.working(eta, offset)
        fit = ols(A, z, weights)
        eta, new = _halved(A, fit.coef, eta, offset, response, deviance)
        if abs(new - deviance) <= TOLERANCE * (abs(new) + 0.1):
            deviance, converged = new, True
            break
        deviance = new
    weights, z = response.working(eta, offset)
    last = ols(A, z, weights)
    scale = last.rss / last.df_resid if family.has_dispersion else 1.0
    s2 = last.rss / last.df_resid if last.df_resid > 0 and last.rss > 0 else 1.0
    mu = response.mu(eta)
    return GLMFit(coef=last.coef, cov=last.cov / s2 * scale, deviance=deviance,
                  loglik=-response.aic(mu) / 2 + int(family.has_dispersion), rank=last.rank,
                  n_obs=len(z), converged=converged, dispersion_counted=family.has_dispersion,
                  _last=last)


def _halved(A, coef, eta_old, offset, response: GlmResponse, deviance_old: float):
    """(η, deviance) of the full step, halved toward η_old until the deviance is finite and
    not above the last one."""
    eta_new = A @ coef + offset
    for _ in range(MAX_HALVINGS):
        deviance = float(np.sum(response.deviance_residuals(response.mu(eta_new))))
        if np.isfinite(deviance) and (deviance <= deviance_old * (1 + 1e-12)
                                      or not np.isfinite(deviance_old)):
            return eta_new, deviance
        eta_new = (eta_new + eta_old) / 2
    return eta_new, deviance
