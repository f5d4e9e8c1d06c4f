"""Likelihood-ratio test of random effects, with the boundary-corrected p-value.

Testing variance components against zero puts the null value on the boundary
of the parameter space, so the usual χ²(df) reference is wrong (Self & Liang
1987, JASA 82, 605-610).  For one variance component the asymptotic null
distribution of LR = 2(ℓ₁ − ℓ₀) is the 50:50 mixture ½χ²(0) + ½χ²(1); for
adding one random effect to q others (a q × q covariance matrix growing to
(q+1) × (q+1), df = q + 1 new parameters) it is ½χ²(q) + ½χ²(q + 1)
(Stram & Lee 1994, Biometrics 50, 1171-1177).  We use the 50:50 mixture of
χ²(df − 1) and χ²(df) throughout (χ²(0) is a point mass at 0): exact in those
two cases and an approximation otherwise.  For k uncorrelated scalar variance
components removed at once (crossed ``(1|a) + (1|b)``) the limit is nearer the
binomial mixture Σ_i C(k, i) 2⁻ᵏ χ²(i), whose tail is lighter: the 50:50 p-value
is then conservative.
"""

from __future__ import annotations

import numpy as np
from scipy import stats


def boundary_p_value(statistic: float, df: int) -> float:
    """P(LR ≥ statistic) under ½χ²(df − 1) + ½χ²(df).

    Examples
    --------
    >>> round(boundary_p_value(3.84, 1), 4)  # half the naive χ²(1) p-value
    0.025
    """
    statistic = max(float(statistic), 0.0)
    lower = (1.0 if statistic <= 0 else 0.0) if df == 1 else stats.chi2.sf(statistic, df - 1)
    return float(0.5 * lower + 0.5 * stats.chi2.sf(statistic, df))


def likelihood_ratio(loglik_null: float, loglik_alternative: float, df: int
                     ) -> tuple[float, int, float]:
    """(LR, df, boundary-corrected p) for nested ML fits differing by ``df`` variance parameters."""
    statistic = 2.0 * (loglik_alternative - loglik_null)
    if not np.isfinite(statistic):
        return float(statistic), df, np.nan
    return float(statistic), df, boundary_p_value(statistic, df)
