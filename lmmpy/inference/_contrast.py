"""t and F tests of linear hypotheses Lβ = r about the fixed effects.

One row l:      t = (l'β̂ − r) / √Var(l'β̂),    p = 2 P(T_ν > |t|)
Several rows:   F = (Lβ̂ − r)'(L V L')⁻¹(Lβ̂ − r) / q,   p = P(F_{q,ν} > F)

with q the rank of L and the denominator degrees of freedom ν ("ddf") one of

* ``"satterthwaite"``: Satterthwaite (1946) as lmerTest (Kuznetsova et al. 2017);
* ``"kenward-roger"``: Kenward & Roger (1997) as pbkrtest — V is replaced by
  the adjusted covariance Φ_A and F is scaled by λ;
* ``"residual"``: ν = n − p, as for a linear model;
* ``"asymptotic"``: ν = ∞ (z and χ²/q tests).

The F table follows lmerTest's ``contestMD``: ``mean_sq`` = F σ̂² (unscaled F
for Kenward–Roger), ``sum_sq`` = q × ``mean_sq``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import scipy.stats as st

from lmmpy.inference import _kenward_roger, _satterthwaite

if TYPE_CHECKING:
    from lmmpy.results import LinearMixedModel

DDF_CHOICES = ("satterthwaite", "kenward-roger", "residual", "asymptotic")
DDF_LABELS = {
    "satterthwaite": "Satterthwaite's method",
    "kenward-roger": "Kenward-Roger's method",
    "residual": "residual degrees of freedom (n - p)",
    "asymptotic": "asymptotic normal and chi-square distributions",
}
T_COLUMNS = ["estimate", "std_error", "df", "t_value", "p_value"]
F_COLUMNS = ["sum_sq", "mean_sq", "num_df", "den_df", "f_value", "p_value"]


def check_ddf(ddf: str) -> str:
    """The canonical name of a ddf method (case and ``_``/``-`` are ignored)."""
    name = str(ddf).lower().replace("_", "-")
    if name not in DDF_CHOICES:
        choices = ", ".join(repr(c) for c in DDF_CHOICES)
        raise ValueError(f"unknown ddf {ddf!r}: choose one of {choices}")
    return name


def contrast_matrix(model: LinearMixedModel, L) -> np.ndarray:
    """L as a 2-D float array with one column per coefficient.

    A pandas Series or DataFrame is aligned on the coefficient names (missing
    ones count as 0; unknown names are an error).
    """
    names = list(model.fixef.index)
    if isinstance(L, pd.Series):
        L = L.to_frame().T
    if isinstance(L, pd.DataFrame):
        unknown = [c for c in L.columns if c not in names]
        if unknown:
            raise ValueError(f"contrast names unknown coefficients {unknown}; "
                             f"the coefficients are {names}")
        L = L.reindex(columns=names, fill_value=0.0)
    matrix = np.atleast_2d(np.asarray(L, dtype=float))
    if matrix.ndim != 2 or matrix.shape[1] != len(names):
        raise ValueError(f"contrast has {matrix.shape[-1]} columns but the model has "
                         f"{len(names)} fixed-effect coefficients ({', '.join(names)})")
    if not np.all(np.isfinite(matrix)):
        raise ValueError("contrast has missing or infinite entries")
    return matrix


def t_test(model: LinearMixedModel, row: np.ndarray, ddf: str, rhs: float = 0.0) -> dict:
    """The t test of l'β = rhs (l = ``row``): estimate, std_error, df, t_value, p_value."""
    variance, df = _variance_and_df(model, row, check_ddf(ddf))
    estimate = float(row @ model.fixef.to_numpy())
    se = np.sqrt(variance)
    t = (estimate - rhs) / se
    return dict(zip(T_COLUMNS, [estimate, se, df, t, _t_p_value(t, df)], strict=True))


def _variance_and_df(model, row, ddf) -> tuple[float, float]:
    if ddf == "satterthwaite":
        return _satterthwaite.contrast_df(model, row)
    if ddf == "kenward-roger":
        kr = _kenward_roger.kenward_roger(model)
        return float(row @ kr.phi_adjusted @ row), _kenward_roger.contrast_df(model, row)
    variance = float(row @ model.vcov.to_numpy() @ row)
    return variance, _fixed_df(model, ddf)


