"""Generalized linear mixed models (lme4's ``glmer``): PIRLS, Laplace and adaptive
Gauss–Hermite criteria, on the linear model's design and factorizations.

Stages: ``_response`` (lme4's response forms, prior weights, checks),
``_families`` (R's family objects), ``_pirls`` (conditional modes at fixed θ),
``_laplace`` (the criteria), ``_optimize`` (lme4's two stages, the Hessian),
``fit`` (:func:`glmer`), ``_model`` (the fitted model), ``nb`` (:func:`glmer_nb`, the
negative binomial with its shape estimated).
"""

from lmmpy._families import (
    Binomial,
    Family,
    Gamma,
    InverseGaussian,
    NegativeBinomial,
    Poisson,
)
from lmmpy.glmm._model import GeneralizedLinearMixedModel
from lmmpy.glmm.fit import glmer
from lmmpy.glmm.nb import NegativeBinomialMixedModel, glmer_nb

__all__ = ["Binomial", "Family", "Gamma", "GeneralizedLinearMixedModel", "InverseGaussian",
           "NegativeBinomial", "NegativeBinomialMixedModel", "Poisson", "glmer", "glmer_nb"]
