"""Habits from R (lme4), statsmodels and pymer4, each refused with what to write in lmmpy.

A user coming from R writes ``VarCorr(m)``, ``m.fixef()`` or ``REML=False``; one
coming from statsmodels ``m.params`` or ``groups=``; one from pymer4
``model.fit()``.  Python would answer with a bare ``AttributeError`` or "object
is not callable".  This module holds the fixed tables of such names and the
errors that say what to use instead:

* :func:`model_attribute_error`: a missing attribute of a fitted model
  (``LinearMixedModel.__getattr__``), for the names in ``MODEL_NAMES`` only;
* :func:`module_attribute_error`: ``lmmpy.VarCorr``, ``lmmpy.ranef``, ...
  (the package's ``__getattr__``);
* :func:`reject_arguments`: keyword arguments ``lmer`` does not take
  (``REML=``, ``groups=``), with the close spellings of the others;
* :class:`PropertySeries`, :class:`PropertyFrame`, :class:`PropertyDict`:
  the values of properties such as ``m.fixef``, which refuse to be called.

Formula habits (``factor(x)``, ``.``) are refused by the parser:
:mod:`lmmpy.formula._habits`.
"""

from __future__ import annotations

import difflib
from typing import ClassVar

import pandas as pd

# Attribute of a fitted model -> what to write instead ("m" is the model).
MODEL_NAMES: dict[str, str] = {
    # lme4 and R's generic functions, written as methods
    "VarCorr": "use m.varcorr (as.data.frame(VarCorr(m))) or m.covariance_matrices()",
    "logLik": "use m.loglik",
    "AIC": "use m.aic",
    "BIC": "use m.bic",
    "REMLcrit": "use m.reml_criterion",
    "ngrps": "use m.ngroups",
    "isSingular": "use m.is_singular",
    "getME": "use the model's attributes: getME(m, 'theta') is m.theta, 'X' m.design.X",
    "resid": "use m.residuals",
    "df_residual": "use m.df_resid",
    "bootMer": "use m.bootstrap(nsim, func)",
    "refitML": "use lmmpy.inference.refit_ml(m)",
    "update": "use lmmpy.lmer(new_formula, data) (m.formula is the formula fitted)",
    "drop1": "use m.anova(type=3), or lmmpy.anova(m, m_reduced) for likelihood-ratio tests",
    "emmeans": "use lmmpy.emmeans(m, specs)",
    "emtrends": "use lmmpy.emtrends(m, specs, var)",
    # statsmodels' MixedLMResults
    "params": "use m.fixef (fixed effects); the variance parameters are in m.varcorr or m.tidy()",
    "fe_params": "use m.fixef",
    "bse": "use m.fixef_se",
    "bse_fe": "use m.fixef_se",
    "tvalues": "use m.coefs()['t_value']",
    "pvalues": "use m.coefs()['p_value'] (Satterthwaite df; ddf= chooses others)",
    "conf_int": "use m.coefs()[['conf_low', 'conf_high']] or m.confint(method='profile')",
    "random_effects": "use m.ranef (a dict: grouping factor -> DataFrame of conditional modes)",
    "cov_re": "use m.covariance_matrices()",
    "cov_params": "use m.vcov",
    "llf": "use m.loglik",
    "scale": "use m.sigma ** 2",
    "fittedvalues": "use m.fitted",
    "converged": "use m.optimization (the optimizer's summary; a ConvergenceWarning says when not)",
    "k_fe": "use len(m.fixef)",
    # pymer4's Lmer
    "fit": "the model is fitted already (lmmpy.lmer(formula, data) fits and returns it)",
    "ranef_var": "use m.varcorr",
    "ranef_corr": "use m.varcorr (its rows with var2 set)",
    "fits": "use m.fitted",
    "logLike": "use m.loglik",
    "design_matrix": "use m.design.X",
    "post_hoc": "use lmmpy.emmeans(m, specs).pairs()",
    "grps": "use m.ngroups",
}

# Attribute of the package -> what to write instead.
MODULE_NAMES: dict[str, str] = {
    "fixef": "use m.fixef (a property of the fitted model m)",
    "ranef": "use m.ranef (a property of the fitted model m: a dict of DataFrames)",
    "coef": "use m.coef (a property of the fitted model m)",
    "VarCorr": "use m.varcorr (a property of the fitted model m)",
    "vcov": "use m.vcov (a property of the fitted model m)",
    "sigma": "use m.sigma (a property of the fitted model m)",
    "fitted": "use m.fitted (a property of the fitted model m)",
    "residuals": "use m.residuals (a property of the fitted model m)",
    "resid": "use m.residuals (a property of the fitted model m)",
    "logLik": "use m.loglik",
    "AIC": "use m.aic",
    "BIC": "use m.bic",
    "nobs": "use m.nobs",
    "ngrps": "use m.ngroups",
    "isSingular": "use m.is_singular",
    "summary": "use m.summary() (print(m.summary()) outside a notebook)",
    "confint": "use m.confint(method='profile' | 'wald' | 'boot')",
    "profile": "use m.profile()",
    "predict": "use m.predict(newdata)",
    "simulate": "use m.simulate(nsim, seed=...)",
    "bootMer": "use m.bootstrap(nsim, func)",
    "ranova": "use m.ranova()",
    "contest": "use m.contrast(L)",
    "tidy": "use m.tidy()",
    "glance": "use m.glance()",
    "icc": "use m.icc()",
    "r2": "use m.r2()",
    "check_model": "use lmmpy.plots.check_model(m)",
    "tab_model": "use lmmpy.model_table([m1, m2])",
    "modelsummary": "use lmmpy.model_table([m1, m2])",
    "lmerControl": "use lmmpy.LmerControl(...) as lmer(..., control=)",
    "glmerControl": "use lmmpy.GlmerControl(...) as glmer(..., control=)",
    "lme": "use lmmpy.lmer with lme4's syntax: lme(y ~ x, random = ~ 1 | g) is "
           "lmmpy.lmer('y ~ x + (1 | g)', data)",
    "Lmer": "use lmmpy.lmer(formula, data): pymer4's Lmer(formula, data).fit() in one call",
    "MixedLM": "use lmmpy.lmer('y ~ x + (1 | g)', data): statsmodels' groups= and re_formula= "
               "are written in the formula",
    "mixedlm": "use lmmpy.lmer('y ~ x + (1 | g)', data): statsmodels' groups= and re_formula= "
               "are written in the formula",
}