def _fixed_df(model, ddf) -> float:
    return float(model.nobs - len(model.fixef)) if ddf == "residual" else np.inf


def _t_p_value(t: float, df: float) -> float:
    dist = st.norm if np.isinf(df) else st.t(df)
    return float(2 * dist.sf(abs(t)))


def f_test(model: LinearMixedModel, L: np.ndarray, ddf: str, rhs=0.0) -> dict:
    """The F test of Lβ = rhs: sum_sq, mean_sq, num_df, den_df, f_value, p_value."""
    ddf = check_ddf(ddf)
    beta = model.fixef.to_numpy() - _shift(L, rhs)
    if ddf == "kenward-roger":
        unscaled, F, q, den = _kenward_roger.f_statistic(model, L, beta)
    elif ddf == "satterthwaite":
        F, q, den = _satterthwaite.f_statistic(model, L, beta)
        unscaled = F
    else:
        F, q, den = _wald_f(model, L, beta, ddf)
        unscaled = F
    mean_sq = unscaled * model.sigma**2
    values = [mean_sq * q, mean_sq, q, den, F, _f_p_value(F, q, den)]
    return dict(zip(F_COLUMNS, values, strict=True))


def _shift(L: np.ndarray, rhs) -> np.ndarray:
    """β₀ with Lβ₀ = rhs (the minimum-norm one), so that Lβ = rhs ⇔ L(β − β₀) = 0."""
    rhs = np.broadcast_to(np.asarray(rhs, dtype=float), (L.shape[0],))
    return np.zeros(L.shape[1]) if not np.any(rhs) else np.linalg.pinv(L) @ rhs


def _wald_f(model, L, beta, ddf) -> tuple[float, int, float]:
    PtL, eigenvalues = _satterthwaite.independent_rows(L, model.vcov.to_numpy())
    F = float(np.sum((PtL @ beta) ** 2 / eigenvalues) / len(eigenvalues))
    return F, len(eigenvalues), _fixed_df(model, ddf)


def _f_p_value(F: float, q: int, den: float) -> float:
    if np.isinf(den):
        return float(st.chi2.sf(F * q, q))
    return float(st.f.sf(F, q, den))


def coefficient_table(model: LinearMixedModel, ddf: str = "satterthwaite",
                      level: float | None = 0.95) -> pd.DataFrame:
    """t tests and intervals of the fixed-effect coefficients (lmerTest's ``summary(m)``).

    Parameters
    ----------
    model : LinearMixedModel
    ddf : {"satterthwaite", "kenward-roger", "residual", "asymptotic"}
        Denominator degrees of freedom: Satterthwaite's (lmerTest's default),
        Kenward–Roger's (adjusted standard errors and df, as pbkrtest; REML
        fits only), n − p, or ∞ (z tests).
    level : float or None, default 0.95
        Confidence level of the Wald intervals ``conf_low, conf_high``:
        estimate ± t_{df, (1+level)/2} × std_error with the tests' df and
        standard errors (z for ``"asymptotic"``), as lmerTest's
        ``contest(m, L, confint = TRUE)``.  None leaves them out.

    Returns
    -------
    DataFrame
        Indexed by coefficient: ``estimate, std_error, df, t_value, p_value``
        (two-sided), then ``conf_low, conf_high``.  ``attrs["ddf"]`` names the
        method, ``attrs["level"]`` the level.

    Examples
    --------
    >>> import lmmpy
    >>> m = lmmpy.lmer("Reaction ~ Days + (Days | Subject)", lmmpy.datasets.load("sleepstudy"))
    >>> m.coefs().round(3)
                 estimate  std_error    df  t_value  p_value  conf_low  conf_high
    (Intercept)   251.405      6.825  17.0   36.838      0.0   237.007    265.804
    Days           10.467      1.546  17.0    6.771      0.0     7.206     13.729
    >>> m.coefs("kenward-roger", level=0.9)[["conf_low", "conf_high"]].round(3)
                 conf_low  conf_high
    (Intercept)   239.533    263.277
    Days            7.778     13.156
    """
    ddf = check_ddf(ddf)
    identity = np.eye(len(model.fixef))
    rows = [t_test(model, row, ddf) for row in identity]
    table = pd.DataFrame(rows, index=model.fixef.index, columns=T_COLUMNS)
    table.attrs["ddf"] = ddf
    if level is not None:
        table["conf_low"], table["conf_high"] = wald_interval(
            table["estimate"].to_numpy(), table["std_error"].to_numpy(),
            table["df"].to_numpy(dtype=float), check_level(level))
        table.attrs["level"] = level
    return table


