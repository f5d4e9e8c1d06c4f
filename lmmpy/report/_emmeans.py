"""Estimated marginal means and trends with their pairwise comparisons (R's emmeans).

A marginal mean is l'β̂ with l the equally weighted average of the reference
grid's fixed-effects rows that share its levels (:mod:`lmmpy.report._refgrid`);
a trend (``emtrends``) is the same average of the forward difference
(x(v + δ) − x(v)) / δ of the rows in the variable v, δ = 0.001 × the range of
v, as emmeans computes it (exact for terms linear in v; δ times the quadratic
coefficient away from the derivative for an ``I(v^2)`` term, as in R).

Each l is tested by :func:`lmmpy.inference._contrast.t_test`, so the standard
errors and df are those of lmerTest and pbkrtest that emmeans calls:

* ``"kenward-roger"``: SE from Kenward and Roger's adjusted covariance Φ_A and
  df from pbkrtest's ``Lb_ddf`` for the one row l (REML fits);
* ``"satterthwaite"``: SE from Var(β̂), df from lmerTest's ``calcSatterth``;
* ``"asymptotic"``: SE from Var(β̂), df = ∞ (z intervals and tests).

The default (``ddf=None``) follows emmeans' rule for ``lmerMod`` fits
(``lmer.df = "kenward-roger"``, ``pbkrtest.limit = lmerTest.limit = 3000``):
Kenward–Roger when n ≤ 3000, else Satterthwaite when n ≤ 3000, else asymptotic.
Where lmmpy's Kenward–Roger cannot run — an ML fit (pbkrtest would silently refit
it by REML), or more than its limit of random effects plus coefficients — the
default is Satterthwaite; asking for ``"kenward-roger"`` there is an error.  A GLMM's
means are on the link scale with asymptotic tests, as emmeans' for glmer fits;
``type="response"`` back-transforms them (:mod:`lmmpy.report._scale`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from scipy import stats

from lmmpy.inference._contrast import t_test
from lmmpy.inference._table import InferenceTable
from lmmpy.report._adjust import (
    adjust_family,
    adjust_note,
    check_adjust,
    critical_values,
    interval_note,
)
from lmmpy.report._pairs import DEFAULT_ADJUST, DESCRIPTIONS, check_method, contrast_family
from lmmpy.report._refgrid import (
    ReferenceGrid,
    averaging_rows,
    full_model_matrix,
    grid_weights,
    model_variables,
    reference_grid,
)
from lmmpy.report._scale import (
    back_transforms,
    check_type,
    is_glmm,
    ratio_name,
    to_ratios,
    to_response,
)

if TYPE_CHECKING:
    from lmmpy.results import LinearMixedModel

DDF_METHODS = ("kenward-roger", "satterthwaite", "asymptotic")
PBKRTEST_LIMIT = 3000  # emmeans' pbkrtest.limit and lmerTest.limit: n above which ...
LMERTEST_LIMIT = 3000  # ... it does not compute Kenward-Roger / Satterthwaite df
TREND_STEP = 1e-3  # emtrends' delta.var, as a fraction of the variable's range
ESTIMATE_COLUMNS = ["std_error", "df", "lower_cl", "upper_cl"]
CONTRAST_COLUMNS = ["estimate", "std_error", "df", "t_ratio", "p_value"]
_NOT_ESTIMABLE = "NaN: not estimable (it depends on a coefficient dropped as aliased)"


class MarginalTable:
    """A results table (``frame``) that prints a heading and notes, in text and in notebooks."""

    def __init__(self, frame: pd.DataFrame, heading: str, notes: list[str]):
        self.frame = frame
        self.heading = heading
        self.notes = notes

    def to_frame(self) -> pd.DataFrame:
        """The table as a plain DataFrame (a copy)."""
        return self.frame.copy()

    def _table(self) -> InferenceTable:
        table = InferenceTable(self.frame)
        table.attrs.update(heading=self.heading, note="\n".join(self.notes))
        return table

    def __repr__(self) -> str:
        return repr(self._table())

    def _repr_html_(self) -> str:
        return self._table()._repr_html_()

    def __getitem__(self, key):
        return self.frame[key]

    def __len__(self) -> int:
        return len(self.frame)

    @property
    def columns(self) -> pd.Index:
        return self.frame.columns


class MarginalMeans(MarginalTable):
    """Estimated marginal means (or trends) of a fit; :meth:`pairs` compares them.

    Attributes
    ----------
    frame : DataFrame
        The ``specs`` and ``by`` columns, the estimate (``emmean`` or
        ``<var>_trend``), ``std_error``, ``df``, ``lower_cl``, ``upper_cl``.
    L : ndarray
        One row per mean: the linear function of the fixed effects it estimates, over
        the model matrix's columns including any the fit dropped as aliased.
    ddf : str
        The degrees-of-freedom method used.
    """

    def __init__(self, model: LinearMixedModel, grid: ReferenceGrid, frame: pd.DataFrame,
                 L: np.ndarray, *,
                 specs: list[str], by: list[str], ddf: str, level: float, heading: str,
                 notes: list[str], type: str = "link"):
        super().__init__(frame, heading, notes)
        self.model, self.grid, self.L, self.specs, self.by = model, grid, L, specs, by
        self.ddf, self.level, self.type = ddf, level, type

    def pairs(self, adjust: str = "tukey", reverse: bool = False,
              conf_int: bool = False) -> MarginalTable:
        """Pairwise differences of the means within each ``by`` group (emmeans' ``pairs``).

        Parameters
        ----------
        adjust : str, default "tukey"
            p-value adjustment within each ``by`` group: ``"tukey"`` (the
            studentized range of the group's means, as R's ``ptukey``),
            ``"scheffe"``, ``"sidak"``, ``"bonferroni"``, ``"holm"``,
            ``"hochberg"``, ``"fdr"``, ``"BY"``, ``"dunnettx"`` or ``"none"``
            (see :mod:`lmmpy.report._adjust`).
        reverse : bool, default False
            "B - A" instead of "A - B" (emmeans' ``pairs(reverse = TRUE)``).
        conf_int : bool, default False
            Add simultaneous intervals ``lower_cl``, ``upper_cl`` at the means'
            level, adjusted as emmeans adjusts them (Bonferroni's for the
            step-wise methods, which have none), as ``confint(pairs(em))``.

        Returns
        -------
        MarginalTable
            ``contrast`` ("A - B"), the ``by`` columns, ``estimate``,
            ``std_error``, ``df``, ``t_ratio``, ``p_value``.

        Examples
        --------
        >>> import lmmpy
        >>> cake = lmmpy.datasets.load("cake")
        >>> m = lmmpy.lmer("angle ~ recipe * temperature + (1 | recipe:replicate)", cake)
        >>> lmmpy.emmeans(m, "recipe").pairs().to_frame().round(3)
          contrast  estimate  std_error    df  t_ratio  p_value
        0    A - B     1.478      2.456  42.0    0.602     0.82
        1    A - C     1.522      2.456  42.0    0.620     0.81
        2    B - C     0.044      2.456  42.0    0.018     1.00
        """
        return self.contrast("revpairwise" if reverse else "pairwise", adjust, conf_int=conf_int)

    def contrast(self, method: str | Mapping[str, Sequence[float]] = "eff",
                 adjust: str | None = None, ref: str | int | None = None,
                 conf_int: bool = False) -> MarginalTable:
        """Contrasts of the means within each ``by`` group (emmeans' ``contrast``).

        Parameters
        ----------
        method : str or dict, default "eff"
            ``"pairwise"``, ``"revpairwise"``, ``"trt.vs.ctrl"`` (each mean minus
            the reference mean), ``"eff"`` (each mean minus the average of the
            means), or a dict ``{label: coefficients}`` with one coefficient per
            mean of a group (see :mod:`lmmpy.report._pairs`).
        adjust : str, optional
            As in :meth:`pairs`; default emmeans' for the method: ``"tukey"``
            for pairwise differences, ``"dunnettx"`` for ``"trt.vs.ctrl"``,
            ``"fdr"`` for ``"eff"``, ``"none"`` for a dict.  Tukey's method for
            other contrasts than pairwise differences becomes ``"sidak"``, as in
            emmeans (the notes say so).
        ref : str or int, optional
            The reference of ``"trt.vs.ctrl"``: a mean's label (``"A"``) or its
            position from 0; default the first mean.
        conf_int : bool, default False
            As in :meth:`pairs`.

        Returns
        -------
        MarginalTable
            ``contrast``, the ``by`` columns, ``estimate``, ``std_error``, ``df``,
            ``t_ratio``, ``p_value``.

        Examples
        --------
        >>> import lmmpy
        >>> cake = lmmpy.datasets.load("cake")
        >>> m = lmmpy.lmer("angle ~ recipe * temperature + (1 | recipe:replicate)", cake)
        >>> em = lmmpy.emmeans(m, "recipe")
        >>> em.contrast("trt.vs.ctrl", ref="C").to_frame()[["contrast", "estimate"]].round(3)
          contrast  estimate
        0    A - C     1.522
        1    B - C     0.044
        >>> em.contrast({"A vs B and C": [1, -0.5, -0.5]}).to_frame()["estimate"].round(3)
        0    1.5
        Name: estimate, dtype: float64
        """
        ratio = ratio_name(self.model, self.type)
        family = contrast_family(self.frame, self.specs, self.by, check_method(method), ref,
                                 " / " if ratio else " - ")
        adjust = check_adjust(DEFAULT_ADJUST[family.method] if adjust is None else adjust)
        notes = []
        if adjust == "tukey" and family.method not in ("pairwise", "revpairwise"):
            adjust = "sidak"
            notes.append('Note: adjust = "tukey" was changed to "sidak" because "tukey" is only '
                         "appropriate for one set of pairwise comparisons")
        L = family.C @ self.L
        tests = _tests(self.model, self.grid, L, self.ddf)
        ranks = [_rank(self.grid.coefficients(L[family.group == g]))
                 for g in range(len(family.n_means))]
        p = np.full(len(tests), np.nan)
        for g, n_means in enumerate(family.n_means):
            members = family.group == g
            p[members] = adjust_family(tests["t_ratio"].to_numpy()[members],
                                       tests["df"].to_numpy()[members], adjust, n_means, ranks[g])
        tests["p_value"] = p
        columns = CONTRAST_COLUMNS
        if conf_int:
            notes.append(_add_intervals(tests, family, adjust, self.level, ranks))
            columns = [*CONTRAST_COLUMNS[:3], "lower_cl", "upper_cl", *CONTRAST_COLUMNS[3:]]
        frame = pd.concat([family.labels, tests[columns]], axis=1)
        if ratio:
            frame = to_ratios(frame, ratio)
            notes.append(f"Tests are performed on the log{' odds' if ratio == 'odds_ratio' else ''}"
                         " ratio scale")
        size = np.bincount(family.group) if len(family.group) else np.array([0])
        notes = _notes(self.grid, self.specs + self.by, frame[ratio or "estimate"], self.ddf,
                       adjust_note(adjust, max(family.n_means), int(size.max()), max(ranks,
                                   default=0))) + notes
        return MarginalTable(frame, f"{DESCRIPTIONS[family.method]}: {self.heading[0].lower()}"
                             f"{self.heading[1:]}", [note for note in notes if note])


def _add_intervals(tests: pd.DataFrame, family, adjust: str, level: float,
                   ranks: list[int]) -> str:
    """``lower_cl``, ``upper_cl`` of each family's simultaneous intervals; emmeans' note."""
    lower = np.full(len(tests), np.nan)
    upper = np.full(len(tests), np.nan)
    used = adjust
    for g, n_means in enumerate(family.n_means):
        members = family.group == g
        cv, used = critical_values(level, tests["df"].to_numpy()[members], adjust, n_means,
                                   ranks[g])
        half = cv * tests["std_error"].to_numpy()[members]
        lower[members] = tests["estimate"].to_numpy()[members] - half
        upper[members] = tests["estimate"].to_numpy()[members] + half
    tests["lower_cl"], tests["upper_cl"] = lower, upper
    size = int(np.bincount(family.group).max()) if len(family.group) else 0
    return interval_note(used, max(family.n_means), size, max(ranks, default=0))


def _rank(coefficients: np.ndarray) -> int:
    finite = coefficients[np.all(np.isfinite(coefficients), axis=1)]
    return int(np.linalg.matrix_rank(finite)) if len(finite) else 0


def emmeans(model: LinearMixedModel, specs: str | Sequence[str], by: str | Sequence[str] |
            None = None, at: Mapping[str, Any] | None = None, ddf: str | None = None,
            level: float = 0.95, data: pd.DataFrame | None = None,
            weights: str = "equal", type: str = "link") -> MarginalMeans:
    """Estimated marginal means over a reference grid, as R's ``emmeans``.

    Parameters
    ----------
    model : LinearMixedModel
    specs : str or list of str
        The variable(s) whose level combinations get a mean (several: an
        interaction).  Means are averaged, with equal weights, over the levels
        of the other factors.
    by : str or list of str, optional
        Variables that split the means into groups (``pairs`` compares within them).
    at : dict, optional
        Values for variables of the grid: numbers (default: their mean) or a
        subset of a factor's levels.
    ddf : {"kenward-roger", "satterthwaite", "asymptotic"}, optional
        Degrees of freedom (and, for Kenward–Roger, the adjusted standard
        errors).  Default: emmeans' choice for lmer fits — Kenward–Roger when
        the fit is REML and n ≤ 3000, Satterthwaite when n ≤ 3000, else asymptotic.
    level : float, default 0.95
        Confidence level of ``lower_cl`` and ``upper_cl``.
    data : DataFrame, optional
        The fitted data: needed only when a numeric variable is used just
        inside a transform (``log(w)``), whose values the fit does not keep, or
        when the fit dropped aliased coefficients (to find the means that are
        not estimable: they are NaN, R's "nonEst").
    weights : {"equal", "proportional", "outer", "cells", "flat"}, default "equal"
        How the grid rows are weighted in a mean over the other variables, as
        emmeans: equally, or by the frequencies of the fitted rows in them —
        ``"proportional"`` the frequency of each combination of the averaged-over
        variables (the same weights for every mean), ``"outer"`` the product of
        their one-variable frequencies, ``"cells"`` each cell's own frequency (the
        mean of the data's predictions in each group), ``"flat"`` equal weights for
        the cells with data.  A factor's level in each row is read off the model
        matrix; without a main effect, pass ``data=``.
    type : {"link", "response"}, default "link"
        For a GLMM (:func:`lmmpy.glmer`): ``"response"`` back-transforms the means
        (``prob``, ``rate`` or ``response``; delta-method SE, intervals
        back-transformed) and shows the contrasts of a log or logit link as ratios
        (``odds_ratio``, ``ratio``), as emmeans' ``type = "response"``.  A GLMM's
        tests are asymptotic (z), as emmeans' for glmer fits.

    Returns
    -------
    MarginalMeans
        Its ``frame`` has the ``specs`` and ``by`` columns, ``emmean``,
        ``std_error``, ``df``, ``lower_cl``, ``upper_cl``; ``.pairs()`` compares them.

    Raises
    ------
    ValueError
        For a variable that is not in the model, a ``by`` variable also in
        ``specs``, an unknown ``ddf``, ``"kenward-roger"`` for an ML fit, a
        ``level`` outside (0, 1), or ``data`` missing where it is needed.
    TypeError
        When ``specs`` or ``by`` are not strings.

    Examples
    --------
    >>> import lmmpy
    >>> cake = lmmpy.datasets.load("cake")
    >>> m = lmmpy.lmer("angle ~ recipe * temperature + (1 | recipe:replicate)", cake)
    >>> lmmpy.emmeans(m, "recipe").to_frame().round(2)
      recipe  emmean  std_error    df  lower_cl  upper_cl
    0      A   33.12       1.74  42.0     29.62     36.63
    1      B   31.64       1.74  42.0     28.14     35.15
    2      C   31.60       1.74  42.0     28.09     35.11
    """
    grid, specs_, by_, ddf_ = _prepare(model, specs, by, at, ddf, level, data)
    row_weights = grid_weights(model, grid, specs_ + by_, weights, data)
    means, L = averaging_rows(grid, specs_ + by_, weights=row_weights)
    heading = f"Estimated marginal means of {_response(model)}"
    return _marginal_means(model, grid, means, L, "emmean", specs_, by_, ddf_, level, heading,
                           check_type(model, type), _limit_note(model, ddf))


def emtrends(model: LinearMixedModel, specs: str | Sequence[str], var: str,
             by: str | Sequence[str] | None = None, at: Mapping[str, Any] | None = None,
             ddf: str | None = None, level: float = 0.95,
             data: pd.DataFrame | None = None, weights: str = "equal") -> MarginalMeans:
    """Estimated marginal trends (slopes in ``var``) by the levels of ``specs``, as R's ``emtrends``.

    The slope at each grid row is emmeans' forward difference of the
    prediction in ``var`` with a step of 0.001 × the range of ``var`` (the
    derivative, for terms linear in ``var``); slopes are averaged over the
    grid as :func:`emmeans` averages means.

    Parameters
    ----------
    model : LinearMixedModel
    specs, by, at, ddf, level, data, weights
        As for :func:`emmeans`; ``var`` is held at its mean unless ``at`` gives values.
    var : str
        A numeric variable of the fixed effects.

    Returns
    -------
    MarginalMeans
        The ``specs`` and ``by`` columns, ``<var>_trend``, ``std_error``,
        ``df``, ``lower_cl``, ``upper_cl``.

    Examples
    --------
    >>> import lmmpy
    >>> cake = lmmpy.datasets.load("cake")
    >>> m = lmmpy.lmer("angle ~ recipe * temp + (1 | recipe:replicate)", cake)
    >>> lmmpy.emtrends(m, "recipe", "temp").to_frame().round(3)
      recipe  temp_trend  std_error     df  lower_cl  upper_cl
    0      A       0.154      0.028  222.0     0.098     0.209
    1      B       0.165      0.028  222.0     0.109     0.220
    2      C       0.156      0.028  222.0     0.100     0.211
    """
    grid, specs_, by_, ddf_ = _prepare(model, specs, by, at, ddf, level, data)
    variable = _check_trend_variable(grid, var)
    step = TREND_STEP * float(np.ptp(variable.observed))
    shifted = grid.frame.assign(**{var: grid.frame[var] + step})
    slopes = (full_model_matrix(model, shifted) - grid.X) / step
    row_weights = grid_weights(model, grid, specs_ + by_, weights, data)
    means, L = averaging_rows(grid, specs_ + by_, slopes, row_weights)
    heading = f"Estimated marginal trends of {_response(model)} in {var}"
    return _marginal_means(model, grid, means, L, f"{var}_trend", specs_, by_, ddf_, level,
                           heading, note=_limit_note(model, ddf))


def _prepare(model, specs, by, at, ddf, level, data
             ) -> tuple[ReferenceGrid, list[str], list[str], str]:
    _check_level(level)
    ddf_ = resolve_ddf(model, ddf)
    variables = list(model_variables(model, data))
    specs_ = _check_names(specs, "specs", variables)
    by_ = _check_names(by, "by", variables)
    overlap = sorted(set(specs_) & set(by_))
    if overlap:
        raise ValueError(f"{overlap} are in both specs and by; a variable is one or the other")
    if at is not None and not isinstance(at, Mapping):
        raise TypeError(f"at must be a dict of variable -> values, not {type(at).__name__}")
    return reference_grid(model, at, data), specs_, by_, ddf_


def _response(model) -> str:
    """The response as the formula writes it (``angle``, ``cbind(s, f)``)."""
    return model.formula.partition("~")[0].strip()


def _check_names(names, what: str, variables: list[str]) -> list[str]:
    if names is None:
        return []
    listed = [names] if isinstance(names, str) else names
    if not isinstance(listed, Sequence) or not all(isinstance(n, str) for n in listed):
        raise TypeError(f"{what} must be a variable name or a list of names, not {names!r}")
    unknown = [n for n in listed if n not in variables]
    if unknown:
        raise ValueError(f"{what} names {', '.join(map(repr, unknown))}, not a variable of the "
                         f"fixed effects; the model's variables are {', '.join(variables)}")
    if len(set(listed)) < len(listed):
        raise ValueError(f"{what} names a variable twice: {list(listed)}")
    return list(listed)


def _check_level(level: float) -> None:
    if not isinstance(level, int | float) or not 0 < level < 1:
        raise ValueError(f"level must be a number between 0 and 1, not {level!r}")


def _check_trend_variable(grid: ReferenceGrid, var: str):
    if not isinstance(var, str):
        raise TypeError(f"var must be the name of a numeric variable, not {var!r}")
    variable = grid.variables.get(var)
    if variable is None:
        raise ValueError(f"var {var!r} is not a variable of the fixed effects; the model's "
                         f"variables are {', '.join(grid.variables)}")
    if variable.is_factor:
        raise ValueError(f"var {var!r} is a factor; emtrends needs a numeric variable")
    return variable


def resolve_ddf(model: LinearMixedModel, ddf: str | None) -> str:
    """The df method emmeans would use (``ddf=None``), or the one asked for, checked."""
    if ddf is None:
        return default_ddf(model)
    name = str(ddf).lower().replace("_", "-") if isinstance(ddf, str) else None
    if name not in DDF_METHODS:
        choices = ", ".join(repr(c) for c in DDF_METHODS)
        raise ValueError(f"unknown ddf {ddf!r}: choose one of {choices}")
    if name != "asymptotic" and is_glmm(model):
        raise ValueError(f"ddf={name!r} is for linear mixed models: a GLMM's tests are "
                         "asymptotic (z), as emmeans' for glmer fits")
    if name == "kenward-roger" and not model.reml:
        raise ValueError("ddf='kenward-roger' needs a REML fit (pbkrtest refits ML fits by "
                         "REML): refit with reml=True or use ddf='satterthwaite'")
    return name


def default_ddf(model: LinearMixedModel) -> str:
    """emmeans' choice for an lmer fit, Satterthwaite where Kenward–Roger cannot run."""
    from lmmpy.inference._kenward_roger import MAX_SIZE

    if is_glmm(model):
        return "asymptotic"
    size = model.objective.layout.size + len(model.fixef)
    if model.nobs <= PBKRTEST_LIMIT and model.reml and size <= MAX_SIZE:
        return "kenward-roger"
    if model.nobs <= LMERTEST_LIMIT:
        return "satterthwaite"
    return "asymptotic"


def _limit_note(model, ddf: str | None) -> str:
    """emmeans' note when its size limits, not the user, chose the df method."""
    if ddf is not None or is_glmm(model) or model.nobs <= min(PBKRTEST_LIMIT, LMERTEST_LIMIT):
        return ""
    skipped = ("Kenward-Roger and Satterthwaite df were" if model.nobs > LMERTEST_LIMIT
               else "Kenward-Roger df were")
    return (f"Note: {skipped} not computed because the number of observations ({model.nobs}) "
            f"exceeds {min(PBKRTEST_LIMIT, LMERTEST_LIMIT)} (emmeans' pbkrtest.limit and "
            "lmerTest.limit); pass ddf= to compute them")


def _tests(model: LinearMixedModel, grid: ReferenceGrid, L: np.ndarray, ddf: str
           ) -> pd.DataFrame:
    """t tests of the rows of L (over the grid's full columns); NaN where not estimable
    (R's "nonEst")."""
    estimable = grid.estimable(L)
    rows = [t_test(model, row, ddf) if ok else {} for row, ok in
            zip(grid.coefficients(L), estimable, strict=True)]
    table = pd.DataFrame(rows, columns=["estimate", "std_error", "df", "t_value", "p_value"])
    return table.astype(float).rename(columns={"t_value": "t_ratio"})


def _marginal_means(model, grid, means, L, estimate, specs, by, ddf, level, heading,
                    type: str = "link", note: str = "") -> MarginalMeans:
    tests = _tests(model, grid, L, ddf)
    df = tests["df"].to_numpy()
    quantile = np.where(np.isinf(df), stats.norm.ppf((1 + level) / 2),
                        stats.t.ppf((1 + level) / 2, np.where(np.isinf(df), 1.0, df)))
    half = quantile * tests["std_error"].to_numpy()
    frame = means.assign(**{estimate: tests["estimate"], "std_error": tests["std_error"],
                            "df": df, "lower_cl": tests["estimate"] - half,
                            "upper_cl": tests["estimate"] + half})
    notes = _notes(grid, specs + by, frame[estimate], ddf, f"Confidence level used: {level:g}")
    if back_transforms(model, type):
        frame = to_response(model, frame, estimate)
        notes.append(f"Intervals are back-transformed from the {model.family.link.name} scale")
    if note:
        notes.insert(0, note)
    if by:
        heading += f", by {', '.join(by)}"
    return MarginalMeans(model, grid, frame, L, specs=specs, by=by, ddf=ddf, level=level,
                         heading=heading, notes=notes, type=type)


def _notes(grid: ReferenceGrid, keys: list[str], estimates: pd.Series, ddf: str,
           last: str) -> list[str]:
    """What was averaged over, whether some rows are not estimable, the df method, ``last``."""
    averaged = [name for name in grid.variables
                if name not in keys and len(grid.values[name]) > 1]
    notes = [f"Averaged over: {', '.join(averaged)}" if averaged else "",
             _NOT_ESTIMABLE if estimates.isna().any() else "",
             f"Degrees-of-freedom method: {ddf}", last]
    return [note for note in notes if note]
