"""Stage 5: ``lmer()`` composes the stages — formula → design → objective → optimizer → model.

Each stage is its own module and can be run alone (as lme4's ``lFormula``,
``mkLmerDevfun``, ``optimizeLmer``, ``mkMerMod``); this module only wires them.
"""

from __future__ import annotations

import functools
import warnings
from dataclasses import replace

import numpy as np
import pandas as pd

from lmmpy import _checks
from lmmpy._conditioned import ConditionedObjective, fit_conditioned
from lmmpy._control import LmerControl, check_control
from lmmpy._habits import reject_arguments
from lmmpy._threads import fit_threads
from lmmpy._warnings import SingularFitWarning
from lmmpy.design import Design, build_design
from lmmpy.design import _checks as _design_checks
from lmmpy.design._build import ArrayOrColumn
from lmmpy.formula import parse_formula
from lmmpy.objective import ProfiledDeviance, cross_products, random_effects_matrix
from lmmpy.optimize import EM_MAX_STEPS, OptSummary, minimize_deviance, optimize_theta
from lmmpy.results import LinearMixedModel

__all__ = ["lmer"]

LMER_KEYWORDS = ["formula", "data", "reml", "weights", "offset", "start", "data_name",
                 "control"]


def lmer(
    formula: str,
    data: pd.DataFrame | str,
    *,
    reml: bool = True,
    weights: ArrayOrColumn = None,
    offset: ArrayOrColumn = None,
    start: np.ndarray | None = None,
    data_name: str | None = None,
    control: LmerControl | None = None,
    **unknown: object,
) -> LinearMixedModel:
    """Fit a linear mixed model from an lme4-style formula.

    Parameters
    ----------
    formula : str
        ``response ~ fixed + (lhs | group) + ...`` with lme4's random-effects
        syntax: ``(x | g)``, ``(x || g)``, ``(1 | g1/g2)``, ``(1 | g1:g2)``, ``offset(o)``.
    data : pandas.DataFrame, Parquet location or Dask DataFrame
        Rows with a missing value in any column the model uses are dropped.  A
        Parquet file, folder or glob (``"ratings/*.parquet"``, read with pyarrow
        row group by row group) or a Dask DataFrame (partition by partition, on
        the active ``distributed`` Client if any) is fitted from chunks, never
        in memory as a whole: see :mod:`lmmpy.chunked` and "Data larger than
        memory" in the docs.  Weights and offset are then column names.
    reml : bool, default True
        Maximise the REML criterion (True) or the likelihood (False).
    weights, offset : str or array-like, optional
        Prior weights and an offset: a column of ``data`` or one value per row.
    start : array-like, optional
        Starting θ (lme4's order); default 1 on the diagonal, 0 elsewhere.
    data_name : str, optional
        Name of the data shown in the summary.
    control : LmerControl, optional
        Optimizer, factorization, tolerances and checks (lme4's ``lmerControl``);
        default ``LmerControl()``.

    Returns
    -------
    LinearMixedModel

    Raises
    ------
    FormulaError
        A formula that does not parse, or R code formulaic does not read
        (``factor(x)``: use ``C(x)``); the message points at it.
    TypeError, ValueError
        Bad data or arguments, named in the message: an argument lmer does not
        take (R's ``REML=`` is ``reml=``; statsmodels' ``groups=`` is a term
        ``(1 | g)`` in the formula), a missing or duplicated
        column, a date predictor, ``reml`` that is not a bool, a non-finite
        ``start``, a response with nothing left to estimate (constant, or equal
        to the offset) — see "Common errors" in the formula guide.
    MemoryError
        ``FactorTooLargeError``: the sparse factor of a very large crossed
        design cannot fit in memory; the message gives its size.

    Warns
    -----
    SingularFitWarning
        When the estimated random-effects covariance is singular.
    ConvergenceWarning
        When lme4's convergence checks fail at the optimum.

    Examples
    --------
    >>> import lmmpy
    >>> m = lmmpy.lmer("Reaction ~ Days + (Days | Subject)", lmmpy.datasets.load("sleepstudy"))
    >>> round(m.reml_criterion, 2)
    1743.63
    """
    if unknown:
        reject_arguments("lmer", unknown, LMER_KEYWORDS)
    reml = _checks.check_bool(reml, "reml")
    control = check_control(control, LmerControl, "lmer")
    from lmmpy.chunked._sources import source_of

    source = source_of(data)
    if source is not None:
        from lmmpy.chunked._fit import lmer_chunked

        return lmer_chunked(formula, source, reml=reml, weights=weights, offset=offset,
                            start=start, data_name=data_name, control=control)
    design = build_design(parse_formula(formula), data, weights=weights, offset=offset)
    _design_checks.check_response_varies(design.y, design.offset, design.X.values,
                                         design.formula.response)
    objective = ProfiledDeviance(cross_products(design), design.terms, reml=reml,
                                 _path=control.path)
    try:
        with fit_threads(objective):
            return fit_design(design, objective, start, data_name, control)
    except np.linalg.LinAlgError:  # say why when the response leaves nothing to estimate
        _design_checks.check_response_varies(design.y, design.offset, design.X.values,
                                             design.formula.response, exhaustive=True)
        raise


