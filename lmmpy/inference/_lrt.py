"""Likelihood-ratio tests: nested fits (lme4's ``anova(m0, m1)``) and random-effects terms.

For nested models with log-likelihoods ℓ₀ ≤ ℓ₁ and parameter counts k₀ < k₁,
LRT = 2(ℓ₁ − ℓ₀) is referred to χ²(k₁ − k₀).  REML likelihoods of models with
different fixed effects are not comparable, so REML fits are first refitted by
ML, as lme4 does (the table says so in its note).

**Random-effects terms** (lmerTest's ``ranova``; Kuznetsova et al. 2017).
Removing a term, or a column of a term, sets entries of the relative
covariance factor to zero: dropping column c of a k-column term zeroes row c
and column c of its template T, which leaves the Cholesky factor of the
remaining (k − 1)×(k − 1) covariance.  So the reduced model is the same
objective (same cross-products, same analysed sparse factor) optimized over
the θ's that remain — no refit from the data.  The fits keep their criterion:
REML fits are compared by the REML likelihood (the fixed effects do not
change), ML fits by the likelihood.

For each term, lmmpy tests

* a one-column term ``(1 | g)``, ``(0 + x | g)``: dropping the whole term;
* a term with several columns: dropping each formula term of its left-hand
  side that no other one contains (``Days`` in ``(1 + Days | g)``, leaving
  ``(1 | g)``); when that leaves no column (``(0 + f | g)``) the whole term.

(lmerTest instead replaces ``(0 + x | g)`` by ``(1 | g)``.)

The null value of a variance is on the boundary of the parameter space, where
the χ² reference is conservative.  Removing one variance: the LRT is a 50:50
mixture of χ²₀ and χ²₁ (Self & Liang 1987, case 5); removing one of k
correlated components (a variance and its k − 1 covariances): a 50:50 mixture
of χ²_{k−1} and χ²_k (Stram & Lee 1994).  Both p-values are reported, with the
mixture used; removing more than one column has no such simple mixture
(``p_value_mixture`` is NaN).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import scipy.stats as st

from lmmpy.design._fixed import _rename
from lmmpy.inference._table import InferenceTable
from lmmpy.optimize import minimize_deviance, optimize_theta

if TYPE_CHECKING:
    from lmmpy.design import RandomEffectsTerm
    from lmmpy.results import LinearMixedModel

REFIT_NOTE = "refitting model(s) with ML (instead of REML)"
LRT_COLUMNS = ["npar", "aic", "bic", "loglik", "deviance", "chisq", "df", "p_value"]
RANOVA_COLUMNS = ["npar", "loglik", "aic", "lrt", "df", "p_value", "p_value_mixture", "mixture"]


def refit_ml(model: LinearMixedModel) -> LinearMixedModel:
    """The same model fitted by maximum likelihood, from the REML θ̂ (lme4's ``refitML``).

    The design, cross-products and analysed sparse factor are reused.
    """
    from lmmpy.results import LinearMixedModel

    if not model.reml:
        return model
    objective = model.objective.with_crossprods(model.objective.crossprods, reml=False)
    summary = minimize_deviance(objective, model.theta, model.design.theta_lower_bounds())
    return LinearMixedModel(model.design, objective, summary, objective.solve(summary.theta),
                            reml=False, data_name=model.data_name)


def anova(*models: LinearMixedModel, refit: bool = True,
          **named: LinearMixedModel) -> pd.DataFrame:
    """Likelihood-ratio tests between nested models, as lme4's ``anova(m0, m1, ...)``.

    With a single model, the F tests of its fixed-effect terms instead
    (:func:`anova_table`, as lmerTest's ``anova(m)``).

    Parameters
    ----------
    *models : LinearMixedModel
        Named ``m0``, ``m1``, ... in the order given.
    refit : bool, default True
        Refit REML fits by maximum likelihood first (REML likelihoods of models
        with different fixed effects are not comparable); the table's note says so.
    **named : LinearMixedModel
        Models named by their keyword.

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
    >>> table.attrs["note"]
    'refitting model(s) with ML (instead of REML)'
    """
    if len(models) + len(named) == 1:
        from lmmpy.inference._anova import anova_table

        return anova_table([*models, *named.values()][0])
    fits = _named_models(models, named)
    _check_same_data(fits)
    note = None
    if refit and any(m.reml for m in fits.values()):
        fits = {name: refit_ml(m) for name, m in fits.items()}
        note = REFIT_NOTE
    order = sorted(fits, key=lambda name: fits[name].n_params)
    table = InferenceTable(_lrt_rows([fits[name] for name in order]),
                           index=pd.Index(order, name="model"), columns=LRT_COLUMNS)
    data = {m.data_name for m in fits.values()} - {None}
    heading = [f"Data: {data.pop()}"] if len(data) == 1 else []
    heading += ["Models:", *(f"{name}: {fits[name].formula}" for name in order)]
    table.attrs["heading"] = "\n".join(heading)
    if note:
        table.attrs["note"] = note
    return table


def _named_models(models, named) -> dict[str, LinearMixedModel]:
    from lmmpy.results import LinearMixedModel

    fits = {f"m{i}": m for i, m in enumerate(models)}
    for name, model in named.items():
        if name in fits:
            raise ValueError(f"model name {name!r} is used twice")
        fits[name] = model
    for name, model in fits.items():
        if not isinstance(model, LinearMixedModel):
            raise TypeError(f"{name} is a {type(model).__name__}, not a fitted LinearMixedModel")
    if len(fits) < 2:
        raise ValueError("compare at least two models")
    return fits


def _check_same_data(fits: dict[str, LinearMixedModel]) -> None:
    names = list(fits)
    first = fits[names[0]]
    for name in names[1:]:
        other = fits[name]
        if other.nobs != first.nobs:
            raise ValueError(f"models were fitted to different data: {names[0]} has "
                             f"{first.nobs} observations, {name} has {other.nobs}")
        if not np.array_equal(other.design.y, first.design.y):
            raise ValueError(f"models were fitted to different data: the responses of "
                             f"{names[0]} and {name} differ")
        w0, w1 = first.design.weights, other.design.weights
        if (w0 is None) != (w1 is None) or (w0 is not None and not np.array_equal(w0, w1)):
            raise ValueError(f"models were fitted with different weights: {names[0]}, {name}")


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


# ---- random-effects terms ------------------------------------------------------------


@dataclass(frozen=True)
class Reduction:
    """A random-effects reduction: its name, the θ's it fixes at zero, columns removed."""

    name: str
    fixed: np.ndarray
    n_columns_removed: int


def lhs_text(term: RandomEffectsTerm) -> str:
    """``1 + Days``, ``0 + Days``, ``1``: the term's left-hand side as fitted."""
    pieces = [_rename(str(s.term)) for s in term.model_matrix.spec.structure]
    if "1" not in pieces:
        pieces.insert(0, "0")
    return " + ".join(pieces)


def reductions(model: LinearMixedModel) -> list[Reduction]:
    """Every reduction :func:`ranova` tests, in the order of the terms."""
    out, start = [], 0
    for term in model.design.terms:
        label = f"({lhs_text(term)} | {term.group_name})"
        for piece, columns in _droppable(term):
            rows, cols = term.theta_rows, term.theta_cols
            local = np.isin(rows, columns) | np.isin(cols, columns)
            fixed = np.zeros(len(model.theta), dtype=bool)
            fixed[start:start + term.n_theta] = local
            whole = len(columns) == term.n_columns
            out.append(Reduction(label if whole else f"{piece} in {label}", fixed, len(columns)))
        start += term.n_theta
    return _unique_names(out)


def _droppable(term: RandomEffectsTerm) -> list[tuple[str, list[int]]]:
    """Formula terms of the left-hand side not contained in another, with their columns."""
    position = {name: j for j, name in enumerate(term.model_matrix.names)}
    structure = [s for s in term.model_matrix.spec.structure if str(s.term) != "1"]
    if term.n_columns == 1 or not structure:
        return [("", list(range(term.n_columns)))]
    factor_sets = [frozenset(f.expr for f in s.term.factors) for s in structure]
    out = []
    for s, factors in zip(structure, factor_sets, strict=True):
        if any(factors < other for other in factor_sets):
            continue
        columns = [position[term.model_matrix.renames[c]] for c in s.columns]
        out.append((_rename(str(s.term)), columns))
    return out


def _unique_names(items: list[Reduction]) -> list[Reduction]:
    seen: dict[str, int] = {}
    out = []
    for item in items:
        count = seen.get(item.name, 0)
        seen[item.name] = count + 1
        name = item.name if count == 0 else f"{item.name}.{count}"
        out.append(Reduction(name, item.fixed, item.n_columns_removed))
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
    return float(optimize_theta(restricted, theta[free], lower).objective)


def ranova(model: LinearMixedModel) -> pd.DataFrame:
    """Likelihood-ratio tests for dropping each random-effects term (lmerTest's ``ranova``).

    Parameters
    ----------
    model : LinearMixedModel

    Returns
    -------
    DataFrame
        Indexed by ``<none>`` (the model itself) and each reduction:
        ``(1 | Subject)`` drops a term, ``Days in (1 + Days | Subject)`` drops
        the column ``Days`` of a term.  Columns ``npar, loglik, aic`` of each
        fit and, for the reductions, ``lrt`` (twice the loss of log-likelihood),
        ``df``, ``p_value`` (χ²_df), ``p_value_mixture`` (the boundary-corrected
        50:50 mixture, NaN when more than one column is dropped) and
        ``mixture`` (which one).  REML fits are compared by REML likelihoods.

    Examples
    --------
    >>> import lmmpy
    >>> m = lmmpy.lmer("Reaction ~ Days + (Days | Subject)", lmmpy.datasets.load("sleepstudy"))
    >>> table = lmmpy.inference.ranova(m)
    >>> row = table.loc["Days in (1 + Days | Subject)"]
    >>> round(float(row["lrt"]), 2), int(row["df"]), row["mixture"]
    (42.84, 2, '0.5 chi2(1) + 0.5 chi2(2)')
    """
    return _ranova_table(model, reductions(model))


def _ranova_table(model: LinearMixedModel, which: list[Reduction]) -> pd.DataFrame:
    full = model.solution.deviance
    rows = [[model.n_params, -full / 2, full + 2 * model.n_params, *[np.nan] * 4, ""]]
    for reduction in which:
        rows.append(_reduction_row(model, reduction, full))
    table = InferenceTable(rows, index=pd.Index(["<none>", *(r.name for r in which)],
                                                name="term"), columns=RANOVA_COLUMNS)
    criterion = "REML" if model.reml else "ML"
    table.attrs["heading"] = ("ANOVA-like table for random-effects: single term deletions\n"
                              f"Model: {model.formula}")
    table.attrs["note"] = (f"Likelihoods are {criterion}. p_value: χ²(df); p_value_mixture: "
                           "the boundary-corrected 50:50 χ² mixture named in 'mixture'.")
    return table


def _reduction_row(model: LinearMixedModel, reduction: Reduction, full: float) -> list:
    reduced = restricted_deviance(model, reduction.fixed)
    df = int(reduction.fixed.sum())
    npar = model.n_params - df
    lrt = reduced - full
    statistic = max(lrt, 0.0)
    mixture, p_mixture = "", np.nan
    if reduction.n_columns_removed == 1:
        mixture = f"0.5 chi2({df - 1}) + 0.5 chi2({df})"
        p_mixture = 0.5 * _chi2_sf(statistic, df - 1) + 0.5 * _chi2_sf(statistic, df)
    return [npar, -reduced / 2, reduced + 2 * npar, lrt, df, _chi2_sf(statistic, df),
            p_mixture, mixture]


def _chi2_sf(x: float, df: int) -> float:
    """P(χ²_df > x), with χ²₀ the point mass at zero."""
    if df == 0:
        return 1.0 if x <= 0 else 0.0
    return float(st.chi2.sf(x, df))


def test_random_effect(model: LinearMixedModel, term: str) -> pd.DataFrame:
    """The likelihood-ratio test of one random-effects reduction (one row of :func:`ranova`).

    Parameters
    ----------
    model : LinearMixedModel
    term : str
        A row name of ``ranova(model)``: ``"(1 | Subject)"`` or
        ``"Days in (1 + Days | Subject)"``.

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
    available = reductions(model)
    chosen = [r for r in available if r.name == term]
    if not chosen:
        names = ", ".join(repr(r.name) for r in available)
        raise ValueError(f"no random-effects term {term!r} in the model; choose one of {names}")
    return _ranova_table(model, chosen)
