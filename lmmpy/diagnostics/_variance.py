"""Variance decomposition of a linear mixed model (Nakagawa, Johnson & Schielzeth 2017).

The ICC and R² of ``lmmpy.diagnostics._icc`` and ``lmmpy.diagnostics._r2``
are ratios of three variances, defined as R's ``insight::get_variance`` defines
them for a Gaussian ``lmer`` fit:

* σ²_fixed = var(Xβ̂), the sample variance (denominator n − 1) of the fixed-effects
  linear predictor over the observations used (no offset);
* σ²_random = Σ_k (1/n) Σ_i z_ik' Σ_k z_ik, summed over the random-effects terms k,
  with Σ_k = σ̂² T_k T_k' the term's covariance matrix and z_ik the row of observation
  i in the term's model matrix (Johnson 2014).  For a random intercept z_ik = 1 and
  the term contributes its variance τ²_k; with random slopes the term contributes
  the mean over the observations of the variance of z'b — it depends on where the
  covariates lie, so the ICC and R² of a random-slope model describe *this* data.
  As in ``insight``, only the random-effect columns that are also columns of the
  fixed-effects model matrix X enter (plus the intercept); a random slope with no
  matching fixed effect is dropped from Σ_k (``insight`` warns about such models);
* σ²_residual = σ̂².

A fit is treated as singular, as ``performance::check_singularity`` does, when a θ
with lower bound 0 is below ``tolerance``; ``insight`` then declines to compute
σ²_random.

References
----------
Johnson, P. C. D. (2014). Extension of Nakagawa & Schielzeth's R²_GLMM to random slopes
models. *Methods in Ecology and Evolution* 5(9), 944-946.

Nakagawa, S., Johnson, P. C. D. & Schielzeth, H. (2017). The coefficient of determination
R² and intra-class correlation coefficient from generalized linear mixed-effects models
revisited and expanded. *J. R. Soc. Interface* 14, 20170213.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from lmmpy.design import RandomEffectsTerm
    from lmmpy.results import LinearMixedModel

DEFAULT_TOLERANCE = 1e-5  # performance::icc's default


@dataclass(frozen=True)
class VarianceComponents:
    """The three variances behind the ICC and R² (``insight::get_variance``).

    Attributes
    ----------
    fixed : var(Xβ̂), denominator n − 1
    random : mean random-effects variance, summed over terms (NaN for a singular fit)
    residual : σ̂²
    intercepts : τ²₀₀ of each term whose first column is the intercept, keyed by the
        group labels of `LinearMixedModel.varcorr`
    has_slopes : whether any term has a column other than the intercept
    singular : whether a variance parameter θ was below the tolerance
    """

    fixed: float
    random: float
    residual: float
    intercepts: pd.Series
    has_slopes: bool
    singular: bool


def variance_components(model: LinearMixedModel,
                        tolerance: float = DEFAULT_TOLERANCE) -> VarianceComponents:
    """The fixed, random and residual variances of a fitted model.

    Parameters
    ----------
    model : LinearMixedModel
    tolerance : float, default 1e-5
        A θ with lower bound 0 below this marks the fit singular (``random`` is NaN).

    Examples
    --------
    >>> import lmmpy
    >>> m = lmmpy.lmer("Reaction ~ Days + (Days | Subject)", lmmpy.datasets.load("sleepstudy"))
    >>> round(variance_components(m).random, 1)
    1698.1
    """
    if model.is_generalized:   # latent-scale residual variance
        from lmmpy.diagnostics._glmm_variance import glmm_variance_components

        return glmm_variance_components(model, tolerance)
    check_tolerance(tolerance)
    singular = _is_singular(model, tolerance)
    covariances = model.covariance_matrices()
    terms = dict(zip(covariances, model.design.terms, strict=True))
    random = np.nan if singular else sum(
        _term_variance(term, covariances[label].to_numpy(), _fixed_names(model))
        for label, term in terms.items()
    )
    return VarianceComponents(
        fixed=float(np.var(model.design.X.values @ model.solution.beta, ddof=1)),
        random=float(random),
        residual=model.sigma**2,
        intercepts=_intercept_variances(covariances),
        has_slopes=any(term.columns != ("(Intercept)",) for term in terms.values()),
        singular=singular,
    )


def check_tolerance(tolerance: object) -> None:
    if isinstance(tolerance, bool) or not isinstance(tolerance, int | float):
        raise TypeError(f"tolerance must be a number, not {type(tolerance).__name__}")
    if not tolerance >= 0:
        raise ValueError(f"tolerance must be >= 0, not {tolerance!r}")


def _is_singular(model: LinearMixedModel, tolerance: float) -> bool:
    lower = model.design.theta_lower_bounds()
    return bool(np.any(np.abs(model.theta[lower == 0]) < tolerance))


def _term_variance(term: RandomEffectsTerm, sigma: np.ndarray, fixed_names: set[str]) -> float:
    """(1/n) Σ_i z_i' Σ z_i over the term's columns that are fixed effects (Johnson 2014)."""
    keep = [j for j, name in enumerate(term.columns) if _r_name(name) in fixed_names]
    Z = term.model_matrix.values[:, keep]
    return float(np.einsum("ij,jk,ik->", Z, sigma[np.ix_(keep, keep)], Z) / Z.shape[0])


def _fixed_names(model: LinearMixedModel) -> set[str]:
    """X's column names as R writes them, with the intercept always present (as insight)."""
    return {_r_name(name) for name in model.design.beta_names} | {"(Intercept)"}


def _r_name(name: str) -> str:
    """``Machine[T.B]`` and ``Machine[B]`` both become R's ``MachineB``."""
    return re.sub(r"\[(?:T\.)?([^\]]*)\]", r"\1", name)


def _intercept_variances(covariances: dict[str, pd.DataFrame]) -> pd.Series:
    values = {label: float(cov.iloc[0, 0]) for label, cov in covariances.items()
              if cov.index[0] == "(Intercept)"}
    return pd.Series(values, dtype=float, name="intercept_variance")
