"""Intraclass correlation (ICC) and the design effect.

With the variances of ``lmmpy.diagnostics._variance`` (σ²_f fixed, σ²_r random,
σ²_e residual), as R's ``performance::icc`` defines them (Nakagawa, Johnson &
Schielzeth 2017):

* adjusted ICC = σ²_r / (σ²_r + σ²_e): the share of the variance not explained by
  the fixed effects that lies between groups; for a single random intercept it is
  the correlation of two observations in the same group;
* conditional ICC = σ²_r / (σ²_f + σ²_r + σ²_e): the same share of the total variance;
* by group: τ²₀₀,k / (σ²_r + σ²_e) for each term k with a random intercept
  (inexact with random slopes, where σ²_r depends on the covariates).

A singular fit (a θ with lower bound 0 below ``tolerance``) gives NaN with a warning,
as ``performance::icc`` gives NA; ``tolerance=0`` forces the computation.

Design effect (Kish 1965): for a model with one random intercept and no other
random effects, Deff = 1 + (m̄ − 1) ρ with m̄ = n / (number of groups) the mean
cluster size and ρ the adjusted ICC.  It is the factor by which clustering inflates
the variance of a mean (or of the coefficient of a group-level predictor) compared
with a simple random sample of the same size; n / Deff is the effective sample
size.  With unequal cluster sizes it is an approximation.

References
----------
Kish, L. (1965). *Survey Sampling*. Wiley.

Nakagawa, S., Johnson, P. C. D. & Schielzeth, H. (2017). *J. R. Soc. Interface* 14,
20170213.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from lmmpy._warnings import ApproximationWarning, SingularFitWarning
from lmmpy.diagnostics._variance import (
    DEFAULT_TOLERANCE,
    VarianceComponents,
    variance_components,
)

if TYPE_CHECKING:
    from lmmpy.results import LinearMixedModel

__all__ = ["ICC", "design_effect", "icc"]


@dataclass(frozen=True)
class ICC:
    """Adjusted and conditional intraclass correlation of a fitted model.

    Attributes
    ----------
    icc_adjusted : σ²_random / (σ²_random + σ²_residual)
    icc_conditional : σ²_random / (σ²_fixed + σ²_random + σ²_residual)
    variances : the [`VarianceComponents`][lmmpy.diagnostics.VarianceComponents] they are made of
    """

    icc_adjusted: float
    icc_conditional: float
    variances: VarianceComponents

    def __repr__(self) -> str:
        return (f"ICC(icc_adjusted={self.icc_adjusted:.4f}, "
                f"icc_conditional={self.icc_conditional:.4f})")


def icc(model: LinearMixedModel, by_group: bool = False,
        tolerance: float = DEFAULT_TOLERANCE) -> ICC | pd.Series:
    """Intraclass correlation, as R's ``performance::icc``.

    Parameters
    ----------
    model : LinearMixedModel
    by_group : bool, default False
        Return the ICC of each grouping factor with a random intercept instead:
        τ²₀₀ / (σ²_random + σ²_residual), a Series indexed by group.
    tolerance : float, default 1e-5
        A fit with a variance parameter θ below this is singular: NaN and a warning.

    Returns
    -------
    ICC or pandas.Series

    Examples
    --------
    >>> import lmmpy
    >>> m = lmmpy.lmer("diameter ~ 1 + (1 | plate) + (1 | sample)",
    ...                lmmpy.datasets.load("Penicillin"))
    >>> round(icc(m).icc_adjusted, 4)
    0.9363
    >>> icc(m, by_group=True).round(4).to_dict()
    {'plate': 0.1509, 'sample': 0.7854}
    """
    _check_flag(by_group, "by_group")
    parts = variance_components(model, tolerance)
    if parts.singular:
        _warn_singular(tolerance)
    if by_group:
        return _by_group(parts)
    return ICC(
        icc_adjusted=parts.random / (parts.random + parts.residual),
        icc_conditional=parts.random / (parts.fixed + parts.random + parts.residual),
        variances=parts,
    )


def design_effect(model: LinearMixedModel, tolerance: float = DEFAULT_TOLERANCE) -> float:
    """Kish's design effect 1 + (m̄ − 1)·ICC of a single-random-intercept model.

    m̄ = nobs / number of groups is the mean cluster size and ICC the adjusted ICC.
    The variance of a mean (or of a group-level coefficient) under this clustering is
    Deff times that of a simple random sample of the same size; nobs / Deff is the
    effective sample size.  Exact for equal cluster sizes, approximate otherwise.

    Raises
    ------
    ValueError
        When the model has more than one random-effects term or a random slope.

    Examples
    --------
    >>> import lmmpy
    >>> m = lmmpy.lmer("Yield ~ 1 + (1 | Batch)", lmmpy.datasets.load("Dyestuff"))
    >>> round(design_effect(m), 3)
    2.674
    """
    terms = model.design.terms
    if len(terms) != 1 or terms[0].columns != ("(Intercept)",):
        written = " + ".join(f"({' + '.join(t.columns)} | {t.group_name})" for t in terms)
        raise ValueError(
            "design_effect needs a single random intercept (1 | g); the model has "
            f"{written}"
        )
    mean_size = model.nobs / terms[0].n_levels
    return 1 + (mean_size - 1) * icc(model, tolerance=tolerance).icc_adjusted


def _by_group(parts: VarianceComponents) -> pd.Series:
    if parts.has_slopes:
        warnings.warn("the model has random slopes: the ICC by group ignores them and is "
                      "only approximate (performance::icc warns likewise)", ApproximationWarning,
                      stacklevel=4)
    out = parts.intercepts / (parts.random + parts.residual)
    return out.rename("icc")


def _warn_singular(tolerance: float) -> None:
    warnings.warn(
        f"singular fit: a variance parameter is below tolerance={tolerance:g}, so the "
        "random-effects variance is not computed (NaN), as in R's performance package; "
        "pass tolerance=0 to compute it anyway",
        SingularFitWarning, stacklevel=4,
    )


def _check_flag(value: object, name: str) -> None:
    if not isinstance(value, bool | np.bool_):
        raise TypeError(f"{name} must be True or False, not {value!r}")
