"""PIRLS's and the gradient's per-row arithmetic in compiled loops (numba): for the
binomial family with the logit link the deviance of the step check, the working weights
and response, μ and the gradient's row derivatives; and the weighted rows of the
cross-products.

A PIRLS step on a few thousand rows is dominated by the call overhead of numpy
expressions that each allocate an n-vector.  ``logit_deviance`` computes Σ d_i at
μ = logistic(η) with the formulas of :mod:`lmmpy._families` (R's clamping at
|η| > 30, ``xlogy``), μ from one exponential; it differs from the numpy expressions by
rounding only, and only decides whether a step lowers pdev.  ``logit_working``,
``logit_inverse`` and ``logit_row_derivatives`` repeat the numpy expressions of
:mod:`lmmpy.glmm._response` and :mod:`lmmpy.glmm._gradient` operation by operation
(scipy's expit, numpy's ``**3`` as the library's ``pow``), so a converged state and a
gradient are the same to the last bits.  Each runs the library calls (exp, pow, log) in
a loop of their own and the arithmetic in another, which the compiler vectorises (the
divisions four at a time: on VerbAgg's 7,584 rows a tenth to a fifth less time).
:mod:`lmmpy.glmm._response` calls them for ``Binomial("logit")``.
"""

from __future__ import annotations

import math

import numba
import numpy as np

EPS = np.finfo(float).eps
_BOUND = 30.0   # _families._LOGIT_BOUND


@numba.njit(cache=True, nogil=True)
def logit_deviance(eta: np.ndarray, y: np.ndarray,
                   prior: np.ndarray) -> float:  # pragma: no cover - compiled
    """Σ 2 wt (y log(y/μ) + (1 − y) log((1 − y)/(1 − μ))) at μ = logistic(η) (0 log 0 = 0),
    μ from e = exp(−|η|) (1/(1 + e) for η ≥ 0, e/(1 + e) below: scipy's expit for η ≥ 0
    and within an ulp below).  Three loops: the exponentials, the arithmetic up to the
    logarithms' arguments (vectorised by the compiler), the logarithms and the sum in
    row order; a 0/1 response takes its one logarithm without a branch on y."""
    n = len(eta)
    first, second = np.empty(n), np.empty(n)
    for i in range(n):
        first[i] = math.exp(-abs(eta[i]))
    for i in range(n):
        x, e = eta[i], first[i]
        if x < -_BOUND:
            mu = EPS
        elif x > _BOUND:
            mu = 1.0 - EPS
        else:
            mu = (1.0 if x >= 0.0 else e) / (1.0 + e)
        first[i] = y[i] / mu
        second[i] = (1.0 - y[i]) / (1.0 - mu)
    total = 0.0
    for i in range(n):
        yi = y[i]
        if yi == 1.0 or yi == 0.0:   # 1·log of one ratio (the other term is 0 log 0 = 0)
            term = math.log(first[i] if yi == 1.0 else second[i])
        else:
            term = yi * math.log(first[i]) + (1.0 - yi) * math.log(second[i])
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


@numba.njit(cache=True, nogil=True)
def _logit_exponentials(eta: np.ndarray, e: np.ndarray,
                        e_mu: np.ndarray) -> None:  # pragma: no cover - compiled
    """e = exp(−|η|) (dμ/dη's) and exp(−η) (μ's: scipy's expit 1/(1 + exp(−η))), the
    latter the same number as e for η ≥ 0.  The library calls in a loop of their own: the
    arithmetic after them then runs in a loop the compiler vectorises (its divisions four
    at a time), each operation the same, so the same bits."""
    for i in range(len(eta)):
        x = eta[i]
        e[i] = math.exp(-abs(x))
        e_mu[i] = e[i] if x >= 0.0 else math.exp(-x)


@numba.njit(cache=True, nogil=True, inline="always")
def _logit_mu(eta: float, e_mu: float) -> float:  # pragma: no cover - compiled
    """μ = logistic(η) as :func:`lmmpy._families._logit_inverse` (scipy's expit,
    1/(1 + exp(−η)), clamped beyond ±30) from e_mu = exp(−η): the same bits."""
    if eta < -_BOUND:
        return EPS
    if eta > _BOUND:
        return 1.0 - EPS
    return 1.0 / (1.0 + e_mu)


