"""Stage 5: ``lmer()`` composes the stages — formula → design → objective → optimizer → model.

Each stage is its own module and can be run alone (as lme4's ``lFormula``,
``mkLmerDevfun``, ``optimizeLmer``, ``mkMerMod``); this module only wires them.
"""

from __future__ import annotations

import warnings
from dataclasses import replace

import numpy as np
import pandas as pd

from lmmpy import _checks
from lmmpy._conditioned import ConditionedObjective, minimize_conditioned
from lmmpy._warnings import SingularFitWarning
from lmmpy.design import Design, build_design
from lmmpy.design import _checks as _design_checks
from lmmpy.design._build import ArrayOrColumn
from lmmpy.formula import parse_formula
from lmmpy.objective import ProfiledDeviance, cross_products, random_effects_matrix
from lmmpy.results import LinearMixedModel

__all__ = ["lmer"]


def lmer(
    formula: str,
    data: pd.DataFrame | str,
    *,
    reml: bool = True,
    weights: ArrayOrColumn = None,
    offset: ArrayOrColumn = None,
    start: np.ndarray | None = None,
    data_name: str | None = None,
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

    Returns
    -------
    LinearMixedModel

    Raises
    ------
    FormulaError
        A formula that does not parse, or R code formulaic does not read
        (``factor(x)``: use ``C(x)``); the message points at it.
    TypeError, ValueError
        Bad data or arguments, named in the message: a missing or duplicated
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
    reml = _checks.check_bool(reml, "reml")
    from lmmpy.chunked._sources import source_of

    source = source_of(data)
    if source is not None:
        from lmmpy.chunked._fit import lmer_chunked

        return lmer_chunked(formula, source, reml=reml, weights=weights, offset=offset,
                            start=start, data_name=data_name)
    design = build_design(parse_formula(formula), data, weights=weights, offset=offset)
    _design_checks.check_response_varies(design.y, design.offset, design.X.values,
                                         design.formula.response)
    objective = ProfiledDeviance(cross_products(design), design.terms, reml=reml)
    try:
        return fit_design(design, objective, start, data_name)
    except np.linalg.LinAlgError:  # say why when the response leaves nothing to estimate
        _design_checks.check_response_varies(design.y, design.offset, design.X.values,
                                             design.formula.response, exhaustive=True)
        raise


def fit_design(design: Design, objective: ProfiledDeviance, start: np.ndarray | None,
               data_name: str | None, model_type: type[LinearMixedModel] = LinearMixedModel,
               **extra) -> LinearMixedModel:
    """Stages 4-6 on a design and its deviance: optimize θ, solve, the fitted model
    (``model_type`` with ``extra`` fields: the model of a chunked fit)."""
    if start is not None:
        start = _checks.check_start(start, design.theta_lower_bounds())
    summary = minimize_conditioned(objective, ConditionedObjective.of(design, objective), start)
    model = model_type(design=design, objective=objective, optimization=summary,
                       solution=objective.solve(summary.theta), reml=objective.reml,
                       data_name=data_name, **extra)
    _warn_if_singular(model)
    return model


def _warn_if_singular(model: LinearMixedModel) -> None:
    if model.is_singular:
        warnings.warn("boundary (singular) fit: see LinearMixedModel.is_singular",
                      SingularFitWarning, stacklevel=4)


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
    summary = minimize_conditioned(objective, model.conditioned_objective.with_response(y))
    refitted = LinearMixedModel(replace(design, y=y), objective, summary,
                                objective.solve(summary.theta), model.reml, model.data_name)
    _warn_if_singular(refitted)
    return refitted
