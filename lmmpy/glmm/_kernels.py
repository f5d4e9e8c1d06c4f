"""PIRLS's per-row arithmetic in one compiled pass each (numba): the deviance of the
step check for the binomial family with the logit link, and the weighted rows of the
cross-products.

A PIRLS step on a few thousand rows is dominated by the call overhead of numpy
expressions that each allocate an n-vector.  ``logit_deviance`` computes Σ d_i at
μ = logistic(η) with the formulas of :mod:`lmmpy._families` (R's clamping at
|η| > 30, ``xlogy``), μ from one exponential; it differs from the numpy expressions by
rounding only, and only decides whether a step lowers pdev (the working weights, the
modes and the criterion keep the numpy expressions, so a converged state is the same
to the last bits).  :mod:`lmmpy.glmm._response` calls it for ``Binomial("logit")``.
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


@numba.njit(cache=True, nogil=True, inline="always")
def _logit_mu(eta: float) -> float:  # pragma: no cover - compiled
    """μ = logistic(η) as :func:`lmmpy._families._logit_inverse` (scipy's expit,
    1/(1 + exp(−η)), clamped beyond ±30): the same bits."""
    if eta < -_BOUND:
        return EPS
    if eta > _BOUND:
        return 1.0 - EPS
    return 1.0 / (1.0 + math.exp(-eta))


@numba.njit(cache=True, nogil=True, inline="always")
def _logit_slope(eta: float) -> float:  # pragma: no cover - compiled
    """dμ/dη as :func:`lmmpy._families._logit_mu_eta`: e/(1 + e)², e = exp(−|η|)."""
    if abs(eta) > _BOUND:
        return EPS
    e = math.exp(-abs(eta))
    return e / ((1.0 + e) * (1.0 + e))


@numba.njit(cache=True, nogil=True)
def logit_inverse(eta: np.ndarray, mu: np.ndarray) -> None:  # pragma: no cover - compiled
    """μ = logistic(η) into ``mu`` (the bits of the numpy expression)."""
    for i in range(len(eta)):
        mu[i] = _logit_mu(eta[i])


@numba.njit(cache=True, nogil=True)
def logit_working(eta: np.ndarray, offset: np.ndarray, y: np.ndarray, prior: np.ndarray,
                  weights: np.ndarray, z: np.ndarray) -> None:  # pragma: no cover - compiled
    """PIRLS's working weights wt (dμ/dη)²/V(μ) and response η − o + (y − μ)/(dμ/dη) for
    the logit link in one pass (``GlmResponse.working``'s numpy expressions, operation by
    operation: the same bits)."""
    for i in range(len(eta)):
        x = eta[i]
        mu = _logit_mu(x)
        slope = _logit_slope(x)
        weights[i] = prior[i] * (slope * slope) / (mu * (1.0 - mu))
        z[i] = (x - offset[i]) + (y[i] - mu) / slope


@numba.njit(cache=True, nogil=True)
def logit_row_derivatives(eta: np.ndarray, y: np.ndarray, prior: np.ndarray,
                          scale: np.ndarray, size: np.ndarray, successes: np.ndarray,
                          d1: np.ndarray, d2: np.ndarray, W: np.ndarray, W1: np.ndarray,
                          aic1: np.ndarray) -> None:  # pragma: no cover - compiled
    """The gradient's per-row derivatives (``_gradient.row_derivatives``) for the binomial
    family with the logit link in one pass, each the numpy expression's operations in its
    order (the same bits): V = μ(1 − μ), V' = 1 − 2μ, μ'' = μ'(1 − 2μ) (0 beyond ±30),
    and aic's derivative from R's counts (``Binomial.counts``)."""
    for i in range(len(eta)):
        x = eta[i]
        mu = _logit_mu(x)
        m1 = _logit_slope(x)
        m2 = 0.0 if abs(x) > _BOUND else m1 * (1.0 - 2.0 * mu)
        V = mu * (1.0 - mu)
        V1 = 1.0 - 2.0 * mu
        wt, residual = prior[i], y[i] - mu
        d_mu = -2.0 * wt * residual / V
        d2_mu = 2.0 * wt * (1.0 / V + residual * V1 / (V * V))
        d1[i] = d_mu * m1
        d2[i] = d2_mu * (m1 * m1) + d_mu * m2
        W[i] = wt * (m1 * m1) / V
        W1[i] = wt * (2.0 * m1 * m2 / V - math.pow(m1, 3.0) * V1 / (V * V))
        aic1[i] = (-2.0 * scale[i] * (successes[i] / mu - (size[i] - successes[i]) / (1.0 - mu))
                   * m1)
