"""Reduced GLMMs for likelihood-ratio tests of random effects (``ranova``, ``test_random_effect``).

The reductions are the linear model's (:mod:`lmmpy.inference._lrt`): removing a
term, or a column of a term, holds entries of θ at zero — the same criterion
(Laplace or AGQ) minimised over the other θ's and all of β, each evaluation
a PIRLS solve; replacing ``(0 + x | g)`` by ``(1 | g)`` refits the design with
that term's model matrix a column of ones.  With every θ held at zero the
random effects vanish (u = 0, log|L|² = 0) and the criterion is the GLM's
−2 log-likelihood, so removing a model's only term compares it with the GLM,
as lme4's ``anova(glmer_fit, glm_fit)`` would.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

import numpy as np

from lmmpy.glmm._optimize import DEFAULT_CONTROL, GlmmCriterion, _minimize, optimize_glmm
from lmmpy.glmm._pirls import ReweightedSystem

if TYPE_CHECKING:
    from lmmpy.glmm._model import GeneralizedLinearMixedModel


def restricted_criterion(model: GeneralizedLinearMixedModel, fixed: np.ndarray) -> float:
    """The model's criterion minimised with the θ's in ``fixed`` held at zero."""
    criterion = GlmmCriterion(model.system, len(model.theta), model.nagq)
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
    return float(_minimize(reduced, start, lower, steps, DEFAULT_CONTROL)[1])


def intercept_refit(model: GeneralizedLinearMixedModel, index: int) -> tuple[float, int]:
    """(criterion, number of θ's) with term ``index`` replaced by ``(1 | g)``."""
    from lmmpy.design._fixed import ModelMatrix

    design = model.design
    term = design.terms[index]
    ones = ModelMatrix(np.ones((design.n_obs, 1)), ("(Intercept)",), None, (0,),
                       {"Intercept": "(Intercept)"})
    terms = tuple(replace(term, model_matrix=ones) if j == index else other
                  for j, other in enumerate(design.terms))
    reduced = replace(design, terms=terms)
    system = ReweightedSystem(reduced, model.system.response, model.system.path)
    theta_start = reduced.theta_start()
    criterion = GlmmCriterion(system, len(theta_start), model.nagq)
    optimization = optimize_glmm(criterion, theta_start, reduced.theta_lower_bounds())
    return float(optimization.deviance), len(theta_start)
