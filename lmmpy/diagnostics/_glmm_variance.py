"""Variance decomposition of a GLMM on the latent (link) scale, as R's ``insight::get_variance``.

The ICC and R² of a GLMM (Nakagawa & Schielzeth 2013; Nakagawa, Johnson &
Schielzeth 2017) are the linear model's ratios with the residual variance
replaced by the *distribution-specific* variance σ²_d of the latent scale:

* σ²_fixed = var(Xβ̂) (denominator n − 1, offset left out) and σ²_random the
  mean over observations of z'Σz summed over terms, as for a linear model
  (:mod:`lmmpy.diagnostics._variance`; Σ = T T', σ = 1);
* σ²_d, by family and link (``insight`` 0.19):

  - binomial: π²/3 (logit), 1 (probit), π²/6 (cloglog) — the variance of
    the standard logistic, normal and Gumbel distributions;
  - Poisson, log link: the lognormal approximation ln(1 + 1/λ), with
    λ = exp(β̂₀) the intercept of the *null model* (the response on the same
    random effects and offset, no covariates, refitted); sqrt link: 0.25.

Other families and links have no such variance here: a ``ValueError`` says so
(``insight`` warns and returns NA).  As there, a singular fit (a θ below the
tolerance) gives NaN for the random variance.

References
----------
Nakagawa, S. & Schielzeth, H. (2013). *Methods Ecol. Evol.* 4(2), 133-142.
Nakagawa, S., Johnson, P. C. D. & Schielzeth, H. (2017). *J. R. Soc. Interface* 14,
20170213.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np

from lmmpy.diagnostics._variance import (
    VarianceComponents,
    _fixed_names,
    _intercept_variances,
    _is_singular,
    _term_variance,
    check_tolerance,
)

if TYPE_CHECKING:
    from lmmpy.glmm import GeneralizedLinearMixedModel

BINOMIAL_LINKS = {"logit": math.pi**2 / 3, "probit": 1.0, "cloglog": math.pi**2 / 6}


def glmm_variance_components(model: GeneralizedLinearMixedModel,
                             tolerance: float) -> VarianceComponents:
    """The fixed, random and distribution-specific variances (module docstring)."""
    check_tolerance(tolerance)
    residual = distribution_variance(model)
    singular = _is_singular(model, tolerance)
    covariances = model.covariance_matrices()
    terms = dict(zip(covariances, model.design.terms, strict=True))
    random = np.nan if singular else sum(
        _term_variance(term, covariances[label].to_numpy(), _fixed_names(model))
        for label, term in terms.items())
    return VarianceComponents(
        fixed=float(np.var(model.design.X.values @ model.state.beta, ddof=1)),
        random=float(random),
        residual=residual,
        intercepts=_intercept_variances(covariances),
        has_slopes=any(term.columns != ("(Intercept)",) for term in terms.values()),
        singular=singular,
    )


def distribution_variance(model: GeneralizedLinearMixedModel) -> float:
    """σ²_d of the family and link (π²/3 for the logit, ln(1 + 1/λ) for the Poisson log)."""
    family, link = model.family.name, model.family.link.name
    if family == "binomial" and link in BINOMIAL_LINKS:
        return BINOMIAL_LINKS[link]
    if family == "poisson" and link == "sqrt":
        return 0.25
    if family == "poisson" and link == "log":
        return math.log1p(1.0 / math.exp(model._null_intercept()))
    raise ValueError(
        f"no distribution-specific variance for the {family} family with the {link} link: "
        "the ICC and R² of a GLMM are defined here for the binomial (logit, probit, cloglog) "
        "and the Poisson (log, sqrt), as in R's performance package")
