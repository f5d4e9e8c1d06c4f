"""Likelihood-ratio tests: nested fits (lme4's ``anova(m0, m1)``) and random-effects terms.

For nested models with log-likelihoods ℓ₀ ≤ ℓ₁ and parameter counts k₀ < k₁,
LRT = 2(ℓ₁ − ℓ₀) is referred to χ²(k₁ − k₀).  REML likelihoods of models with
different fixed effects are not comparable, so REML fits are first refitted by
ML, as lme4 does (the table says so in its note).

**Random-effects terms** (lmerTest's ``ranova``; Kuznetsova et al. 2017).
Each term is reduced as lmerTest reduces it (``reduce_terms=True``), with the
formula terms of its left-hand side that no other one contains as the
candidates (``Days`` in ``(1 + Days | g)``; only ``x:z`` in ``(x * z | g)``):

* ``(1 | g)``: the term is removed;
* ``(1 + x | g)``, ``(x + z | g)``, ``(0 + x + z | g)``: each candidate is
  removed from the left-hand side (``(1 | g)``, ``(z | g)``, ``(0 + z | g)``);
* ``(0 + x | g)``, ``(0 + f | g)`` (one candidate, no intercept): replaced by
  ``(1 | g)`` — for a factor f this is a submodel (equal effects for every
  level), for a numeric x it is not (lmerTest's table shows such a row all
  the same; lmmpy marks it "not nested"); when the model already has a
  ``(1 | g)`` term, as ``(x || g)`` does, the term is removed instead (R's
  formula would hold ``(1 | g)`` twice and keeps it once);
* ``reduce_terms=False``: every term is removed whole.

``(x || g)`` and ``(1 | a/b)`` are tested as the terms they expand to.
Removing a term, or a column of a term, sets entries of the relative
covariance factor to zero: dropping column c of a k-column term zeroes row c
and column c of its template T, which leaves the Cholesky factor of the
remaining (k − 1)×(k − 1) covariance.  So such a reduced model is the same
objective (same cross-products, same analysed sparse factor) optimized over
the θ's that remain — no refit from the data.  Replacing a term by ``(1 | g)``
refits the design with that term's model matrix replaced by a column of
ones.  The fits keep their criterion: REML fits are compared by the REML
likelihood (the fixed effects do not change), ML fits by the likelihood.

**The boundary mixture** (one rule, :func:`boundary_mixture`, also used by
``compare_pooling``).  The null value of a variance is on the boundary of the
parameter space, where the χ²_df reference is conservative (Self & Liang
1987).  Removing exactly one variance together with its k − 1 covariances
with the other columns of its term (``(1 | g)`` against nothing: k = 1;
``Days`` from ``(1 + Days | g)``: k = 2), the LRT is asymptotically the
50:50 mixture of χ²_{k−1} and χ²_k (Self & Liang 1987, case 5 for k = 1;
Stram & Lee 1994 for k > 1), df = k.  Removing several variances at once
(a whole vector-valued term, a factor's columns, several terms) or a rank
restriction (``(0 + f | g)`` to ``(1 | g)``) leads to a χ̄² mixture whose
weights have no simple form; it lies below χ²_df, so χ²_df is used and the
table says it is conservative.  Models that are not nested, or that have
the same number of parameters, get no p-value (NaN), as lmerTest's Df 0.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import scipy.stats as st

from lmmpy._conditioned import ConditionedObjective, fit_conditioned
from lmmpy._errors import InMemoryDataError
from lmmpy._fitted import is_fitted_model
from lmmpy._fitting import minimize_function, minimize_with_control
from lmmpy.design._fixed import INTERCEPT, _rename
from lmmpy.inference._table import InferenceTable

if TYPE_CHECKING:
    from lmmpy.design import RandomEffectsTerm
    from lmmpy.results import LinearMixedModel

REFIT_NOTE = "refitting model(s) with ML (instead of REML)"
LRT_COLUMNS = ["npar", "aic", "bic", "loglik", "deviance", "chisq", "df", "p_value"]
RANOVA_COLUMNS = ["npar", "loglik", "aic", "lrt", "df", "p_value", "p_value_mixture", "mixture"]


def refit_ml(model: LinearMixedModel) -> LinearMixedModel:
    """The same model fitted by maximum likelihood, from the REML θ̂ (lme4's ``refitML``),
    with the model's control (optimizer, tolerances).

    The design, cross-products and analysed sparse factor are reused.
    """

    if not model.reml:
        return model
    objective = model.objective.with_crossprods(model.objective.crossprods, reml=False)
    summary, solution = fit_conditioned(
        objective, model.conditioned_objective.with_reml(False), model.theta, em_start=True,
        minimize=functools.partial(minimize_with_control, control=model.control))
    return replace(model, objective=objective, optimization=summary, solution=solution,
                   reml=False)


def anova(*models: LinearMixedModel, refit: bool = True, names: Sequence[str] | None = None,
          **named: LinearMixedModel) -> pd.DataFrame:
    """Likelihood-ratio tests between nested models, as lme4's ``anova(m0, m1, ...)``.

    With a single model, the F tests of its fixed-effect terms instead
    (:func:`anova_table`, as lmerTest's ``anova(m)``).

    Parameters
    ----------
    *models : LinearMixedModel
        Each row is labelled by the model's formula (a formula given twice gets
        `` [2]``, `` [3]``, ... appended), or by ``names``.
    refit : bool, default True
        Refit REML fits by maximum likelihood first (REML likelihoods of models
        with different fixed effects are not comparable); the table's note says so.
    names : sequence of str, optional
        Row labels for ``models``, in the order given (R labels the rows by the
        names of the objects in the call, which Python cannot see).
    **named : LinearMixedModel
        Models labelled by their keyword.

    Returns
    -------
    DataFrame
        One row per model, sorted by the number of parameters: ``npar, aic, bic,
        loglik, deviance`` (−2 loglik) and, from the second row, the test
        against the row above: ``chisq`` = 2 Δloglik (at least 0), ``df`` =
        Δnpar, ``p_value`` = P(χ²_df > chisq).  ``attrs["note"]`` holds
        "refitting model(s) with ML (instead of REML)" when that was done.

    Raises
    ------
    ValueError
        When the models were fitted to different data (number of
        observations, response values or weights).

    Examples
    --------
    >>> import lmmpy
    >>> data = lmmpy.datasets.load("sleepstudy")
    >>> m0 = lmmpy.lmer("Reaction ~ Days + (1 | Subject)", data)
    >>> m1 = lmmpy.lmer("Reaction ~ Days + (Days | Subject)", data)
    >>> table = lmmpy.anova(m0, m1)
    >>> table.round(2)[["npar", "loglik", "chisq", "df"]].to_dict("list")
    {'npar': [4, 6], 'loglik': [-897.04, -875.97], 'chisq': [nan, 42.14], 'df': [nan, 2.0]}
    >>> list(table.index)
    ['Reaction ~ Days + (1 | Subject)', 'Reaction ~ Days + (Days | Subject)']
    >>> list(lmmpy.anova(m0, m1, names=["intercept", "slope"]).index)
    ['intercept', 'slope']
    >>> table.attrs["note"]
    'refitting model(s) with ML (instead of REML)'
    """
    if len(models) + len(named) == 1:
        from lmmpy.inference._anova import anova_table

        model = [*models, *named.values()][0]
        if _is_glmm(model):
            raise ValueError(
                "anova of a single GLMM has no F tests (there is no residual variance to "
                "divide by): compare nested fits, lmmpy.anova(m0, m1), test a coefficient "
                "with m.coefs() or m.confint(), or a random-effects term with m.ranova()")
        return anova_table(model)
    fits = _named_models(models, names, named)
    _check_same_data(fits)
    note = None
    if refit and any(getattr(m, "reml", False) for m in fits.values()):
        fits = {name: refit_ml(m) for name, m in fits.items()}
        note = REFIT_NOTE
    order = sorted(fits, key=lambda name: fits[name].n_params)
    table = InferenceTable(_lrt_rows([fits[name] for name in order]),
                           index=pd.Index(order, name="model"), columns=LRT_COLUMNS)
    data = {m.data_name for m in fits.values()} - {None}
    heading = [f"Data: {data.pop()}"] if len(data) == 1 else []
    if any(name != fits[name].formula for name in order):
        heading += ["Models:", *(f"{name}: {fits[name].formula}" for name in order)]
    if heading:
        table.attrs["heading"] = "\n".join(heading)
    if note:
        table.attrs["note"] = note
    return table


def _named_models(models, names, named) -> dict[str, LinearMixedModel]:
    for position, model in enumerate(models):
        if not is_fitted_model(model):
            raise TypeError(f"model {position + 1} is a {type(model).__name__}, not a fitted "
                            "LinearMixedModel or GeneralizedLinearMixedModel")
    fits = dict(zip(_row_labels(models, names), models, strict=True))
    for name, model in named.items():
        if name in fits:
            raise ValueError(f"model name {name!r} is used twice")
        if not is_fitted_model(model):
            raise TypeError(f"{name} is a {type(model).__name__}, not a fitted LinearMixedModel "
                            "or GeneralizedLinearMixedModel")
        fits[name] = model
    if len(fits) < 2:
        raise ValueError("compare at least two models")
    kinds = {_is_glmm(model) for model in fits.values()}   # a chunked fit is a linear one
    if len(kinds) > 1:
        raise TypeError("cannot compare a LinearMixedModel with a GeneralizedLinearMixedModel: "
                        "their likelihoods are of different responses")
    _check_same_family(fits)
    return fits


def _check_same_family(fits) -> None:
    families = {name: model.family for name, model in fits.items() if _is_glmm(model)}
    names = list(families)
    for name in names[1:]:
        if families[name] != families[names[0]]:
            raise ValueError(f"models have different families: {names[0]!r} is "
                             f"{families[names[0]]!r}, {name!r} is {families[name]!r}")


def _is_glmm(model) -> bool:
    return model.is_generalized


def _response_and_weights(model) -> tuple[np.ndarray, np.ndarray | None]:
    if _is_glmm(model):
        return model.system.response.y, model.system.response.weights
    return model.design.y, model.design.weights


def _row_labels(models, names) -> list[str]:
    """``names`` checked, or the formulas made unique (`` [2]`` for a formula's second fit)."""
    if names is None:
        labels, seen = [], {}
        for model in models:
            seen[model.formula] = seen.get(model.formula, 0) + 1
            count = seen[model.formula]
            labels.append(model.formula if count == 1 else f"{model.formula} [{count}]")
        return labels
    if isinstance(names, str) or not all(isinstance(name, str) for name in names):
        raise TypeError(f"names must be a sequence of strings, not {names!r}")
    if len(names) != len(models):
        raise ValueError(f"names has {len(names)} labels for {len(models)} models")
    if len(set(names)) != len(names):
        raise ValueError(f"names must be unique, not {list(names)}")
    return list(names)


def _check_same_data(fits: dict[str, LinearMixedModel]) -> None:
    names = list(fits)
    first = fits[names[0]]
    for name in names[1:]:
        other = fits[name]
        if other.nobs != first.nobs:
            raise ValueError(f"models were fitted to different data: {names[0]!r} has "
                             f"{first.nobs} observations, {name!r} has {other.nobs}")
        same_response, same_weights = _same_data(first, other)
        if not same_response:
            raise ValueError(f"models were fitted to different data: the responses of "
                             f"{names[0]!r} and {name!r} differ")
        if not same_weights:
            raise ValueError(f"models were fitted with different weights: {names[0]!r}, {name!r}")


def _same_data(first, other) -> tuple[bool, bool]:
    """Whether two fits have the same response, and the same prior weights."""
    if _is_glmm(first) or _is_glmm(other):
        (y0, w0), (y1, w1) = _response_and_weights(first), _response_and_weights(other)
        same_weights = (w0 is None) == (w1 is None) and (w0 is None or np.array_equal(w0, w1))
        return np.array_equal(y0, y1), same_weights
    w0, w1 = first.design.weights, other.design.weights
    same_weights = (w0 is None) == (w1 is None) and (
        w0 is None or _same_weights(first.design, other.design))
    return _same_response(first.design, other.design), same_weights


def _same_response(a, b) -> bool:
    """The same response: equal arrays, or for fits from chunks the same Σ(y − offset)
    (their rows are not held; a fit in memory and one from chunks are not compared)."""
    if a.in_memory and b.in_memory:
        return np.array_equal(a.y, b.y)
    if a.in_memory or b.in_memory:
        raise ValueError("compare models fitted the same way: one was fitted in memory and "
                         "one from chunks, whose rows cannot be compared")
    return a.response_sum == b.response_sum


def _same_weights(a, b) -> bool:
    return np.array_equal(a.weights, b.weights) if a.in_memory and b.in_memory else True


def _lrt_rows(models: list[LinearMixedModel]) -> list[list[float]]:
    rows, previous = [], None
    for m in models:
        chisq = df = p = np.nan
        if previous is not None:
            chisq = 2 * max(0.0, m.loglik - previous.loglik)
            df = m.n_params - previous.n_params
            p = float(st.chi2.sf(chisq, df)) if df > 0 else np.nan
        rows.append([m.n_params, m.aic, m.bic, m.loglik, -2 * m.loglik, chisq, df, p])
        previous = m
    return rows


# ---- the boundary mixture -------------------------------------------------------------


@dataclass(frozen=True)
class BoundaryMixture:
    """The reference distribution of a random-effects LRT (module docstring, the rule).

    ``label`` names it in a table; :meth:`p_value` is P(LRT ≥ statistic) under it.
    """

    label: str
    df: int
    mixed: bool        # the 50:50 mixture of χ²(df − 1) and χ²(df)
    defined: bool = True

    def p_value(self, statistic: float) -> float:
        if not self.defined or not np.isfinite(statistic):
            return np.nan
        statistic = max(float(statistic), 0.0)
        if not self.mixed:
            return _chi2_sf(statistic, self.df)
        return 0.5 * _chi2_sf(statistic, self.df - 1) + 0.5 * _chi2_sf(statistic, self.df)


def boundary_mixture(df: int, single_variance: bool, nested: bool = True) -> BoundaryMixture:
    """The reference distribution of an LRT removing ``df`` covariance parameters.

    Parameters
    ----------
    df : int
        The number of parameters removed.
    single_variance : bool
        True when they are one variance and its ``df − 1`` covariances with the
        other columns of its term (Stram & Lee 1994): then ½χ²(df − 1) + ½χ²(df).
    nested : bool, default True
        False when the reduced model is not a submodel: no p-value.

    Returns
    -------
    BoundaryMixture
        Otherwise χ²(df), labelled conservative (Self & Liang 1987).

    Examples
    --------
    >>> boundary_mixture(2, single_variance=True).label
    '0.5 chi2(1) + 0.5 chi2(2)'
    >>> round(boundary_mixture(1, True).p_value(3.84), 4)   # half the χ²(1) p-value
    0.025
    >>> boundary_mixture(3, single_variance=False).label
    'chi2(3), conservative (no simple mixture)'
    """
    if not nested:
        return BoundaryMixture("not applicable: models not nested", df, False, defined=False)
    if df <= 0:
        return BoundaryMixture("not applicable: no parameter removed", df, False, defined=False)
    if single_variance:
        return BoundaryMixture(f"0.5 chi2({df - 1}) + 0.5 chi2({df})", df, True)
    return BoundaryMixture(f"chi2({df}), conservative (no simple mixture)", df, False)


# ---- random-effects terms ------------------------------------------------------------


@dataclass(frozen=True)
class Reduction:
    """A random-effects reduction of the model.

    Attributes
    ----------
    name : the row name (``(1 | Subject)``, ``Days in (1 + Days | Subject)``)
    fixed : the θ's held at zero (all False for a refit)
    single_variance : one column (its variance and covariances) is removed
    intercept_term : index of the term replaced by ``(1 | g)`` (a refit), or None
    """

    name: str
    fixed: np.ndarray
    single_variance: bool
    intercept_term: int | None = None


def lhs_text(term: RandomEffectsTerm) -> str:
    """``1 + Days``, ``0 + Days``, ``1``: the term's left-hand side as fitted."""
    pieces = [_rename(str(s.term)) for s in term.model_matrix.spec.structure]
    if "1" not in pieces:
        pieces.insert(0, "0")
    return " + ".join(pieces)


def reductions(model: LinearMixedModel, reduce_terms: bool = True) -> list[Reduction]:
    """Every reduction :func:`ranova` tests, in the order of the terms (lmerTest's rules)."""
    out, start = [], 0
    terms = model.design.terms
    for index, term in enumerate(terms):
        label = f"({lhs_text(term)} | {term.group_name})"
        local = slice(start, start + term.n_theta)
        candidates = _candidates(term) if reduce_terms else []
        for piece, columns in candidates:
            out.append(_reduce(model, index, local, f"{piece} in {label}", columns))
        if not candidates:
            out.append(_removal(model, local, label, term.n_columns == 1))
        start += term.n_theta
    return _unique_names(out)


def _removal(model: LinearMixedModel, local: slice, label: str,
             single_variance: bool) -> Reduction:
    fixed = np.zeros(len(model.theta), dtype=bool)
    fixed[local] = True
    return Reduction(label, fixed, single_variance)


def _reduce(model: LinearMixedModel, index: int, local: slice, name: str,
            columns: list[int]) -> Reduction:
    """Remove ``columns`` from term ``index``; with nothing but no intercept left, lmerTest's
    ``(1 | g)`` (a removal when the model has that term already)."""
    term = model.design.terms[index]
    remaining = [j for j in range(term.n_columns) if j not in columns]
    if remaining or "(Intercept)" in term.columns:
        rows, cols = term.theta_rows, term.theta_cols
        fixed = np.zeros(len(model.theta), dtype=bool)
        fixed[local] = np.isin(rows, columns) | np.isin(cols, columns)
        return Reduction(name, fixed, len(columns) == 1)
    if any(other.group_columns == term.group_columns and other.columns == ("(Intercept)",)
           for other in model.design.terms):
        return _removal(model, local, name, term.n_columns == 1)
    return Reduction(name, np.zeros(len(model.theta), dtype=bool), False, intercept_term=index)


def _candidates(term: RandomEffectsTerm) -> list[tuple[str, list[int]]]:
    """Formula terms of the left-hand side (the intercept aside) that no other one contains,
    with their columns (R's ``drop.scope``); none for ``(1 | g)``."""
    position = {name: j for j, name in enumerate(term.model_matrix.names)}
    structure = [s for s in term.model_matrix.spec.structure if str(s.term) != "1"]
    factor_sets = [frozenset(f.expr for f in s.term.factors) for s in structure]
    out = []
    for s, factors in zip(structure, factor_sets, strict=True):
        if any(factors < other for other in factor_sets):
            continue
        columns = [position[term.model_matrix.renames[c]] for c in s.columns
                   if term.model_matrix.renames.get(c) in position]
        out.append((_rename(str(s.term)), columns))
    return out


def _unique_names(items: list[Reduction]) -> list[Reduction]:
    seen: dict[str, int] = {}
    out = []
    for item in items:
        count = seen.get(item.name, 0)
        seen[item.name] = count + 1
        name = item.name if count == 0 else f"{item.name}.{count}"
        out.append(replace(item, name=name))
    return out


def restricted_deviance(model: LinearMixedModel, fixed: np.ndarray) -> float:
    """The model's criterion minimized with the θ's in ``fixed`` held at zero."""
    objective = model.objective.with_crossprods(model.objective.crossprods)
    free = ~fixed
    theta = np.where(fixed, 0.0, model.theta)
    if not free.any():
        return float(objective(theta))

    def restricted(values: np.ndarray) -> float:
        full = theta.copy()
        full[free] = values
        return objective(full)

    lower = model.design.theta_lower_bounds()[free]
    return float(minimize_function(restricted, theta[free], lower, model.control).objective)


def intercept_refit(model: LinearMixedModel, index: int) -> tuple[float, int]:
    """(criterion, number of θ's) of the model with term ``index`` replaced by ``(1 | g)``."""
    from lmmpy.design._fixed import ModelMatrix
    from lmmpy.objective import ProfiledDeviance, cross_products

    design = model.design
    term = design.terms[index]
    if not design.in_memory:
        return _intercept_refit_from_products(model, index)
    # spec_source serves predictions on new data only; this design is never predicted from
    ones = ModelMatrix(np.ones((design.n_obs, 1)), ("(Intercept)",), None, (0,),
                       {"Intercept": "(Intercept)"})
    terms = tuple(replace(term, model_matrix=ones) if j == index else other
                  for j, other in enumerate(design.terms))
    reduced = replace(design, terms=terms)
    objective = ProfiledDeviance(cross_products(reduced), terms, reml=model.reml,
                                 _path=model.control.path)
    return _reduced_fit(model, reduced, objective)


def _reduced_fit(model: LinearMixedModel, reduced, objective) -> tuple[float, int]:
    """(criterion, number of θ's) of a reduced model fitted with the model's control."""
    summary = fit_conditioned(
        objective, ConditionedObjective.of(reduced, objective),
        minimize=functools.partial(minimize_with_control, control=model.control))[0]
    return float(summary.objective), len(summary.theta)


def _intercept_refit_from_products(model: LinearMixedModel, index: int) -> tuple[float, int]:
    """:func:`intercept_refit` without rows: ``(1 | g)``'s Z is the intercept column of
    each level of the term's Z, so its products are a selection of the model's."""
    from lmmpy.objective import ProfiledDeviance

    design = model.design
    term = design.terms[index]
    if INTERCEPT not in term.columns:
        raise InMemoryDataError.about(f"reducing ({lhs_text(term)} | {term.group_name}) to "
                                      f"(1 | {term.group_name}) without an intercept column")
    starts = np.cumsum([0] + [t.n_random_effects for t in design.terms])
    keep = np.concatenate([
        np.arange(starts[j], starts[j + 1]) if j != index
        else starts[j] + term.n_columns * np.arange(term.n_levels) + term.columns.index(INTERCEPT)
        for j in range(len(design.terms))])
    cp = model.objective.crossprods
    product = cp.ZtZ_matrix[keep][:, keep]
    if hasattr(product, "sort_indices"):
        product = product.tocsc()
        product.sort_indices()
    ones = replace(term.model_matrix, names=(INTERCEPT,), kept=(0,))
    terms = tuple(replace(term, model_matrix=ones) if j == index else other
                  for j, other in enumerate(design.terms))
    reduced = replace(design, terms=terms,
                      moments=tuple(m if j != index else (np.ones(1), np.zeros(1))
                                    for j, m in enumerate(design.moments)))
    crossprods = replace(cp, ZtXy=cp.ZtXy[keep], ZtZ_product=product)
    objective = ProfiledDeviance(crossprods, terms, reml=model.reml, _path=model.control.path)
    return _reduced_fit(model, reduced, objective)


def ranova(model: LinearMixedModel, reduce_terms: bool = True) -> pd.DataFrame:
    """Likelihood-ratio tests reducing each random-effects term (lmerTest's ``ranova``).

    Parameters
    ----------
    model : LinearMixedModel
    reduce_terms : bool, default True
        Reduce each term as lmerTest does (module docstring): ``(x | g)`` to
        ``(1 | g)``, ``(0 + f | g)`` to ``(1 | g)``, ``(1 | g)`` removed.  False
        removes every term whole (lmerTest's ``reduce.terms = FALSE``).

    Returns
    -------
    DataFrame
        Indexed by ``<none>`` (the model itself) and each reduction:
        ``(1 | Subject)`` removes a term, ``Days in (1 + Days | Subject)``
        removes ``Days`` from it.  Columns ``npar, loglik, aic`` of each fit and,
        for the reductions, ``lrt`` (twice the loss of log-likelihood), ``df``,
        ``p_value`` (χ²_df, NaN when df is 0), ``p_value_mixture`` (the p-value
        under the boundary rule of :func:`boundary_mixture`) and ``mixture``
        (which reference that is).  REML fits are compared by REML likelihoods.

    Examples
    --------
    >>> import lmmpy
    >>> m = lmmpy.lmer("Reaction ~ Days + (Days | Subject)", lmmpy.datasets.load("sleepstudy"))
    >>> table = lmmpy.inference.ranova(m)
    >>> row = table.loc["Days in (1 + Days | Subject)"]
    >>> round(float(row["lrt"]), 2), int(row["df"]), row["mixture"]
    (42.84, 2, '0.5 chi2(1) + 0.5 chi2(2)')
    >>> whole = lmmpy.inference.ranova(m, reduce_terms=False).iloc[1]
    >>> whole.name, round(float(whole["lrt"]), 2), int(whole["df"])
    ('(1 + Days | Subject)', 150.04, 3)
    """
    _check_reduce_terms(reduce_terms)
    return _ranova_table(model, reductions(model, reduce_terms))


def _check_reduce_terms(reduce_terms) -> None:
    if not isinstance(reduce_terms, bool | np.bool_):
        raise TypeError(f"reduce_terms must be True or False, not {reduce_terms!r}")


def _ranova_table(model: LinearMixedModel, which: list[Reduction]) -> pd.DataFrame:
    full = model.deviance_value if _is_glmm(model) else model.solution.deviance
    rows = [[model.n_params, -full / 2, full + 2 * model.n_params, *[np.nan] * 4, ""]]
    for reduction in which:
        rows.append(_reduction_row(model, reduction, full))
    table = InferenceTable(rows, index=pd.Index(["<none>", *(r.name for r in which)],
                                                name="term"), columns=RANOVA_COLUMNS)
    criterion = _criterion_name(model)
    table.attrs["heading"] = ("ANOVA-like table for random-effects: single term deletions\n"
                              f"Model: {model.formula}")
    table.attrs["note"] = (f"Likelihoods are {criterion}. p_value: χ²(df); p_value_mixture: "
                           "under the boundary reference named in 'mixture' (50:50 χ² "
                           "mixture for one variance; else χ²(df), conservative).")
    return table


def _criterion_name(model) -> str:
    if not _is_glmm(model):
        return "REML" if model.reml else "ML"
    return "ML (Laplace)" if model.nagq <= 1 else f"ML (adaptive Gauss-Hermite, nAGQ={model.nagq})"


def _reduction_row(model: LinearMixedModel, reduction: Reduction, full: float) -> list:
    if reduction.intercept_term is None:
        reduced = model._restricted_criterion(reduction.fixed)
        df = int(reduction.fixed.sum())
        nested = True
    else:
        reduced, n_theta = model._intercept_reduced_criterion(reduction.intercept_term)
        df = len(model.theta) - n_theta
        nested = _intercept_in_span(model.design.terms[reduction.intercept_term])
    npar = model.n_params - df
    lrt = reduced - full
    mixture = boundary_mixture(df, reduction.single_variance, nested)
    p_value = _chi2_sf(max(lrt, 0.0), df) if df > 0 else np.nan
    return [npar, -reduced / 2, reduced + 2 * npar, lrt, df, p_value,
            mixture.p_value(lrt), mixture.label]


def _intercept_in_span(term: RandomEffectsTerm) -> bool:
    """Whether a column of ones is a combination of the term's columns (then ``(1 | g)`` is a
    submodel: equal effects, as for the dummies of a factor)."""
    if INTERCEPT in term.columns:
        return True
    values = term.model_matrix.values
    coefficients = np.linalg.lstsq(values, np.ones(len(values)), rcond=None)[0]
    return bool(np.allclose(values @ coefficients, 1.0, rtol=0, atol=1e-8))


def _chi2_sf(x: float, df: int) -> float:
    """P(χ²_df > x), with χ²₀ the point mass at zero."""
    if df == 0:
        return 1.0 if x <= 0 else 0.0
    return float(st.chi2.sf(x, df))


def test_random_effect(model: LinearMixedModel, term: str,
                       reduce_terms: bool = True) -> pd.DataFrame:
    """The likelihood-ratio test of one random-effects reduction (one row of :func:`ranova`).

    Parameters
    ----------
    model : LinearMixedModel
    term : str
        A row name of ``ranova(model, reduce_terms)``: ``"(1 | Subject)"`` or
        ``"Days in (1 + Days | Subject)"``.
    reduce_terms : bool, default True
        As in :func:`ranova`.

    Returns
    -------
    DataFrame
        The rows ``<none>`` and ``term`` of :func:`ranova`.

    Raises
    ------
    ValueError
        When the model has no such term (the message lists the names).

    Examples
    --------
    >>> import lmmpy
    >>> data = lmmpy.datasets.load("sleepstudy")
    >>> m = lmmpy.lmer("Reaction ~ Days + (Days | Subject)", data, reml=False)
    >>> row = lmmpy.test_random_effect(m, "Days in (1 + Days | Subject)").iloc[1]
    >>> round(float(row["lrt"]), 3), f"{row['p_value_mixture']:.3g}"
    (42.139, '3.96e-10')
    """
    _check_reduce_terms(reduce_terms)
    available = reductions(model, reduce_terms)
    chosen = [r for r in available if r.name == term]
    if not chosen:
        names = ", ".join(repr(r.name) for r in available)
        raise ValueError(f"no random-effects term {term!r} in the model; choose one of {names}")
    return _ranova_table(model, chosen)
