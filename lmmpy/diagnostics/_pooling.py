"""Complete, no and partial pooling side by side, and the tests that decide between them.

Three models for grouped data (Gelman & Hill 2007, *Data Analysis Using
Regression and Multilevel/Hierarchical Models*, ch. 12):

* complete pooling — OLS of y on X, the groups ignored: all groups identical;
* no pooling — OLS of y on X plus group dummies for every random intercept
  and group-specific slopes for every random slope (``_nopooling``): groups
  unrelated, each its own estimate;
* partial pooling — the mixed model: groups a sample from a population.

The OLS fits use y − offset and the prior weights of the mixed model.
Coefficient standard errors use s² = RSS/(n − r) (OLS) and the model as fitted
(REML or ML); log-likelihoods, AIC and BIC are all ML (OLS: σ̂² = RSS/n; the
mixed model refitted with ML when it was fitted by REML), so they compare.

Tests
-----
* F test of the group dummies: F = ((RSS_c − RSS_n)/(r_n − r_c)) / (RSS_n/(n − r_n)),
  F(r_n − r_c, n − r_n) — are the groups identical?
* LRT of the random effects, partial vs complete pooling: 2(ℓ_mixed − ℓ_OLS),
  df = length of θ, with the boundary rule ``ranova`` uses
  (:func:`lmmpy.inference.boundary_mixture`): ½χ²(0) + ½χ²(1) for a single
  variance component, else χ²(df), conservative.
* Hausman test (``_hausman``) on the individual-level coefficients estimated
  by both: the X columns that are neither absorbed by the dummies nor given
  group-specific slopes, the intercept excluded.  A coefficient with a random
  slope is left out: its no-pooling estimate is the mean of the groups' own
  slopes, whose OLS variance ignores the slopes' spread between groups.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from lmmpy._progress import progress_bar
from lmmpy.diagnostics._hausman import HausmanTest, hausman_test
from lmmpy.diagnostics._nopooling import NoPoolingDesign, no_pooling_design
from lmmpy.diagnostics._ols import OLSFit, ols
from lmmpy.diagnostics._report import (
    PoolingTests,
    comparison_notes,
    format_html,
    format_text,
    write_verdict,
)
from lmmpy.diagnostics._shrinkage import group_estimates
from lmmpy.inference import boundary_mixture, refit_ml

# what the progress bar counts: the two OLS fits, the ML refit, the tests, the group estimates
_STAGES = ("complete", "none", "ml", "tests", "groups")

POOLINGS = ("complete", "none", "partial")
TEST_NAMES = (
    "F test of group dummies (none vs complete)",
    "LRT of random effects (partial vs complete)",
    "Hausman (fixed vs random effects)",
)


@dataclass(frozen=True, eq=False, repr=False)
class PoolingComparison:
    """Complete, no and partial pooling compared; make one with :func:`compare_pooling`.

    Attributes
    ----------
    coefficients : DataFrame
        Fixed-effects coefficients (rows) under ``complete``, ``none``, ``partial``
        pooling (columns).  Under no pooling a coefficient that also has
        group-specific values is their unweighted mean; one absorbed by the
        dummies (a group-level predictor) is NaN (see ``notes``).
    std_errors : DataFrame
        Their standard errors, the same shape.
    summary_table : DataFrame
        Rows ``complete, none, partial``; columns ``n_params`` (σ counted),
        ``loglik``, ``aic``, ``bic`` — all maximum likelihood.
    group_estimates : DataFrame or dict of DataFrame
        One row per level of the grouping factor; columns ``size`` and, for
        each term column, ``("none", c)``, ``("partial", c)``,
        ``("shrinkage", c)``, ``("reliability", c)``.  A dict keyed by grouping
        factor when the model has several.
    tests : DataFrame
        Rows: the F test of the group dummies, the LRT of the random effects,
        the Hausman test; columns ``statistic, df, p_value`` (``df``: numerator
        df for F; its denominator df is in ``notes``).
    verdict : str
        A paragraph for a report.
    notes : tuple of str
        How each number was obtained, where that needs saying.
    """

    coefficients: pd.DataFrame
    std_errors: pd.DataFrame
    summary_table: pd.DataFrame
    group_estimates: pd.DataFrame | dict[str, pd.DataFrame]
    tests: pd.DataFrame
    verdict: str
    notes: tuple[str, ...] = ()
    title: str = ("Pooling comparison: complete (OLS), none (group dummies), partial "
                  "(mixed model)")

    def __str__(self) -> str:
        return format_text(self)

    __repr__ = __str__

    def _repr_html_(self) -> str:
        return format_html(self)


def compare_pooling(formula: str, data: pd.DataFrame, *, reml: bool = True,
                    weights=None, offset=None, group: str | None = None,
                    alpha: float = 0.05, family=None, link: str | None = None,
                    progress: bool | None = None) -> PoolingComparison:
    """Fit complete, no and partial pooling for ``formula`` and compare them.

    Parameters
    ----------
    formula : str
        An lme4-style mixed-model formula with at least one random-effects term.
    data : pandas.DataFrame
    reml : bool, default True
        Fit the mixed model by REML (its estimates and standard errors are
        reported) — the likelihood comparison always uses an ML fit.
    weights, offset : str or array-like, optional
        As in :func:`lmmpy.lmer`; used by all three fits.
    group : str, optional
        Report ``group_estimates`` for this grouping factor only (a DataFrame).
    alpha : float, default 0.05
        Significance level used in the verdict.
    family, link : optional
        A GLM family (``"binomial"``, ``"poisson"``, ...) and link, as in
        :func:`lmmpy.glmer`: then GLM, GLM with group dummies and GLMM are
        compared (``reml`` does not apply).
    progress : bool, optional
        A progress bar over the stages (the fits, the tests, the group estimates;
        tqdm's when installed); default: when someone watches (a terminal or a notebook).

    Returns
    -------
    PoolingComparison

    Examples
    --------
    >>> import lmmpy
    >>> cmp = lmmpy.compare_pooling("y ~ x + (1 | g)", lmmpy.datasets.load("simpson"))
    >>> cmp.coefficients.loc["x"].round(2).to_dict()
    {'complete': 1.42, 'none': -0.94, 'partial': -0.9}
    """
    import lmmpy  # the public fitting functions (the package's facade, loaded already)
    from lmmpy.formula import parse_formula

    _check_alpha(alpha)
    if not parse_formula(formula).random:
        raise ValueError(
            f"formula {formula!r} has no random-effects term such as (1 | group): "
            "compare_pooling compares pooling over the groups of a mixed model"
        )
    if family is not None:
        model = lmmpy.glmer(formula, data, family, link=link, weights=weights, offset=offset)
    else:
        model = lmmpy.lmer(formula, data, reml=reml, weights=weights, offset=offset)
    return pooling_comparison(model, group=group, alpha=alpha, progress=progress)


def pooling_comparison(model, group: str | None = None, alpha: float = 0.05,
                       progress: bool | None = None) -> PoolingComparison:
    """The comparison for a fitted model (``LinearMixedModel.compare_pooling``; for a
    GLMM, GLMs in place of least squares: :mod:`lmmpy.diagnostics._glmm_pooling`)."""
    _check_alpha(alpha)
    _check_group(model, group)
    if model.is_generalized:
        from lmmpy.diagnostics._glmm_pooling import glmm_pooling_parts

        return PoolingComparison(**glmm_pooling_parts(model, group, alpha))
    bar = progress_bar(len(_STAGES), "compare_pooling", progress)
    try:
        return _comparison(model, group, alpha, bar)
    finally:
        bar.close()


def _comparison(model, group: str | None, alpha: float, bar) -> PoolingComparison:
    design = model.design
    y = design.y - design.offset
    complete = ols(design.X.values, y, design.weights)
    bar.update(1)
    npd = no_pooling_design(design)
    none = ols(npd.matrix, y, design.weights)
    bar.update(2)
    ml_model = refit_ml(model)  # lme4's refitML, from the REML θ̂
    bar.update(3)
    coefficients, std_errors = _coefficient_tables(model, complete, none, npd)
    hausman, compared = _hausman(model, none, npd)
    tests = PoolingTests(
        f=_f_test(complete, none),
        lrt=_random_effects_lrt(model, complete, ml_model),
        hausman=hausman,
        hausman_names=tuple(compared),
        f_df_denominator=none.df_resid,
    )
    bar.update(4)
    tables = group_estimates(model, npd, none)
    bar.update(5)
    return PoolingComparison(
        coefficients=coefficients,
        std_errors=std_errors,
        summary_table=_summary_table(complete, none, ml_model),
        group_estimates=tables[group] if group else (
            next(iter(tables.values())) if len(tables) == 1 else tables),
        tests=_tests_table(tests),
        verdict=write_verdict(tests, alpha),
        notes=comparison_notes(model, npd, tests),
    )


def _check_alpha(alpha: float) -> None:
    if not isinstance(alpha, int | float) or not 0 < alpha < 1:
        raise ValueError(f"alpha must be a number between 0 and 1, not {alpha!r}")


def _check_group(model, group: str | None) -> None:
    names = list(dict.fromkeys(term.group_name for term in model.design.terms))
    if group is not None and group not in names:
        raise ValueError(
            f"grouping factor {group!r} is not in the model; its grouping factors are: "
            f"{', '.join(names)}"
        )


def _coefficient_tables(model, complete: OLSFit, none: OLSFit, npd: NoPoolingDesign
                        ) -> tuple[pd.DataFrame, pd.DataFrame]:
    names = list(model.design.beta_names)
    none_estimate, none_se = np.full(len(names), np.nan), np.full(len(names), np.nan)
    for i, name in enumerate(names):
        position = npd.fixed_position.get(name)
        if position is None or name in npd.spoiled:
            continue
        if none.estimable(np.eye(len(none.coef))[position])[0]:
            none_estimate[i] = none.coef[position]
            none_se[i] = np.sqrt(none.cov[position, position])
    estimates = pd.DataFrame({"complete": complete.coef, "none": none_estimate,
                              "partial": model.fixef.to_numpy()}, index=names)
    errors = pd.DataFrame({"complete": np.sqrt(np.diag(complete.cov)), "none": none_se,
                           "partial": model.fixef_se.to_numpy()}, index=names)
    return estimates, errors


def _summary_table(complete: OLSFit, none: OLSFit, ml_model) -> pd.DataFrame:
    rows = [(fit.n_params, fit.loglik, fit.aic, fit.bic) for fit in (complete, none)]
    rows.append((ml_model.n_params, ml_model.loglik, ml_model.aic, ml_model.bic))
    table = pd.DataFrame(rows, index=list(POOLINGS), columns=["n_params", "loglik", "aic", "bic"])
    return table.astype({"n_params": int})


def _f_test(complete: OLSFit, none: OLSFit) -> tuple[float, int, float]:
    from scipy import stats

    df1, df2 = none.rank - complete.rank, none.df_resid
    if df1 <= 0 or df2 <= 0 or none.rss <= 0:
        return np.nan, df1, np.nan
    statistic = ((complete.rss - none.rss) / df1) / (none.rss / df2)
    return float(statistic), df1, float(stats.f.sf(statistic, df1, df2))


def _random_effects_lrt(model, complete: OLSFit, ml_model) -> tuple[float, int, float]:
    """(LR, df, p) of partial against complete pooling: every θ removed, so the 50:50
    mixture applies only when that is one variance (one term of one column)."""
    statistic = 2.0 * (ml_model.loglik - complete.loglik)
    df = len(model.theta)
    single = sum(term.n_columns for term in model.design.terms) == 1
    return float(statistic), df, boundary_mixture(df, single_variance=single).p_value(statistic)


def _hausman(model, none: OLSFit, npd: NoPoolingDesign) -> tuple[HausmanTest, list[str]]:
    term_columns = {c for term in model.design.terms for c in term.columns}
    names = [name for name in model.design.beta_names
             if name in npd.fixed_position and name not in term_columns
             and name != "(Intercept)"]
    positions = [npd.fixed_position[name] for name in names]
    estimable = none.estimable(np.eye(len(none.coef))[positions]) if positions else []
    names = [name for name, ok in zip(names, estimable, strict=True) if ok]
    positions = [npd.fixed_position[name] for name in names]
    test = hausman_test(none.coef[positions], none.cov[np.ix_(positions, positions)],
                        model.fixef[names].to_numpy(), model.vcov.loc[names, names].to_numpy(),
                        names)
    return test, names


def _tests_table(tests: PoolingTests) -> pd.DataFrame:
    rows = [tests.f, tests.lrt,
            (tests.hausman.statistic, tests.hausman.df, tests.hausman.p_value)]
    table = pd.DataFrame(rows, index=list(TEST_NAMES), columns=["statistic", "df", "p_value"])
    return table.astype({"df": int})
