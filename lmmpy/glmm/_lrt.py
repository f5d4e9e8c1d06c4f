"""Reduced GLMMs for likelihood-ratio tests of random effects (``ranova``, ``test_random_effect``).

The reductions are the linear model's (:mod:`lmmpy.inference._lrt`): removing a
term, or a column of a term, holds entries of θ at zero — the same criterion
(Laplace or AGQ) minimised over the other θ's and all of β, each evaluation
a PIRLS solve; replacing ``(0 + x | g)`` by ``(1 | g)`` refits the design with
that term's model matrix a column of ones.  With every θ held at zero the
random effects vanish (u = 0, log|L|² = 0) and the criterion is the GLM's
−2 log-likelihood, so removing a model's only term compares it with the GLM,
as lme4's ``anova(glmer_fit, glm_fit)`` would.  Every reduced fit uses the model's
control (optimizer, tolerances, PIRLS's tolerance), as the fit did.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

import numpy as np

from lmmpy.design._fixed import ModelMatrix
from lmmpy.glmm._optimize import GlmmCriterion, _minimize, optimize_glmm
from lmmpy.glmm._pirls import ReweightedSystem

if TYPE_CHECKING:
    from lmmpy.glmm._model import GeneralizedLinearMixedModel


def restricted_criterion(model: GeneralizedLinearMixedModel, fixed: np.ndarray) -> float:
    """The model's criterion minimised with the θ's in ``fixed`` held at zero."""
    criterion = GlmmCriterion(model.system, len(model.theta), model.nagq,
                              model.control.pirls_tolerance)
    free = ~fixed
    n_free = int(free.sum())
    theta = np.where(fixed, 0.0, model.theta)

    def reduced(x: np.ndarray) -> float:
        full = theta.copy()
        full[free] = x[:n_free]
        return criterion(np.concatenate([full, x[n_free:]]))

    lower = np.concatenate([model.design.theta_lower_bounds()[free],
                            np.full(len(model.state.beta), -np.inf)])
    start = np.concatenate([theta[free], model.state.beta])
    steps = np.concatenate([np.full(n_free, 0.1), 0.1 * model.fixef_se.to_numpy()])
    return float(_minimize(reduced, start, lower, steps, model.control)[1])


def intercept_refit(model: GeneralizedLinearMixedModel, index: int) -> tuple[float, int]:
    """(criterion, number of θ's) with term ``index`` replaced by ``(1 | g)``."""
    design = model.design
    term = design.terms[index]
    terms = tuple(replace(term, model_matrix=_ones(design.n_obs)) if j == index else other
                  for j, other in enumerate(design.terms))
    reduced = replace(design, terms=terms)
    system = ReweightedSystem(reduced, model.system.response, model.system.path)
    theta_start = reduced.theta_start()
    criterion = GlmmCriterion(system, len(theta_start), model.nagq,
                              model.control.pirls_tolerance)
    optimization = optimize_glmm(criterion, theta_start, reduced.theta_lower_bounds(),
                                 control=model.control)
    return float(optimization.deviance), len(theta_start)


def null_intercept(model: GeneralizedLinearMixedModel) -> float:
    """β̂₀ of the model refitted with the intercept as the only fixed effect (same random
    effects, offset, weights and family; insight's ``null_model``: the ICC's and R²'s
    distribution-specific variance of the Poisson), from the fit's θ̂."""
    design = model.design
    system = ReweightedSystem(replace(design, X=_ones(design.n_obs)), model.system.response,
                              model.system.path, tables=model.system._crossprods)   # same Z
    criterion = GlmmCriterion(system, len(model.theta), max(model.nagq, 1),
                              model.control.pirls_tolerance)
    optimization = optimize_glmm(criterion, model.theta, design.theta_lower_bounds(),
                                 control=model.control)
    return float(optimization.parameters[len(model.theta)])


def _ones(n: int) -> ModelMatrix:
    """An intercept column as a model matrix (for fits, never rebuilt on new data)."""
    return ModelMatrix(np.ones((n, 1)), ("(Intercept)",), None, (0,),
                       {"Intercept": "(Intercept)"})
