"""``glmer()``: formula → response and design → PIRLS criterion → optimiser → fitted model.

Each stage is its own module (as lme4's ``glFormula``, ``mkGlmerDevfun``,
``optimizeGlmer``, ``mkMerMod``); this one only wires them.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd

from lmmpy._control import GlmerControl, check_control
from lmmpy._families import Family, make_family
from lmmpy._warnings import ConvergenceWarning, SingularFitWarning
from lmmpy.design import build_design
from lmmpy.design._build import ArrayOrColumn
from lmmpy.formula import parse_formula
from lmmpy.glmm._conditioned import (
    conditioned_start,
    fitting_criterion,
    original_hessian,
    original_optimization,
    start_from_fitting,
    warn_if_digits_lost,
)
from lmmpy.glmm._model import GeneralizedLinearMixedModel
from lmmpy.glmm._optimize import (
    GlmmCriterion,
    criterion_hessian,
    newton_polish,
    optimize_glmm,
    optimize_theta,
)
from lmmpy.glmm._pirls import PirlsError, ReweightedSystem
from lmmpy.glmm._response import check_response, response_frame
from lmmpy.glmm._separation import check_separation, fit_looks_separated

__all__ = ["glmer"]

SEPARATION_CHECK_ROWS = 20_000   # the linear programme up front (≤ ~0.3 s); larger data: only
                                 # when the fit points at separation (fitted means at 0 or 1)


def glmer(
    formula: str,
    data: pd.DataFrame,
    family: str | Family = "binomial",
    *,
    link: str | None = None,
    weights: ArrayOrColumn = None,
    offset: ArrayOrColumn = None,
    nagq: int = 1,
    start: np.ndarray | None = None,
    data_name: str | None = None,
    control: GlmerControl | None = None,
) -> GeneralizedLinearMixedModel:
    """Fit a generalized linear mixed model by maximum likelihood (lme4's ``glmer``).

    Parameters
    ----------
    formula : str
        ``response ~ fixed + (lhs | group) + ...`` with lme4's random-effects
        syntax and ``offset(...)`` terms.  A binomial response is a 0/1
        column, a factor (bool, string; the first level is the failure),
        ``cbind(successes, failures)`` or a proportion with ``weights=`` the trials.
    data : pandas.DataFrame
        Rows with a missing value in any column the model uses are dropped.
    family : str or Family, default "binomial"
        ``"binomial"``, ``"poisson"``, ``"Gamma"``, ``"inverse.gaussian"`` or a
        family object (:class:`lmmpy.Binomial`, ...).
    link : str, optional
        The link (default: the family's, as R): ``"logit"``, ``"probit"``,
        ``"cloglog"``, ``"cauchit"``, ``"log"``, ``"identity"``, ``"sqrt"``,
        ``"inverse"``, ``"1/mu^2"``.
    weights, offset : str or array-like, optional
        Prior weights and an offset (on the link scale): a column of ``data``
        or one value per row.
    nagq : int, default 1
        Points of the adaptive Gauss–Hermite rule: 1 is the Laplace
        approximation; more need a single random-effects term with one
        column, as in lme4.  0 is lme4's ``nAGQ = 0``: the Laplace criterion
        over θ alone, β estimated with the conditional modes by PIRLS (faster,
        slightly less exact).
    start : array-like, optional
        Starting (θ, β) for the joint optimisation (the nAGQ = 0 stage is then
        skipped); with ``nagq=0``, the starting θ.
    data_name : str, optional
        Name of the data shown in the summary.
    control : GlmerControl, optional
        Optimizer, factorization, tolerances, PIRLS's tolerance, whether to start
        from an nAGQ = 0 fit, checks (lme4's ``glmerControl``); default
        ``GlmerControl()``.

    Returns
    -------
    GeneralizedLinearMixedModel

    Warns
    -----
    SingularFitWarning
        When the estimated random-effects covariance is singular.
    ConvergenceWarning
        When the optimizer stops at its evaluation limit.

    Raises
    ------
    ValueError
        For a response the family cannot take, and for complete or quasi-complete
        separation (fixed effects whose estimates are infinite), named.

    Examples
    --------
    >>> import lmmpy
    >>> m = lmmpy.glmer("cbind(incidence, size - incidence) ~ period + (1 | herd)",
    ...                 lmmpy.datasets.load("cbpp"), family="binomial")
    >>> round(m.loglik, 2)
    -92.03
    """
    nagq = _checked_nagq(nagq)
    control = check_control(control, GlmerControl, "glmer")
    system = glmm_setup(formula, data, family, link=link, weights=weights, offset=offset,
                        path=control.path)
    if nagq > 1:
        _check_quadrature_applies(system)
    n_theta = len(system.design.theta_start())
    criterion = GlmmCriterion(system, n_theta, nagq, control.pirls_tolerance)
    fitting, matrices = fitting_criterion(criterion)   # on centred, scaled columns
    theta_start, theta_lower = system.design.theta_start(), system.design.theta_lower_bounds()
    if nagq == 0 and start is not None:
        theta_start = conditioned_start(_checked_start(start, system, n_theta, n_theta),
                                        criterion, matrices)
    elif start is not None:
        start = conditioned_start(_checked_start(start, system, n_theta,
                                                 n_theta + system.n_fixed), criterion, matrices)
    try:
        if nagq == 0:
            optimization = original_optimization(
                optimize_theta(fitting, theta_start, theta_lower, control), criterion, matrices)
            start_from_fitting(criterion, fitting, matrices)
            hessian, state = None, criterion.at_theta(optimization.parameters[:n_theta])
        else:
            optimization = optimize_glmm(fitting, theta_start, theta_lower, start, control)
            fitting_hessian = criterion_hessian(fitting, optimization.parameters)
            if fitting.has_gradient and control.optimizer in ("auto", "bfgs"):
                optimization = newton_polish(fitting, optimization, fitting_hessian,
                                             np.r_[theta_lower, np.full(system.n_fixed, -np.inf)])
            hessian = original_hessian(fitting_hessian, n_theta, matrices)
            optimization = original_optimization(optimization, criterion, matrices)
            start_from_fitting(criterion, fitting, matrices)
            state = criterion.at(optimization.parameters)
    except (PirlsError, np.linalg.LinAlgError):
        check_separation(system)   # the usual reason; else the error as it was
        raise
    if fit_looks_separated(system, state.mu):
        check_separation(system)
    deviance_value = criterion.value(state, nagq=max(nagq, 1))
    warn_if_digits_lost(deviance_value, optimization.deviance, criterion, matrices)
    model = GeneralizedLinearMixedModel(
        system=system,
        state=state,
        deviance_value=deviance_value,
        nagq=nagq,
        hessian=hessian,
        optimization=optimization,
        row_index=_row_index(data, system),
        data_name=data_name,
        control=control,
    )
    _warn_about(model, control)
    return model


def _warn_about(model: GeneralizedLinearMixedModel, control: GlmerControl) -> None:
    if control.check_singular and model.is_singular:
        warnings.warn("boundary (singular) fit: see GeneralizedLinearMixedModel.is_singular",
                      SingularFitWarning, stacklevel=3)
    if "maximum number of evaluations reached" in model.optimization.return_codes:
        warnings.warn("the optimizer stopped at its maximum number of evaluations",
                      ConvergenceWarning, stacklevel=3)


def glmm_setup(formula: str, data: pd.DataFrame, family: str | Family = "binomial", *,
               link: str | None = None, weights: ArrayOrColumn = None,
               offset: ArrayOrColumn = None, path: str | None = None) -> ReweightedSystem:
    """The design and response of a GLMM, checked (stages 1-2 of :func:`glmer`), on the
    factorization ``path`` (None: the one ``lmer`` would choose)."""
    family = make_family(family, link)
    parsed = parse_formula(formula)
    if not isinstance(data, pd.DataFrame):
        raise TypeError(f"data must be a pandas DataFrame, not {type(data).__name__}")
    response_text = parsed.response
    parsed, frame, response = response_frame(parsed, data, family, weights)
    if offset is not None and not isinstance(offset, str):
        offset = np.asarray(offset, dtype=float)
    design = build_design(parsed, frame, offset=offset)
    response = response.subset(design.row_index.to_numpy())
    check_response(response, response_text)
    system = ReweightedSystem(design, response, path)
    if design.n_obs <= SEPARATION_CHECK_ROWS:
        check_separation(system)
    return system


def _row_index(data: pd.DataFrame, system: ReweightedSystem) -> pd.Index:
    return data.index[system.design.row_index.to_numpy()]


def _checked_nagq(nagq) -> int:
    if isinstance(nagq, bool) or not isinstance(nagq, int | np.integer) or nagq < 0:
        raise ValueError(f"nagq must be an integer of 0 or more (1: Laplace), not {nagq!r}")
    return int(nagq)


def _check_quadrature_applies(system: ReweightedSystem) -> None:
    terms = system.design.terms
    if len(terms) != 1 or terms[0].n_columns != 1:
        raise ValueError("nagq > 1 needs a single random-effects term with one column, such as "
                         "(1 | g); this model has "
                         + ", ".join(f"({', '.join(t.columns)} | {t.group_name})" for t in terms)
                         + ": use nagq=1 (Laplace)")


def _checked_start(start, system: ReweightedSystem, n_theta: int, expected: int) -> np.ndarray:
    start = np.asarray(start, dtype=float)
    if start.shape != (expected,):
        what = "θ in lme4's order" + (", then β" if expected > n_theta else "")
        raise ValueError(f"start must have {expected} values ({what}), not {start.shape}")
    return start
