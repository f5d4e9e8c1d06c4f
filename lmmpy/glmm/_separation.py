"""Separation: fixed effects whose maximum-likelihood estimates are infinite.

A binomial response is *separated* by the fixed-effects design X when a direction
d ≠ 0 has X_i d ≥ 0 for every row with only successes, X_i d ≤ 0 for every row
with only failures and X_i d = 0 for rows with both (Albert & Anderson 1984):
moving β along d never lowers the likelihood, and raises it while some X_i d ≠ 0,
so the estimate runs off to infinity (*complete* separation when every one-sided
row has X_i d ≠ 0, else *quasi-complete*, e.g. a factor level with no successes).
With random effects the same holds at u = 0 and for every u: the penalty ‖u‖² keeps
u finite, not β.  For counts (Poisson, negative binomial) the one-sided rows are
the zeros (X_i d ≤ 0), the others X_i d = 0: a level with only zero counts.

The check is Konis's (2007) linear programme: maximise Σ s_i X_i d over the
one-sided rows subject to s_i X_i d ≥ 0, the equalities, and −1 ≤ d ≤ 1 (X's
columns scaled to a largest |value| of 1); a positive optimum is separation, and
the coefficients with d_j ≠ 0 are the infinite ones.  A linear programme over
all rows costs seconds for a million, so :func:`glmer` runs it before fitting
up to 20,000 rows, and otherwise only when a fit points that way: fitted means
numerically 0 or 1 (R's ``glm`` warning), or a failed factorization.

Most data are not separated, and a few Newton steps prove it faster than the
programme (tens of milliseconds on 8,000 rows): by Gordan's alternative, no d
exists when some λ > 0 on the one-sided rows (and any λ on the rows with both)
gives Σ λ_i s_i X_i = 0 — and the maximum-likelihood fit of a plain GLM on X
(logistic for the binomial, log-linear for counts; canonical, whatever the
model's link) has score Σ wt_i (y_i − μ̂_i) X_i = 0 with λ_i = wt_i |y_i − μ̂_i| > 0.
Rounding leaves a residual ε: any d feasible for the programme then has
λ_min Σ s_i X_i d ≤ ε'd ≤ ‖ε‖₁, so ‖ε‖₁ ≤ λ_min · ``TOLERANCE`` proves an optimum of at
most ``TOLERANCE`` (:func:`_fits_without_separation`); otherwise the programme runs.
"""

from __future__ import annotations

import numpy as np

from lmmpy._families import EPS, Binomial, NegativeBinomial, Poisson
from lmmpy.glmm._pirls import ReweightedSystem

TOLERANCE = 1e-7
CERTIFICATE_STEPS = 25   # Newton steps of the plain GLM before the linear programme decides
_AT_BOUND = 10 * EPS   # R's glm: "fitted probabilities numerically 0 or 1 occurred"


def fit_looks_separated(system: ReweightedSystem, mu: np.ndarray) -> bool:
    """Fitted means numerically at 0 (or 1 for the binomial): a separation to check for."""
    family = system.response.family
    if isinstance(family, Binomial):
        return bool(np.any((mu < _AT_BOUND) | (mu > 1 - _AT_BOUND)))
    if isinstance(family, Poisson | NegativeBinomial):
        return bool(np.any(mu < _AT_BOUND))
    return False


def check_separation(system: ReweightedSystem) -> None:
    """Raise a ValueError naming the infinite fixed effects, if the response is separated.

    Examples
    --------
    >>> import pandas as pd
    >>> from lmmpy.glmm.fit import glmm_setup
    >>> data = pd.DataFrame({"y": [0, 0, 1, 0, 1, 1], "x": [1.0, 2, 3, 4, 5, 6],
    ...                      "g": list("ababab")})
    >>> check_separation(glmm_setup("y ~ x + (1 | g)", data, "binomial"))  # overlap: none
    >>> data["y"] = [0, 0, 0, 1, 1, 1]
    >>> glmm_setup("y ~ x + (1 | g)", data, "binomial")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: complete separation: ...
    """
    kind, names = separated_coefficients(system)
    if kind is None:
        return
    response = system.response
    what = ("the fixed effects predict every response exactly" if kind == "complete" else
            "a combination of the fixed effects predicts part of the responses exactly "
            "(e.g. a factor level whose responses are all 0" +
            (" or all 1)" if isinstance(response.family, Binomial) else ")"))
    raise ValueError(f"{kind} separation: {what}, so the estimate of "
                     f"{', '.join(map(repr, names))} is infinite (no maximum-likelihood "
                     "estimate exists). Remove or merge the terms involved, or drop the rows "
                     "they predict exactly")


