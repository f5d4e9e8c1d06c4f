"""PIRLS's per-row arithmetic for the binomial family with the logit link, in one pass each
(numba).

A PIRLS step on a few thousand rows is dominated by the call overhead of a dozen numpy
expressions (the clamped inverse link, dμ/dη, the variance, the weights, the working
response; the deviance residuals for the step check), each allocating an n-vector.
These loops compute the same quantities with the same formulas
(:mod:`lmmpy._families`: R's clamping at |η| > 30, ``xlogy`` for the deviance) in one
pass, μ and dμ/dη from one exponential; they differ from the numpy expressions by
rounding only (μ below η = 0 and the order of the deviance's sum).
:mod:`lmmpy.glmm._response` calls them for ``Binomial("logit")``; the other families
and links keep the numpy expressions.
"""

from __future__ import annotations

import math

import numba
import numpy as np

EPS = np.finfo(float).eps
_BOUND = 30.0   # _families._LOGIT_BOUND


@numba.njit(cache=True, nogil=True)
def _logistic(eta: float, e: float) -> float:  # pragma: no cover - compiled
    """μ at η from e = exp(−|η|) (one exponential for μ and dμ/dη; scipy's expit is
    1/(1 + exp(−η)), the same for η ≥ 0 and within an ulp below)."""
    if eta < -_BOUND:
        return EPS
    if eta > _BOUND:
        return 1.0 - EPS
    return 1.0 / (1.0 + e) if eta >= 0.0 else e / (1.0 + e)


@numba.njit(cache=True, nogil=True)
def logit_working(eta: np.ndarray, offset: np.ndarray, y: np.ndarray, prior: np.ndarray,
                  weights: np.ndarray, z: np.ndarray) -> None:  # pragma: no cover - compiled
    """Working weights wt (dμ/dη)²/(μ(1 − μ)) and response η − o + (y − μ)/(dμ/dη)."""
    for i in range(len(eta)):
        e = math.exp(-abs(eta[i]))
        mu = _logistic(eta[i], e)
        mu_eta = EPS if abs(eta[i]) > _BOUND else e / ((1.0 + e) * (1.0 + e))
        weights[i] = prior[i] * (mu_eta * mu_eta) / (mu * (1.0 - mu))
        z[i] = eta[i] - offset[i] + (y[i] - mu) / mu_eta


@numba.njit(cache=True, nogil=True)
def logit_deviance(eta: np.ndarray, y: np.ndarray,
                   prior: np.ndarray) -> float:  # pragma: no cover - compiled
    """Σ 2 wt (y log(y/μ) + (1 − y) log((1 − y)/(1 − μ))) at μ = logistic(η) (0 log 0 = 0)."""
    total = 0.0
    for i in range(len(eta)):
        mu = _logistic(eta[i], math.exp(-abs(eta[i])))
        yi = y[i]
        term = 0.0
        if yi != 0.0:
            term += yi * math.log(yi / mu)
        if yi != 1.0:
            term += (1.0 - yi) * math.log((1.0 - yi) / (1.0 - mu))
        total += 2.0 * prior[i] * term
    return total


@numba.njit(cache=True, nogil=True)
def weighted_rows(Xy: np.ndarray, weights: np.ndarray, P_indptr: np.ndarray,
                  P_indices: np.ndarray, P_data: np.ndarray, WXy: np.ndarray,
                  ZtWZ: np.ndarray) -> None:  # pragma: no cover - compiled
    """WXy[i] = w_i [X z]_i, and the stored entries of Z'WZ as P w (P in CSR: for each
    entry the rows i whose nonzeros meet there, with Z_ia Z_ib); outputs overwritten."""
    n, width = Xy.shape
    for i in range(n):
        wi = weights[i]
        for j in range(width):
            WXy[i, j] = Xy[i, j] * wi
    for entry in range(len(P_indptr) - 1):
        total = 0.0
        for t in range(P_indptr[entry], P_indptr[entry + 1]):
            total += P_data[t] * weights[P_indices[t]]
        ZtWZ[entry] = total
