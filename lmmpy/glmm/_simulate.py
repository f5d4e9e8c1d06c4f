"""Simulate responses from a fitted GLMM and refit it to them (lme4's ``simulate``, ``refit``).

With the estimates θ̂, β̂ (and the conditional modes û):

    unconditional (``use_u=False``, lme4's default ``re.form = NA``):
        η* = Xβ̂ + o + ZΛ_θ̂ u*,  u* ~ N(0, I_q)      (new random effects)
    conditional (``use_u=True``, lme4's ``use.u = TRUE``):
        η* = Xβ̂ + o + ZΛ_θ̂ û                        (the estimated ones)

and y* drawn from the family at μ* = g⁻¹(η*), as R's ``family$simulate``:

* binomial: y* = Binomial(n_i, μ*_i) / n_i with n_i the prior weights (the
  trials of a ``cbind`` response, the ``weights=`` of a proportion, 1 for a
  0/1 response): y* is a proportion, as the response the model was fitted to;
* Poisson: y* ~ Poisson(μ*);
* negative binomial: y* ~ NB(μ*, k̂), variance μ* + μ*²/k̂ (a refit holds k at k̂,
  as lme4's ``refit`` of a ``glmer.nb`` fit);
* Gamma: shape w_i/σ̂², mean μ*_i (σ̂ the model's ``sigma``);
* inverse Gaussian: mean μ*_i, shape w_i/σ̂².

The random effects are b = Λ_θ u with u standard normal — the scale of the
model's likelihood (lme4's Laplace criterion, whose penalty is ‖u‖²), so a
refit to y* estimates the θ it was drawn with; for the Gamma and the inverse
Gaussian this is θ, not θσ̂ (``varcorr``'s scale, as lme4 1.1-31 reports it).

Draws come from a numpy Generator: per replicate, first the u* of each
random-effects term (levels × k standard normals, in lme4's term order), then
the responses.  :func:`refit_response` fits the same model to a new response:
same design, same family, starting at the fit's (θ̂, β̂), on the conditioned
columns :func:`lmmpy.glmer` optimises on.  A negative binomial refit holds the
shape k at the fit's, as lme4's ``refit`` (and so ``bootMer``) of a
``glmer.nb`` fit does.
"""

from __future__ import annotations

import warnings
from dataclasses import replace
from typing import TYPE_CHECKING

import numpy as np

from lmmpy._families import Binomial, Gamma, InverseGaussian, NegativeBinomial, Poisson
from lmmpy._warnings import ConvergenceWarning, SingularFitWarning
from lmmpy.glmm._conditioned import (
    conditioned_start,
    fitting_criterion,
    original_hessian,
    original_optimization,
)
from lmmpy.glmm._optimize import GlmmCriterion, criterion_hessian, optimize_glmm, optimize_theta
from lmmpy.glmm._pirls import ReweightedSystem
from lmmpy.glmm._response import check_response

if TYPE_CHECKING:
    from lmmpy.glmm._model import GeneralizedLinearMixedModel


def simulate_response(model: GeneralizedLinearMixedModel, rng: np.random.Generator,
                      use_u: bool = False) -> np.ndarray:
    """One simulated response vector on the fitted response's scale (module docstring)."""
    u = model.state.u if use_u else _new_u(model, rng)
    eta = model.system.linear_predictor(model.state.beta, model.system.Lambda(model.theta) @ u)
    return draw(model, model.family.linkinv(eta), rng)


def _new_u(model: GeneralizedLinearMixedModel, rng: np.random.Generator) -> np.ndarray:
    """u* term by term (levels × k standard normals each), in the order of u."""
    return np.concatenate([rng.standard_normal((term.n_levels, term.n_columns)).ravel()
                           for term in model.design.terms])


def draw(model: GeneralizedLinearMixedModel, mu: np.ndarray,
         rng: np.random.Generator) -> np.ndarray:
    """y* from the family at μ with the fit's prior weights."""
    family, weights = model.family, model.system.response.weights
    if isinstance(family, Binomial):
        trials = np.rint(weights).astype(np.int64)
        successes = rng.binomial(np.maximum(trials, 0), np.clip(mu, 0.0, 1.0))
        return np.divide(successes, trials, out=np.zeros(len(mu)), where=trials > 0)
    if isinstance(family, Poisson):
        return rng.poisson(mu).astype(float)
    if isinstance(family, NegativeBinomial):   # MASS's simulate: rnbinom(mu, size = k)
        return rng.negative_binomial(family.theta, family.theta / (family.theta + mu)
                                     ).astype(float)
    if isinstance(family, Gamma):
        shape = weights / model.sigma**2
        return rng.gamma(shape, mu / shape)
    if isinstance(family, InverseGaussian):
        return rng.wald(mu, weights / model.sigma**2)
    raise ValueError(f"simulating from the {family.name} family is not supported")


def refit_response(model: GeneralizedLinearMixedModel,
                   y: np.ndarray) -> GeneralizedLinearMixedModel:
    """The model fitted to response ``y`` (same design, family, weights and nAGQ), starting
    from the fit's estimates, with the fit's control."""
    y = np.asarray(y, dtype=float)
    if y.shape != (model.nobs,):
        raise ValueError(f"y must have one value per observation of the fit ({model.nobs}), "
                         f"not shape {y.shape}")
    response = replace(model.system.response, y=y)
    check_response(response, "y")
    system = ReweightedSystem(model.design, response, model.system.path,
                              tables=model.system._crossprods)   # the same design
    n_theta = len(model.theta)
    control = model.control
    criterion = GlmmCriterion(system, n_theta, model.nagq, control.pirls_tolerance)
    fitting, matrices = fitting_criterion(criterion)   # glmer's conditioned columns
    lower = model.design.theta_lower_bounds()
    start = conditioned_start(np.concatenate([model.theta, model.state.beta]), criterion,
                              matrices)
    if model.nagq == 0:
        optimization = original_optimization(
            optimize_theta(fitting, start[:n_theta], lower, control), criterion, matrices)
        hessian, state = None, criterion.at_theta(optimization.parameters[:n_theta])
    else:
        optimization = optimize_glmm(fitting, start[:n_theta], lower, start, control)
        hessian = original_hessian(criterion_hessian(fitting, optimization.parameters),
                                   n_theta, matrices)
        optimization = original_optimization(optimization, criterion, matrices)
        state = criterion.at(optimization.parameters)
    refitted = replace(model, system=system, state=state, hessian=hessian,
                       optimization=optimization,
                       deviance_value=criterion.value(state, nagq=max(model.nagq, 1)))
    _warn_about(refitted)
    return refitted


def _warn_about(model: GeneralizedLinearMixedModel) -> None:
    if model.control.check_singular and model.is_singular:
        warnings.warn("boundary (singular) fit: see GeneralizedLinearMixedModel.is_singular",
                      SingularFitWarning, stacklevel=3)
    if "maximum number of evaluations reached" in model.optimization.return_codes:
        warnings.warn("the optimizer stopped at its maximum number of evaluations",
                      ConvergenceWarning, stacklevel=3)
