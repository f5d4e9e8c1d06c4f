"""Marginal and conditional R² of a linear mixed model (Nakagawa & Schielzeth 2013).

With the variances of ``lmmpy.diagnostics._variance`` (σ²_f fixed, σ²_r random,
σ²_e residual), as R's ``performance::r2_nakagawa`` defines them:

* marginal R² = σ²_f / (σ²_f + σ²_r + σ²_e): the share of the variance explained by
  the fixed effects;
* conditional R² = (σ²_f + σ²_r) / (σ²_f + σ²_r + σ²_e): explained by fixed and
  random effects together.

Random slopes enter σ²_r as the mean over the observations of z'Σz (Johnson 2014).
For a singular fit (a θ with lower bound 0 below ``tolerance``) σ²_r is not computed:
as ``r2_nakagawa`` does, the marginal R² is then σ²_f / (σ²_f + σ²_e) and the
conditional R² is NaN, with a warning.

References
----------
Nakagawa, S. & Schielzeth, H. (2013). A general and simple method for obtaining R² from
generalized linear mixed-effects models. *Methods Ecol. Evol.* 4(2), 133-142.

Johnson, P. C. D. (2014). *Methods Ecol. Evol.* 5(9), 944-946.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from lmmpy.diagnostics._icc import _warn_singular
from lmmpy.diagnostics._variance import (
    DEFAULT_TOLERANCE,
    VarianceComponents,
    variance_components,
)

if TYPE_CHECKING:
    from lmmpy.results import LinearMixedModel

__all__ = ["R2", "r2"]


@dataclass(frozen=True)
class R2:
    """Marginal and conditional R² of a fitted model.

    Attributes
    ----------
    r2_marginal : σ²_fixed / (σ²_fixed + σ²_random + σ²_residual)
    r2_conditional : (σ²_fixed + σ²_random) / (σ²_fixed + σ²_random + σ²_residual)
    variances : the [`VarianceComponents`][lmmpy.diagnostics.VarianceComponents] they are made of
    """

    r2_marginal: float
    r2_conditional: float
    variances: VarianceComponents

    def __repr__(self) -> str:
        return (f"R2(r2_marginal={self.r2_marginal:.4f}, "
                f"r2_conditional={self.r2_conditional:.4f})")


def r2(model: LinearMixedModel, tolerance: float = DEFAULT_TOLERANCE) -> R2:
    """Marginal and conditional R² (Nakagawa & Schielzeth), as ``performance::r2_nakagawa``.

    Parameters
    ----------
    model : LinearMixedModel
    tolerance : float, default 1e-5
        A fit with a variance parameter θ below this is singular: the conditional R²
        is NaN and the marginal R² leaves out the random effects, with a warning.

    Examples
    --------
    >>> import lmmpy
    >>> m = lmmpy.lmer("Reaction ~ Days + (Days | Subject)", lmmpy.datasets.load("sleepstudy"))
    >>> result = r2(m)
    >>> round(result.r2_marginal, 4), round(result.r2_conditional, 4)
    (0.2787, 0.7992)
    """
    parts = variance_components(model, tolerance)
    if parts.singular:
        _warn_singular(tolerance)
        marginal = parts.fixed / (parts.fixed + parts.residual)
        return R2(r2_marginal=marginal, r2_conditional=np.nan, variances=parts)
    total = parts.fixed + parts.random + parts.residual
    return R2(r2_marginal=parts.fixed / total,
              r2_conditional=(parts.fixed + parts.random) / total, variances=parts)