def wald_interval(estimate: np.ndarray, std_error: np.ndarray, df: np.ndarray,
                  level: float) -> tuple[np.ndarray, np.ndarray]:
    """estimate ∓ q × std_error, q the (1 + level)/2 quantile of t_df (normal where df = ∞)."""
    df = np.asarray(df, dtype=float)
    upper_tail = (1 + level) / 2
    quantile = np.where(np.isinf(df), st.norm.ppf(upper_tail),
                        st.t.ppf(upper_tail, np.where(np.isinf(df), 1.0, df)))
    half = quantile * np.asarray(std_error, dtype=float)
    return estimate - half, estimate + half


def check_level(level: float) -> float:
    """A confidence level strictly between 0 and 1."""
    if isinstance(level, bool) or not isinstance(level, int | float | np.floating):
        raise TypeError(f"level must be a number between 0 and 1, not {level!r}")
    if not 0 < level < 1:
        raise ValueError(f"level must be between 0 and 1 (exclusive), not {level}")
    return float(level)


def contrast(model: LinearMixedModel, L, ddf: str = "satterthwaite", rhs=0.0) -> pd.DataFrame:
    """Test the linear hypothesis Lβ = rhs (lmerTest's ``contest``).

    Parameters
    ----------
    model : LinearMixedModel
    L : array-like, Series or DataFrame
        One row (a t test) or several (a joint F test), one column per
        coefficient; pandas objects are matched on the coefficient names
        (coefficients left out count as 0).
    ddf : {"satterthwaite", "kenward-roger", "residual", "asymptotic"}
    rhs : float or array-like, default 0
        The hypothesised value(s) of Lβ.

    Returns
    -------
    DataFrame
        One row: ``estimate, std_error, df, t_value, p_value`` for one row of
        L; ``sum_sq, mean_sq, num_df, den_df, f_value, p_value`` for several.

    Raises
    ------
    ValueError
        When L does not have one column per coefficient, or ddf is unknown.

    Examples
    --------
    >>> import lmmpy
    >>> m = lmmpy.lmer("Reaction ~ Days + (Days | Subject)", lmmpy.datasets.load("sleepstudy"))
    >>> m.contrast([0, 1], rhs=10).round(3)
              estimate  std_error    df  t_value  p_value
    contrast    10.467      1.546  17.0    0.302    0.766
    >>> m.contrast([[1, 0], [0, 1]])[["num_df", "den_df"]].round(2)
              num_df  den_df
    contrast       2    17.0
    """
    ddf = check_ddf(ddf)
    matrix = contrast_matrix(model, L)
    name = _row_name(L)
    if matrix.shape[0] == 1:
        table = pd.DataFrame([t_test(model, matrix[0], ddf, float(np.ravel(rhs)[0]))],
                             index=[name], columns=T_COLUMNS)
    else:
        table = pd.DataFrame([f_test(model, matrix, ddf, rhs)], index=[name], columns=F_COLUMNS)
    table.attrs["ddf"] = ddf
    return table


def _row_name(L) -> str:
    if isinstance(L, pd.Series) and L.name is not None:
        return str(L.name)
    if isinstance(L, pd.DataFrame) and len(L) == 1:
        return str(L.index[0])
    return "contrast"


def summary_coefficients(model: LinearMixedModel, ddf: str) -> pd.DataFrame:
    """The coefficient table with lme4/lmerTest's column names, for ``m.summary(ddf=...)``."""
    table = coefficient_table(model, ddf, level=None)
    asymptotic = table.attrs["ddf"] == "asymptotic"
    names = {"estimate": "Estimate", "std_error": "Std. Error", "df": "df",
             "t_value": "z value" if asymptotic else "t value",
             "p_value": "Pr(>|z|)" if asymptotic else "Pr(>|t|)"}
    out = table.rename(columns=names)
    if asymptotic:
        out = out.drop(columns="df")
    out.attrs["ddf_method"] = DDF_LABELS[table.attrs["ddf"]]
    return out
