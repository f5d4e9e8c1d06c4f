"""Ordinary (weighted) least squares, possibly rank deficient, for the pooling comparison.

For a model matrix A (n × p) and response y with prior weights w (rows scaled
by √w), the columns are scaled to unit length (D = diag of the column norms)
and A D⁻¹ = U S V' is factored by the SVD.  With r singular values above
``RANK_TOLERANCE`` × the largest (r = rank A):

    φ̂ = D⁻¹ V_r S_r⁻¹ U_r' √w y            the minimum-norm least-squares solution
    RSS = ‖√w (y − A φ̂)‖²,  s² = RSS / (n − r),  Cov(φ̂) = s² (A'WA)⁺
    ℓ = −n/2 (1 + log(2π RSS/n)) + ½ Σ log w        log-likelihood at σ̂² = RSS/n (ML)

with r + 1 parameters (σ counted), AIC = −2ℓ + 2(r + 1), BIC = −2ℓ + (r + 1) log n.
The ML log-likelihood is the one lme4's ``logLik(lm(...))`` reports, so it is
comparable with a mixed model's ML log-likelihood on the same response.

A linear function f'φ is *estimable* — the same for every least-squares
solution — exactly when f is orthogonal to the null space of A (Searle 1971,
*Linear Models*, ch. 5); for estimable f the variance f'Cov(φ̂)f does not depend
on the generalised inverse.  ``OLSFit.estimable`` checks this for the rows of F.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

RANK_TOLERANCE = 1e-7  # R's lm(): columns whose residual is below 1e-7 of their norm are aliased
ESTIMABLE_TOLERANCE = 1e-6


@dataclass(frozen=True, eq=False)
class OLSFit:
    """A least-squares fit: coefficients, their covariance, likelihood, and its SVD.

    Attributes
    ----------
    coef : minimum-norm solution φ̂ (p,)
    cov : s² (A'WA)⁺ (p, p)
    rss : weighted residual sum of squares
    rank : rank of A
    n_obs : number of rows
    sum_log_weights : Σ log w (0 without weights)
    """

    coef: np.ndarray
    cov: np.ndarray
    rss: float
    rank: int
    n_obs: int
    sum_log_weights: float
    _scale: np.ndarray
    _U: np.ndarray
    _s: np.ndarray
    _V: np.ndarray
    _null: np.ndarray
    _sqrt_w: np.ndarray | None

    @property
    def df_resid(self) -> int:
        return self.n_obs - self.rank

    @property
    def n_params(self) -> int:
        """Coefficients (the rank) plus σ."""
        return self.rank + 1

    @property
    def loglik(self) -> float:
        n = self.n_obs
        if self.rss <= 0:
            return np.inf
        return float(-0.5 * n * (1 + np.log(2 * np.pi * self.rss / n))
                     + 0.5 * self.sum_log_weights)

    @property
    def aic(self) -> float:
        return -2 * self.loglik + 2 * self.n_params

    @property
    def bic(self) -> float:
        return -2 * self.loglik + self.n_params * np.log(self.n_obs)

    def project(self, values: np.ndarray) -> np.ndarray:
        """Minimum-norm coefficients of another response on the same A (A⁺ values)."""
        values = np.asarray(values, dtype=float)
        if self._sqrt_w is not None:
            values = values * self._sqrt_w
        return (self._V @ ((self._U.T @ values) / self._s)) / self._scale

    def estimable(self, F: np.ndarray) -> np.ndarray:
        """Whether each row f of F gives an estimable function f'φ (bool array)."""
        F = np.atleast_2d(np.asarray(F, dtype=float)) / self._scale
        if self._null.shape[1] == 0:
            return np.ones(len(F), dtype=bool)
        size = np.maximum(np.linalg.norm(F, axis=1), np.finfo(float).tiny)
        return np.linalg.norm(F @ self._null, axis=1) <= ESTIMABLE_TOLERANCE * size


def ols(A: np.ndarray, y: np.ndarray, weights: np.ndarray | None = None) -> OLSFit:
    """Least-squares fit of y on the columns of A (rank deficiency allowed).

    Parameters
    ----------
    A : ndarray (n, p)
    y : ndarray (n,)
    weights : ndarray (n,), optional
        Prior weights (weighted least squares).

    Returns
    -------
    OLSFit

    Examples
    --------
    >>> A = np.column_stack([np.ones(4), [0.0, 1.0, 2.0, 3.0]])
    >>> fit = ols(A, np.array([1.0, 3.0, 5.0, 7.5]))
    >>> fit.coef.round(3).tolist(), fit.rank
    ([0.9, 2.15], 2)
    """
    A = np.asarray(A, dtype=float)
    y = np.asarray(y, dtype=float)
    sqrt_w = None if weights is None else np.sqrt(np.asarray(weights, dtype=float))
    Aw = A if sqrt_w is None else A * sqrt_w[:, None]
    yw = y if sqrt_w is None else y * sqrt_w
    scale = np.linalg.norm(Aw, axis=0)
    scale[scale == 0] = 1.0
    # full V when p > n, so that Vt[rank:] spans the whole null space
    U, s, Vt = np.linalg.svd(Aw / scale, full_matrices=A.shape[1] > A.shape[0])
    rank = int(np.sum(s > RANK_TOLERANCE * s[0])) if len(s) and s[0] > 0 else 0
    U_r, s_r, V_r = U[:, :rank], s[:rank], Vt[:rank].T
    coef = (V_r @ ((U_r.T @ yw) / s_r)) / scale
    residual = yw - Aw @ coef
    rss = float(residual @ residual)
    s2 = rss / (len(y) - rank) if len(y) > rank else np.nan
    scaled_inv = (V_r / s_r**2) @ V_r.T
    cov = s2 * scaled_inv / np.outer(scale, scale)
    return OLSFit(
        coef=coef, cov=cov, rss=rss, rank=rank, n_obs=len(y),
        sum_log_weights=0.0 if weights is None else float(np.sum(np.log(weights))),
        _scale=scale, _U=U_r, _s=s_r, _V=V_r, _null=Vt[rank:].T, _sqrt_w=sqrt_w,
    )