# Keyword argument lmer does not take -> what to write instead.
LMER_ARGUMENTS: dict[str, str] = {
    "REML": "use reml= (lowercase)",
    "verbose": "the optimizer's path is in m.optimization after the fit",
    "subset": "select the rows in pandas first: lmer(formula, data[data['x'] > 0])",
    "na_action": "rows with a missing value in a column the model uses are dropped "
                 "(R's na.omit); drop or impute others in pandas first",
    "contrasts": "write the contrast in the formula: C(f, contr.sum) (formulaic's C())",
    "family": "use lmmpy.glmer(formula, data, family=...) for a generalized linear mixed model",
    "groups": "write the grouping factor in the formula: 'y ~ x + (1 | g)' (statsmodels' groups=)",
    "re_formula": "write the random effects in the formula: re_formula='~x' with groups='g' is "
                  "'(x | g)'",
    "vc_formula": "write the variance components in the formula as terms of their own: '(1 | g:h)' "
                  "or '(1 | g/h)'",
}


def model_attribute_error(class_name: str, name: str) -> AttributeError:
    """Python's AttributeError for a missing attribute, with a hint for the names in
    ``MODEL_NAMES``.

    Examples
    --------
    >>> print(model_attribute_error("LinearMixedModel", "logLik"))
    'LinearMixedModel' object has no attribute 'logLik': use m.loglik
    """
    message = f"{class_name!r} object has no attribute {name!r}"
    if name in MODEL_NAMES:
        message += f": {MODEL_NAMES[name]}"
    return AttributeError(message)


def module_attribute_error(name: str) -> AttributeError:
    """The package's AttributeError, with a hint for the names in ``MODULE_NAMES``.

    Examples
    --------
    >>> print(module_attribute_error("AIC"))
    module 'lmmpy' has no attribute 'AIC': use m.aic
    """
    message = f"module 'lmmpy' has no attribute {name!r}"
    if name in MODULE_NAMES:
        message += f": {MODULE_NAMES[name]}"
    return AttributeError(message)


def reject_arguments(function: str, unknown: dict[str, object], known: list[str],
                     habits: dict[str, str] = LMER_ARGUMENTS) -> None:
    """Raise Python's TypeError for the first of ``unknown`` (keyword arguments the function
    does not take), saying what to write: from ``habits``, else a close spelling in ``known``.

    Examples
    --------
    >>> try:
    ...     reject_arguments("lmer", {"REML": False}, ["reml", "weights"])
    ... except TypeError as error:
    ...     print(error)
    lmer() got an unexpected keyword argument 'REML': use reml= (lowercase)
    """
    for name in unknown:
        message = f"{function}() got an unexpected keyword argument {name!r}"
        close = difflib.get_close_matches(name, known, n=1)
        if name in habits:
            message += f": {habits[name]}"
        elif close:
            message += f"; did you mean {close[0]!r}?"
        raise TypeError(message)


def _called(name: str) -> TypeError:
    return TypeError(f"m.{name} is a property of the fitted model, not a method: write "
                     f"m.{name}, without ()")


class PropertySeries(pd.Series):
    """A Series that says, when called, that it is a property (``m.fixef()``).

    Anything computed from it is a plain Series.
    """

    _metadata: ClassVar[list[str]] = ["_name", "_property_name"]

    @property
    def _constructor(self):
        return pd.Series

    def __call__(self, *args, **kwargs):
        raise _called(self._property_name)


class PropertyFrame(pd.DataFrame):
    """A DataFrame that says, when called, that it is a property (``m.vcov()``)."""

    _metadata: ClassVar[list[str]] = ["_property_name"]

    @property
    def _constructor(self):
        return pd.DataFrame

    def __call__(self, *args, **kwargs):
        raise _called(self._property_name)


class PropertyDict(dict):
    """A dict that says, when called, that it is a property (``m.ranef()``)."""

    _property_name = ""

    def __call__(self, *args, **kwargs):
        raise _called(self._property_name)


def as_property(value, name: str):
    """``value`` (a Series, DataFrame or dict) as its Property* class, named ``name``.

    Examples
    --------
    >>> fixef = as_property(pd.Series([1.0], index=["(Intercept)"]), "fixef")
    >>> try:
    ...     fixef()
    ... except TypeError as error:
    ...     print(error)
    m.fixef is a property of the fitted model, not a method: write m.fixef, without ()
    """
    if isinstance(value, pd.Series):
        wrapped = PropertySeries(value, copy=False)
    elif isinstance(value, pd.DataFrame):
        wrapped = PropertyFrame(value, copy=False)
    else:
        wrapped = PropertyDict(value)
    wrapped._property_name = name
    return wrapped
