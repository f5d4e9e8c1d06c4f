"""One row per parameter, one row per model: broom.mixed's ``tidy`` and ``glance``.

Reports, tables and plots want estimates as long tables, not as a model
object.  :func:`tidy` gives R's broom.mixed layout in snake case:

* ``effect = "fixed"``: the fixed effects with their standard error, the t
  (or z) statistic, denominator df (Satterthwaite's by default, as
  broom.mixed reports for lmerTest fits; infinite for a GLMM, whose Wald
  tests are z tests as glmer's summary) and p-value;
* ``effect = "ran_pars"``: the random-effect standard deviations and
  correlations per grouping factor in θ's order (``sd__(Intercept)``,
  ``cor__(Intercept).Days``, ``sd__Days``), then the residual SD
  (``group = "Residual"``, ``term = "sd__Observation"``; a GLMM has one only
  for a family with a dispersion, σ̂);
* ``effect = "ran_vals"``: the conditional modes with their conditional SDs,
  one row per level and term (``level`` column).

Wald intervals of the fixed effects use the t distribution with the same df
as the test (z for ``ddf="asymptotic"``), as broom.mixed does for lmerTest
fits; the random-effect parameters have none under Wald.  Profile and
bootstrap intervals come from :func:`lmmpy.inference.confint` for every
parameter.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from lmmpy.results import LinearMixedModel

EFFECTS = ("fixed", "ran_pars", "ran_vals")
CONF_METHODS = ("wald", "profile", "boot")
TIDY_COLUMNS = ["effect", "group", "level", "term", "estimate", "std_error", "statistic", "df",
                "p_value", "conf_low", "conf_high"]


def tidy(model: LinearMixedModel, effects: str | tuple[str, ...] = ("fixed", "ran_pars"), *,
         conf_int: bool = False, conf_level: float = 0.95, conf_method: str = "wald",
         ddf: str = "satterthwaite", **confint_options) -> pd.DataFrame:
    """A DataFrame with one row per parameter (broom.mixed's ``tidy``).

    Parameters
    ----------
    model : LinearMixedModel
    effects : str or tuple of str, default ("fixed", "ran_pars")
        Any of ``"fixed"``, ``"ran_pars"``, ``"ran_vals"``, in the order given.
    conf_int : bool, default False
        Add ``conf_low`` and ``conf_high``.
    conf_level : float, default 0.95
    conf_method : {"wald", "profile", "boot"}, default "wald"
        Wald intervals exist for the fixed effects only; the others cover every
        parameter (see :func:`lmmpy.inference.confint`, which receives
        ``confint_options`` such as ``nsim`` and ``seed``).
    ddf : str, default "satterthwaite"
        Denominator df of the fixed effects' tests and Wald intervals
        (``"satterthwaite"``, ``"kenward-roger"``, ``"residual"``, ``"asymptotic"``).

    Returns
    -------
    DataFrame
        Columns ``effect, group, level, term, estimate, std_error, statistic, df,
        p_value`` (and ``conf_low, conf_high``); ``level`` only with ``"ran_vals"``.

    Examples
    --------
    >>> import lmmpy
    >>> m = lmmpy.lmer("Reaction ~ Days + (Days | Subject)", lmmpy.datasets.load("sleepstudy"))
    >>> m.tidy()[["effect", "group", "term", "estimate"]].round(2)
         effect     group                   term  estimate
    0     fixed      None            (Intercept)    251.41
    1     fixed      None                   Days     10.47
    2  ran_pars   Subject        sd__(Intercept)     24.74
    3  ran_pars   Subject  cor__(Intercept).Days      0.07
    4  ran_pars   Subject               sd__Days      5.92
    5  ran_pars  Residual        sd__Observation     25.59
    """
    effects = _check_effects(effects)
    conf_method = _check_conf_method(conf_method)
    parts = {"fixed": lambda: _fixed_rows(model, ddf),
             "ran_pars": lambda: _ran_pars_rows(model),
             "ran_vals": lambda: _ran_vals_rows(model)}
    table = pd.concat([parts[effect]() for effect in effects], ignore_index=True)
    if conf_int:
        _add_intervals(model, table, conf_level, conf_method, confint_options)
    columns = [c for c in TIDY_COLUMNS if c in table.columns
               and (c != "level" or "ran_vals" in effects)]
    return table[columns]


def glance(model: LinearMixedModel) -> pd.DataFrame:
    """A one-row DataFrame of model-level statistics (broom.mixed's ``glance``).

    Columns: ``nobs, sigma, loglik, aic, bic, deviance, reml_criterion,
    df_resid``.  ``deviance`` is lme4's ``deviance(m, REML = FALSE)`` (the ML
    deviance at the estimates) for every linear fit, and for a GLMM lme4's
    ``deviance()``, the sum of squared deviance residuals; ``reml_criterion`` is
    the REML criterion of REML fits (broom.mixed's ``REMLcrit``) and NaN for
    ML and GLMM fits.

    Examples
    --------
    >>> import lmmpy
    >>> m = lmmpy.lmer("Reaction ~ Days + (Days | Subject)", lmmpy.datasets.load("sleepstudy"))
    >>> m.glance()[["nobs", "loglik", "df_resid"]].round(2)
       nobs  loglik  df_resid
    0   180 -871.81       174
    """
    reml = getattr(model, "reml", False)   # a GLMM is fitted by ML (Laplace, AGQ)
    row = {"nobs": model.nobs, "sigma": model.sigma, "loglik": model.loglik,
           "aic": model.aic, "bic": model.bic, "deviance": model.deviance,
           "reml_criterion": model.reml_criterion if reml else np.nan,
           "df_resid": model.df_resid}
    return pd.DataFrame([row])


def _is_glmm(model) -> bool:
    return model.is_generalized


def _fixed_rows(model: LinearMixedModel, ddf: str) -> pd.DataFrame:
    if _is_glmm(model):   # Wald z tests, as glmer's summary (``ddf`` does not apply)
        table = model.coefficients()
        return pd.DataFrame({
            "effect": "fixed", "group": None, "term": list(table.index),
            "estimate": table["Estimate"].to_numpy(), "std_error": table["Std. Error"].to_numpy(),
            "statistic": table["z value"].to_numpy(), "df": np.inf,
            "p_value": table["Pr(>|z|)"].to_numpy()})
    from lmmpy.inference import coefficient_table

    table = coefficient_table(model, ddf, level=None)
    return pd.DataFrame({
        "effect": "fixed", "group": None, "term": list(table.index),
        "estimate": table["estimate"].to_numpy(), "std_error": table["std_error"].to_numpy(),
        "statistic": table["t_value"].to_numpy(), "df": table["df"].to_numpy(),
        "p_value": table["p_value"].to_numpy()})


def _ran_pars_rows(model: LinearMixedModel) -> pd.DataFrame:
    """SDs and correlations per term in θ's order, then the residual SD."""
    rows = []
    covariances = model.covariance_matrices()
    for term, group in zip(model.design.terms, covariances, strict=True):
        covariance = covariances[group].to_numpy()
        sd = np.sqrt(np.diag(covariance))
        for row, col in zip(term.theta_rows, term.theta_cols, strict=True):
            if row == col:
                rows.append((group, f"sd__{term.columns[row]}", sd[row]))
            else:
                denominator = sd[row] * sd[col]
                correlation = covariance[row, col] / denominator if denominator > 0 else np.nan
                rows.append((group, f"cor__{term.columns[col]}.{term.columns[row]}",
                             correlation))
    if not _is_glmm(model) or model.family.has_dispersion:
        rows.append(("Residual", "sd__Observation", model.sigma))
    table = pd.DataFrame(rows, columns=["group", "term", "estimate"])
    table.insert(0, "effect", "ran_pars")
    return table


def _ran_vals_rows(model: LinearMixedModel) -> pd.DataFrame:
    """Conditional modes and conditional SDs, level-major within each term, as broom.mixed."""
    frames = []
    for group, modes in model.ranef.items():
        sds = model.ranef_condsd[group]
        for term in modes.columns:
            frames.append(pd.DataFrame({
                "effect": "ran_vals", "group": group, "level": modes.index.astype(str),
                "term": term, "estimate": modes[term].to_numpy(),
                "std_error": sds[term].to_numpy()}))
    return pd.concat(frames, ignore_index=True)


def _add_intervals(model, table, level, method, options) -> None:
    table["conf_low"] = np.nan
    table["conf_high"] = np.nan
    fixed = (table["effect"] == "fixed").to_numpy()
    if method == "wald":
        from lmmpy.inference._contrast import check_level, wald_interval

        low, high = wald_interval(table.loc[fixed, "estimate"].to_numpy(dtype=float),
                                  table.loc[fixed, "std_error"].to_numpy(dtype=float),
                                  table.loc[fixed, "df"].to_numpy(dtype=float),
                                  check_level(level))
        table.loc[fixed, "conf_low"], table.loc[fixed, "conf_high"] = low, high
        return
    intervals = model.confint(method, level, **options)
    names = _confint_names(model, table)
    known = names.notna().to_numpy()
    table.loc[known, "conf_low"] = intervals.loc[names[known], "lower"].to_numpy()
    table.loc[known, "conf_high"] = intervals.loc[names[known], "upper"].to_numpy()


def _confint_names(model, table) -> pd.Series:
    """Each tidy row's name in :func:`lmmpy.inference.confint` (None for ran_vals)."""
    from lmmpy.inference._varpar import SIGMA, variance_parameter_names

    names = variance_parameter_names(model.design.terms)
    if _is_glmm(model) and not model.family.has_dispersion:
        names = [name for name in names if name != SIGMA]
    variance_names = iter(names)
    names = []
    for effect, term in zip(table["effect"], table["term"], strict=True):
        names.append(term if effect == "fixed"
                      else next(variance_names) if effect == "ran_pars" else None)
    return pd.Series(names, dtype=object)


def _check_effects(effects) -> tuple[str, ...]:
    chosen = (effects,) if isinstance(effects, str) else tuple(effects)
    unknown = [e for e in chosen if e not in EFFECTS]
    if unknown or not chosen:
        raise ValueError(f"effects must be among {EFFECTS}, not {unknown or chosen!r}")
    return chosen


def _check_conf_method(method: str) -> str:
    name = str(method).lower()
    if name not in CONF_METHODS:
        raise ValueError(f"conf_method must be one of {CONF_METHODS}, not {method!r}")
    return name