def separated_coefficients(system: ReweightedSystem) -> tuple[str | None, list[str]]:
    """``("complete" | "quasi-complete" | None, names of the infinite coefficients)``."""
    from scipy.optimize import linprog  # only when it is needed (import time)

    X = np.asarray(system.design.X.values, dtype=float)
    scale = np.max(np.abs(X), axis=0)
    X = X / np.where(scale > 0, scale, 1.0)
    sign, equal = _row_constraints(system)
    one_sided = X[sign != 0] * sign[sign != 0, None]
    if len(one_sided) == 0 or _fits_without_separation(system, X, sign):
        return None, []
    equalities = X[equal]
    result = linprog(-one_sided.sum(axis=0), A_ub=-one_sided, b_ub=np.zeros(len(one_sided)),
                     A_eq=equalities if len(equalities) else None,
                     b_eq=np.zeros(len(equalities)) if len(equalities) else None,
                     bounds=[(-1.0, 1.0)] * X.shape[1], method="highs")
    if result.status != 0 or -result.fun <= TOLERANCE:
        return None, []
    direction = result.x
    names = [name for name, value in zip(system.design.beta_names, direction, strict=True)
             if abs(value) > TOLERANCE]
    complete = not len(equalities) and _strictly_separated(one_sided)
    return ("complete" if complete else "quasi-complete"), names


def _fits_without_separation(system: ReweightedSystem, X: np.ndarray, sign: np.ndarray) -> bool:
    """Whether Newton's method on the plain canonical GLM of y on the scaled X proves that
    no separating direction exists (module docstring); False: undecided."""
    response = system.response
    wt = np.where(response.weights > 0, response.weights, 0.0)
    y = np.where(wt > 0, response.y, 0.0)
    binomial = isinstance(response.family, Binomial)
    one_sided = sign != 0
    mu = (wt * y + 0.5) / (wt + 1) if binomial else y + 0.1   # R's mustart
    eta = np.log(mu / (1 - mu)) if binomial else np.log(mu)
    with np.errstate(all="ignore"):
        for step in range(CERTIFICATE_STEPS + 1):
            if step:   # the score at β (the first η is the start's)
                mu = 1 / (1 + np.exp(-eta)) if binomial else np.exp(eta)
                residual = wt * (y - mu)
                smallest = np.min(np.abs(residual[one_sided]))
                score = np.sum(np.abs(X.T @ residual))
                if not (np.isfinite(smallest) and np.isfinite(score)):
                    return False
                if score <= smallest * TOLERANCE:
                    return True
            variance = mu * (1 - mu) if binomial else mu
            W = wt * variance
            working = eta + (y - mu) / variance   # IRLS (Newton: the link is canonical)
            try:
                factor = np.linalg.cholesky(X.T @ (W[:, None] * X))
            except np.linalg.LinAlgError:
                return False
            beta = np.linalg.solve(factor.T, np.linalg.solve(factor, X.T @ (W * working)))
            eta = X @ beta
    return False


def _strictly_separated(one_sided: np.ndarray) -> bool:
    """Whether some d has s_i X_i d ≥ t > 0 on every one-sided row (maximise t ≤ 1)."""
    from scipy.optimize import linprog

    n, p = one_sided.shape
    objective = np.zeros(p + 1)
    objective[-1] = -1.0
    result = linprog(objective, A_ub=np.column_stack([-one_sided, np.ones(n)]),
                     b_ub=np.zeros(n), bounds=[(-1.0, 1.0)] * p + [(0.0, 1.0)],
                     method="highs")
    return result.status == 0 and -result.fun > TOLERANCE


def _row_constraints(system: ReweightedSystem) -> tuple[np.ndarray, np.ndarray]:
    """Per row: +1 (X_i d ≥ 0), −1 (X_i d ≤ 0) or 0, and whether X_i d = 0 is required."""
    response = system.response
    y, used = response.y, response.weights > 0
    if isinstance(response.family, Binomial):
        sign = np.where(y >= 1, 1.0, np.where(y <= 0, -1.0, 0.0))
    else:
        sign = np.where(y <= 0, -1.0, 0.0)
    sign = np.where(used, sign, 0.0)
    return sign, used & (sign == 0)
