"""Stages 4-6 of ``lmer`` and every later fit of the same model: θ optimized with the
model's control, solved, the fitted model made.

``lmer`` (:mod:`lmmpy.fit`) and the fit from chunks (:mod:`lmmpy.chunked`) build a
design and call :func:`fit_design`; refits of a fitted model — to a new response (the
bootstrap), by ML (``anova``, profiles), with terms reduced (``ranova``) — optimize
with :func:`minimize_with_control` and the control the model was fitted with
(``model.control``), so a user's optimizer, tolerances and checks hold for all of
them as for the fit.  This module knows no model class: the class is the caller's
(``model_type``) or the model's own (``dataclasses.replace``), so that the model
modules, which refit through it, do not form an import cycle with it.
"""

from __future__ import annotations

import functools
import warnings
from dataclasses import replace
from typing import TYPE_CHECKING

import numpy as np

from lmmpy import _checks
from lmmpy._conditioned import ConditionedObjective, fit_conditioned
from lmmpy._control import LmerControl
from lmmpy._warnings import SingularFitWarning
from lmmpy.design import Design
from lmmpy.design import _checks as _design_checks
from lmmpy.objective import ProfiledDeviance, random_effects_matrix
from lmmpy.optimize import EM_MAX_STEPS, OptSummary, minimize_deviance, optimize_theta

if TYPE_CHECKING:
    from lmmpy.results import LinearMixedModel

DEFAULT_CONTROL = LmerControl()


def fit_design(design: Design, objective: ProfiledDeviance, start: np.ndarray | None,
               data_name: str | None, control: LmerControl, model_type: type,
               stacklevel: int = 4, **extra) -> LinearMixedModel:
    """Stages 4-6 on a design and its deviance: optimize θ, solve, the fitted model
    (``model_type`` with ``extra`` fields: the model of a chunked fit)."""
    if start is not None:
        start = _checks.check_start(start, design.theta_lower_bounds())
    summary, solution = fit_conditioned(
        objective, ConditionedObjective.of(design, objective), start,
        minimize=functools.partial(minimize_with_control, control=control))
    model = model_type(design=design, objective=objective, optimization=summary,
                       solution=solution, reml=objective.reml, data_name=data_name,
                       control=control, **extra)
    if control.check_singular:
        warn_if_singular(model, stacklevel=stacklevel)
    return model


def minimize_with_control(objective: ProfiledDeviance, start: np.ndarray, lower: np.ndarray, *,
                          control: LmerControl, em_start: bool = True,
                          em_steps: int = EM_MAX_STEPS) -> OptSummary:
    """:func:`~lmmpy.optimize.minimize_deviance` with the control's optimizer and tolerances.

    ``optimizer="auto"`` is ``minimize_deviance``'s choice (and with the default
    tolerances ``minimize_deviance`` itself); a named method needs the derivatives it
    uses (a ValueError naming the factorization otherwise).

    Examples
    --------
    >>> import lmmpy
    >>> m = lmmpy.lmer("Yield ~ 1 + (1 | Batch)", lmmpy.datasets.load("Dyestuff"))
    >>> summary = minimize_with_control(m.objective, m.design.theta_start(),
    ...                                 m.design.theta_lower_bounds(),
    ...                                 control=lmmpy.LmerControl(optimizer="bobyqa"))
    >>> summary.optimizer, round(float(summary.theta[0]), 3)
    ('bobyqa (NLopt)', 0.848)
    """
    method = control.optimizer
    if method == "auto" and _default_tolerances(control):
        return minimize_deviance(objective, start, lower, em_start=em_start, em_steps=em_steps)
    if method == "auto":
        method = ("newton" if objective.has_hessian
                  else "bfgs" if objective.has_gradient else "bobyqa")
    _check_optimizer_applies(method, objective)
    gradient = objective.value_and_gradient if method in ("bfgs", "newton") else None
    hessian = objective.value_gradient_hessian if method == "newton" else None
    return optimize_theta(
        objective, start, lower, xtol_abs=control.xtol_abs, ftol_abs=control.ftol_abs,
        xtol_rel=control.xtol_rel, max_evaluations=control.max_evaluations,
        check_convergence=control.check_convergence,
        value_and_gradient=gradient, value_gradient_hessian=hessian,
        em_update=objective.em_update if em_start and method == "bfgs" else None,
        em_steps=em_steps)


def minimize_function(function, start: np.ndarray, lower: np.ndarray,
                      control: LmerControl) -> OptSummary:
    """BOBYQA on a criterion of θ that has no derivatives (a deviance with some θ's held:
    ``ranova``'s reductions), with the control's tolerances and evaluation limit."""
    return optimize_theta(function, start, lower, xtol_abs=control.xtol_abs,
                          ftol_abs=control.ftol_abs, xtol_rel=control.xtol_rel,
                          max_evaluations=control.max_evaluations,
                          check_convergence=control.check_convergence)


def _default_tolerances(control: LmerControl) -> bool:
    return all(getattr(control, name) == getattr(DEFAULT_CONTROL, name)
               for name in ("xtol_abs", "ftol_abs", "xtol_rel", "max_evaluations",
                            "check_convergence"))


def _check_optimizer_applies(method: str, objective: ProfiledDeviance) -> None:
    needs = {"newton": ("has_hessian", "the analytic Hessian"),
             "bfgs": ("has_gradient", "the analytic gradient")}
    if method in needs and not getattr(objective, needs[method][0]):
        raise ValueError(f"optimizer={method!r} needs {needs[method][1]}, which the "
                         f"{objective.path} factorization this model uses does not have; "
                         "use optimizer='auto' or 'bobyqa', or another factorization")


def warn_if_singular(model, stacklevel: int = 3) -> None:
    """A :class:`~lmmpy.SingularFitWarning` for a singular fit."""
    if model.is_singular:
        warnings.warn("boundary (singular) fit: see LinearMixedModel.is_singular",
                      SingularFitWarning, stacklevel=stacklevel)


def refit_response(model: LinearMixedModel, y: np.ndarray) -> LinearMixedModel:
    """Refit ``model`` to a new response on the same design, reusing the analysed factor,
    with the model's control.

    The optimizer starts where a fresh fit starts (not at the old θ̂), so a refit
    is the fit ``lmer`` would give on the data with the new response: on flat or
    singular surfaces a warm start can stop in a different local optimum.
    """
    design = model.design
    y = _checks.check_new_response(y, design.n_obs)
    _design_checks.check_response_varies(y, design.offset, design.X.values, None)
    Z = random_effects_matrix(design)
    crossprods = model.objective.crossprods.with_response(
        Z, design.X.values, y - design.offset, design.weights
    )
    objective = model.objective.with_crossprods(crossprods)
    summary, solution = fit_conditioned(
        objective, model.conditioned_objective.with_response(y),
        minimize=functools.partial(minimize_with_control, control=model.control))
    refitted = replace(model, design=replace(design, y=y), objective=objective,
                       optimization=summary, solution=solution)
    if model.control.check_singular:
        warn_if_singular(refitted)
    return refitted