@numba.njit(cache=True, nogil=True, inline="always")
def _logit_slope(eta: float, e: float) -> float:  # pragma: no cover - compiled
    """dμ/dη as :func:`lmmpy._families._logit_mu_eta`: e/(1 + e)², e = exp(−|η|)."""
    if abs(eta) > _BOUND:
        return EPS
    return e / ((1.0 + e) * (1.0 + e))


@numba.njit(cache=True, nogil=True)
def logit_inverse(eta: np.ndarray, mu: np.ndarray) -> None:  # pragma: no cover - compiled
    """μ = logistic(η) into ``mu`` (the bits of the numpy expression)."""
    for i in range(len(eta)):
        mu[i] = _logit_mu(eta[i], math.exp(-eta[i]))


@numba.njit(cache=True, nogil=True)
def logit_working(eta: np.ndarray, offset: np.ndarray, y: np.ndarray, prior: np.ndarray,
                  weights: np.ndarray, z: np.ndarray) -> None:  # pragma: no cover - compiled
    """PIRLS's working weights wt (dμ/dη)²/V(μ) and response η − o + (y − μ)/(dμ/dη) for
    the logit link (``GlmResponse.working``'s numpy expressions, operation by operation:
    the same bits); the outputs hold the exponentials in between."""
    _logit_exponentials(eta, weights, z)
    for i in range(len(eta)):
        x = eta[i]
        mu = _logit_mu(x, z[i])
        slope = _logit_slope(x, weights[i])
        weights[i] = prior[i] * (slope * slope) / (mu * (1.0 - mu))
        z[i] = (x - offset[i]) + (y[i] - mu) / slope


@numba.njit(cache=True, nogil=True)
def logit_row_derivatives(eta: np.ndarray, y: np.ndarray, prior: np.ndarray,
                          scale: np.ndarray, size: np.ndarray, successes: np.ndarray,
                          d1: np.ndarray, d2: np.ndarray, W: np.ndarray, W1: np.ndarray,
                          aic1: np.ndarray) -> None:  # pragma: no cover - compiled
    """The gradient's per-row derivatives (``_gradient.row_derivatives``) for the binomial
    family with the logit link, each the numpy expression's operations in its order (the
    same bits): V = μ(1 − μ), V' = 1 − 2μ, μ'' = μ'(1 − 2μ) (0 beyond ±30), aic's
    derivative from R's counts (``Binomial.counts``) and μ'³ by the library's ``pow``
    (numpy's ``**3``).  The library calls first, in loops of their own (the outputs hold
    them in between), then the arithmetic in one the compiler vectorises."""
    n = len(eta)
    _logit_exponentials(eta, d1, d2)
    for i in range(n):
        W[i] = _logit_slope(eta[i], d1[i])
    for i in range(n):
        W1[i] = math.pow(W[i], 3.0)
    for i in range(n):
        x = eta[i]
        mu = _logit_mu(x, d2[i])
        m1, m1_cubed = W[i], W1[i]
        m2 = 0.0 if abs(x) > _BOUND else m1 * (1.0 - 2.0 * mu)
        V = mu * (1.0 - mu)
        V1 = 1.0 - 2.0 * mu
        wt, residual = prior[i], y[i] - mu
        d_mu = -2.0 * wt * residual / V
        d2_mu = 2.0 * wt * (1.0 / V + residual * V1 / (V * V))
        d1[i] = d_mu * m1
        d2[i] = d2_mu * (m1 * m1) + d_mu * m2
        W[i] = wt * (m1 * m1) / V
        W1[i] = wt * (2.0 * m1 * m2 / V - m1_cubed * V1 / (V * V))
        aic1[i] = (-2.0 * scale[i] * (successes[i] / mu - (size[i] - successes[i]) / (1.0 - mu))
                   * m1)