def fit_design(design: Design, objective: ProfiledDeviance, start: np.ndarray | None,
               data_name: str | None, control: LmerControl,
               model_type: type[LinearMixedModel] = LinearMixedModel, stacklevel: int = 4,
               **extra) -> LinearMixedModel:
    """Stages 4-6 on a design and its deviance: optimize θ, solve, the fitted model
    (``model_type`` with ``extra`` fields: the model of a chunked fit)."""
    if start is not None:
        start = _checks.check_start(start, design.theta_lower_bounds())
    summary, solution = fit_conditioned(
        objective, ConditionedObjective.of(design, objective), start,
        minimize=functools.partial(minimize_with_control, control=control))
    model = model_type(design=design, objective=objective, optimization=summary,
                       solution=solution, reml=objective.reml, data_name=data_name, **extra)
    if control.check_singular:
        _warn_if_singular(model, stacklevel=stacklevel)
    return model


def minimize_with_control(objective: ProfiledDeviance, start: np.ndarray, lower: np.ndarray, *,
                          control: LmerControl, em_start: bool = True,
                          em_steps: int = EM_MAX_STEPS) -> OptSummary:
    """:func:`~lmmpy.optimize.minimize_deviance` with the control's optimizer and tolerances.

    ``optimizer="auto"`` is ``minimize_deviance``'s choice (and with the default
    tolerances ``minimize_deviance`` itself); a named method needs the derivatives it
    uses (a ValueError naming the factorization otherwise).
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


def _default_tolerances(control: LmerControl) -> bool:
    default = LmerControl()
    return all(getattr(control, name) == getattr(default, name)
               for name in ("xtol_abs", "ftol_abs", "xtol_rel", "max_evaluations",
                            "check_convergence"))


def _check_optimizer_applies(method: str, objective: ProfiledDeviance) -> None:
    needs = {"newton": ("has_hessian", "the analytic Hessian"),
             "bfgs": ("has_gradient", "the analytic gradient")}
    if method in needs and not getattr(objective, needs[method][0]):
        raise ValueError(f"optimizer={method!r} needs {needs[method][1]}, which the "
                         f"{objective.path} factorization this model uses does not have; "
                         "use optimizer='auto' or 'bobyqa', or another factorization")


def _warn_if_singular(model: LinearMixedModel, stacklevel: int = 3) -> None:
    if model.is_singular:
        warnings.warn("boundary (singular) fit: see LinearMixedModel.is_singular",
                      SingularFitWarning, stacklevel=stacklevel)


def refit_response(model: LinearMixedModel, y: np.ndarray) -> LinearMixedModel:
    """Refit ``model`` to a new response on the same design, reusing the analysed factor.

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
    summary, solution = fit_conditioned(objective, model.conditioned_objective.with_response(y))
    refitted = LinearMixedModel(replace(design, y=y), objective, summary, solution, model.reml,
                                model.data_name)
    _warn_if_singular(refitted)
    return refitted
