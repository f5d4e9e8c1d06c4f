"""Hausman (1978) specification test of fixed against random effects.

Under the random-effects assumption (group effects uncorrelated with the
predictors) both the within (no-pooling, fixed-effects) estimator b_FE and the
mixed-model estimator b_RE of the individual-level coefficients are
consistent and b_RE is efficient, so Var(b_FE − b_RE) = V_FE − V_RE and

    H = (b_FE − b_RE)' (V_FE − V_RE)⁻¹ (b_FE − b_RE)  ~  χ²(k)

with k the number of coefficients compared (Hausman 1978, Econometrica 46,
1251-1271; Wooldridge 2010, *Econometric Analysis of Cross Section and Panel
Data*, 10.7.3).  Each covariance is the one its own fit estimates (s² = RSS/(n − r)
for the within fit), as R's ``plm::phtest`` and Stata's ``hausman`` do.

In finite samples V_FE − V_RE need not be positive definite.  Then a
:class:`~lmmpy.HausmanWarning` is given and the inverse is taken on its positive
part only: with V_FE − V_RE = Σ λ_i v_i v_i', H = Σ_{λ_i > tol} (v_i'd)²/λ_i and
df = the number of such λ_i (the Moore–Penrose inverse, and df = its rank, when
the difference is positive semi-definite; Stata's convention).  tol = 1e-6
times the largest eigenvalue of V_FE: relative to the variances, not to their
difference, and above the accuracy of V_RE, which comes from an optimizer
stopped at a tolerance (when the predictors do not vary between groups,
b_RE = b_FE and V_RE = V_FE in theory, and their computed difference is noise of
either sign).  With no eigenvalue above tol there is nothing to test: H is NaN
with df = 0.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
from scipy import stats

from lmmpy._warnings import HausmanWarning

_TOL = 1e-6


@dataclass(frozen=True)
class HausmanTest:
    """Statistic, df, p-value, and whether V_FE − V_RE was positive definite."""

    statistic: float
    df: int
    p_value: float
    positive_definite: bool


def hausman_test(b_fe: np.ndarray, V_fe: np.ndarray, b_re: np.ndarray, V_re: np.ndarray,
                 names: list[str] | None = None) -> HausmanTest:
    """Hausman's H for the coefficients ``names`` (see the module docstring).

    Examples
    --------
    >>> t = hausman_test(np.array([1.0]), np.array([[0.5]]), np.array([0.0]), np.array([[0.25]]))
    >>> t.statistic, t.df
    (4.0, 1)
    """
    d = np.asarray(b_fe, dtype=float) - np.asarray(b_re, dtype=float)
    if len(d) == 0:
        return HausmanTest(np.nan, 0, np.nan, True)
    difference = np.asarray(V_fe, dtype=float) - np.asarray(V_re, dtype=float)
    values, vectors = np.linalg.eigh((difference + difference.T) / 2)
    keep = values > _TOL * np.max(np.abs(np.linalg.eigvalsh(V_fe)))
    positive_definite = bool(np.all(keep))
    if not positive_definite:
        _warn(values, names)
    df = int(keep.sum())
    if df == 0:
        return HausmanTest(np.nan, 0, np.nan, False)
    statistic = float(np.sum((vectors[:, keep].T @ d) ** 2 / values[keep]))
    return HausmanTest(statistic, df, float(stats.chi2.sf(statistic, df)), positive_definite)


def _warn(values: np.ndarray, names: list[str] | None) -> None:
    from lmmpy.inference._bootstrap import user_stacklevel

    which = f" for {', '.join(names)}" if names else ""
    warnings.warn(
        f"Hausman test{which}: V_FE − V_RE is not positive definite (eigenvalues "
        f"{', '.join(f'{v:.3g}' for v in values)}); using the inverse of its positive part "
        "and df = its rank",
        HausmanWarning, stacklevel=user_stacklevel(),  # the caller of compare_pooling
    )
