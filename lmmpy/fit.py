"""Stage 5: ``lmer()`` composes the stages — formula → design → objective → optimizer → model.

Each stage is its own module and can be run alone (as lme4's ``lFormula``,
``mkLmerDevfun``, ``optimizeLmer``, ``mkMerMod``); this module only wires them
(stages 4-6, shared with the fit from chunks and with refits, are
:mod:`lmmpy._fitting`'s).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from lmmpy import _checks
from lmmpy._control import LmerControl, check_control
from lmmpy._fitting import fit_design
from lmmpy._habits import reject_arguments
from lmmpy._threads import fit_threads
from lmmpy.design import _checks as _design_checks
from lmmpy.design import build_design
from lmmpy.design._build import ArrayOrColumn
from lmmpy.formula import parse_formula
from lmmpy.objective import ProfiledDeviance, cross_products
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
            return fit_design(design, objective, start, data_name, control,
                              LinearMixedModel)
    except np.linalg.LinAlgError:  # say why when the response leaves nothing to estimate
        _design_checks.check_response_varies(design.y, design.offset, design.X.values,
                                             design.formula.response, exhaustive=True)
        raise
