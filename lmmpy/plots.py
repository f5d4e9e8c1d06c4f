"""Figures for fitted models and for the pooling comparison (matplotlib, imported lazily).

Install the extra with ``pip install "lmmpy[plots]"``; ``import lmmpy`` does not
import matplotlib, each function does when called.  Each takes an optional ``ax``
(an Axes, or a sequence of Axes for the several-panel figures) and returns the
Axes it drew on, or the Figure for the several-panel ones.

What is drawn:

* ``shrinkage_plot``: each group's no-pooling estimate (its own OLS fit) with an
  arrow to its partial-pooling estimate (fixed effect + conditional mode b̂), and
  the population estimate β̂ they are pulled towards (Gelman & Hill 2007, ch. 12).
  Groups with less information move further.  One axis per random effect: 1-D for
  a random intercept, the intercept-slope plane for intercept + slope.
* ``caterpillar_plot``: conditional modes b̂ with intervals b̂ ± z·sd(b | y) from
  the conditional variances (lme4's ``dotplot(ranef(m, condVar = TRUE))``), sorted.
* ``residual_plot``: residuals y − ŷ against fitted values ŷ.
* ``qq_plot``: normal quantile-quantile plot of the residuals or of one random effect,
  with the line through the first and third quartiles (R's ``qqline``).  Plotting
  positions (i − a)/(n + 1 − 2a) with a = 3/8 for n ≤ 10, else 1/2 (R's ``ppoints``).
* ``simpson_plot``: the pooled OLS line, each group's own OLS line, the group
  means and the OLS line through them (the between-group slope): where the
  within-group and between-group slopes differ, the pooled line mixes the two
  (Simpson's paradox).
* ``profile_plot``: the profile zeta ζ(value) of each parameter (Bates et al. 2015,
  sec. 5.1), with the ±z levels of a 95% interval.

References
----------
Gelman, A. & Hill, J. (2007). *Data Analysis Using Regression and
Multilevel/Hierarchical Models*. Cambridge University Press.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from scipy import stats

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

    from lmmpy.results import LinearMixedModel

__all__ = [
    "caterpillar_plot",
    "profile_plot",
    "qq_plot",
    "residual_plot",
    "shrinkage_plot",
    "simpson_plot",
]

POOLED_COLOR = "black"
NO_POOLING_COLOR = "tab:red"
PARTIAL_COLOR = "tab:blue"


# ---- residuals ---------------------------------------------------------------------------
def residual_plot(model: LinearMixedModel, ax: Axes | None = None) -> Axes:
    """Residuals against fitted values.

    Parameters
    ----------
    model : LinearMixedModel
    ax : matplotlib Axes, optional
        Drawn on a new figure if omitted.

    Returns
    -------
    matplotlib.axes.Axes

    Examples
    --------
    >>> import lmmpy
    >>> from lmmpy.plots import residual_plot
    >>> m = lmmpy.lmer("Reaction ~ Days + (Days | Subject)", lmmpy.datasets.load("sleepstudy"))
    >>> residual_plot(m).get_xlabel()
    'fitted values'
    """
    ax = _new_axes(ax)
    ax.scatter(model.fitted, model.residuals, s=12, alpha=0.7, color=PARTIAL_COLOR)
    ax.axhline(0.0, color="grey", linewidth=1, linestyle="--")
    ax.set(xlabel="fitted values", ylabel="residuals", title="Residuals vs fitted")
    return ax


def qq_plot(model: LinearMixedModel, which: str = "residuals", effect: str | None = None,
            ax: Axes | None = None) -> Axes:
    """Normal QQ plot of the residuals or of the conditional modes of one random effect.

    Parameters
    ----------
    model : LinearMixedModel
    which : str, default "residuals"
        ``"residuals"``, or a grouping factor (a key of ``model.ranef``).
    effect : str, optional
        The random effect of that grouping factor (a column of ``model.ranef[which]``);
        default its first, usually ``(Intercept)``.
    ax : matplotlib Axes, optional

    Examples
    --------
    >>> import lmmpy
    >>> from lmmpy.plots import qq_plot
    >>> m = lmmpy.lmer("Reaction ~ Days + (Days | Subject)", lmmpy.datasets.load("sleepstudy"))
    >>> qq_plot(m, "Subject", "Days").get_title()
    'Normal QQ plot: Days | Subject'
    """
    values, label = _qq_values(model, which, effect)
    theoretical = stats.norm.ppf(_ppoints(len(values)))
    ax = _new_axes(ax)
    ax.scatter(theoretical, np.sort(values), s=14, color=PARTIAL_COLOR)
    slope, intercept = _quartile_line(values)
    ax.axline((0.0, intercept), slope=slope, color="grey", linewidth=1, linestyle="--")
    ax.set(xlabel="standard normal quantiles", ylabel=f"{label} (sample quantiles)",
           title=f"Normal QQ plot: {label}")
    return ax


def _qq_values(model: LinearMixedModel, which: str, effect: str | None) -> tuple[np.ndarray, str]:
    if which == "residuals":
        if effect is not None:
            raise ValueError("effect is only used with a grouping factor, not with 'residuals'")
        return model.residuals.to_numpy(), "residuals"
    table = _ranef_table(model, which)
    effect = table.columns[0] if effect is None else effect
    if effect not in table.columns:
        raise ValueError(f"{effect!r} is not a random effect of {which!r}; it has: "
                         f"{', '.join(map(str, table.columns))}")
    return table[effect].to_numpy(), f"{effect} | {which}"


def _ppoints(n: int) -> np.ndarray:
    a = 3 / 8 if n <= 10 else 1 / 2
    return (np.arange(1, n + 1) - a) / (n + 1 - 2 * a)


def _quartile_line(values: np.ndarray) -> tuple[float, float]:
    """Slope and intercept of the line through the sample and normal quartiles."""
    y1, y3 = np.quantile(values, [0.25, 0.75])
    x1, x3 = stats.norm.ppf([0.25, 0.75])
    slope = (y3 - y1) / (x3 - x1)
    return slope, y1 - slope * x1


# ---- random effects ----------------------------------------------------------------------
def caterpillar_plot(model: LinearMixedModel, group: str | None = None, level: float = 0.95,
                     ax: Axes | Sequence[Axes] | None = None) -> Figure:
    """Conditional modes of the random effects with their conditional intervals, sorted.

    One panel per random effect of the grouping factor; the levels are sorted by the
    first effect, in every panel (as lme4's ``dotplot``).

    Parameters
    ----------
    model : LinearMixedModel
    group : str, optional
        Grouping factor; default the first of ``model.ranef``.
    level : float, default 0.95
        Coverage of the intervals b̂ ± z sd(b | y).
    ax : Axes or sequence of Axes, optional
        One per random effect of ``group``.

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> import lmmpy
    >>> from lmmpy.plots import caterpillar_plot
    >>> m = lmmpy.lmer("Reaction ~ Days + (Days | Subject)", lmmpy.datasets.load("sleepstudy"))
    >>> len(caterpillar_plot(m).axes)
    2
    """
    group = next(iter(model.ranef)) if group is None else group
    modes, sds = _ranef_table(model, group), model.ranef_condsd[group]
    _check_level(level)
    z = stats.norm.ppf((1 + level) / 2)
    order = np.argsort(modes.iloc[:, 0].to_numpy(), kind="stable")
    axes = _panel_axes(ax, len(modes.columns), share_y=True)
    positions = np.arange(len(modes))
    for panel, effect in zip(axes, modes.columns, strict=True):
        mode, sd = modes[effect].to_numpy()[order], sds[effect].to_numpy()[order]
        panel.errorbar(mode, positions, xerr=z * sd, fmt="o", markersize=4, capsize=0,
                       color=PARTIAL_COLOR, ecolor="grey")
        panel.axvline(0.0, color="grey", linewidth=1, linestyle="--")
        panel.set(xlabel=f"conditional mode, {level:.0%} interval", title=f"{effect} | {group}")
    axes[0].set_yticks(positions, [str(label) for label in modes.index[order]])
    axes[0].set_ylabel(group)
    return axes[0].figure


def _ranef_table(model: LinearMixedModel, group: str) -> pd.DataFrame:
    if group not in model.ranef:
        raise ValueError(f"{group!r} is not a grouping factor of the model; it has: "
                         f"{', '.join(model.ranef)}")
    return model.ranef[group]


def _check_level(level: float) -> None:
    if not 0 < level < 1:
        raise ValueError(f"level must be between 0 and 1, not {level!r}")


# ---- Simpson's paradox -------------------------------------------------------------------
def simpson_plot(data: pd.DataFrame, x: str, y: str, group: str,
                 ax: Axes | None = None) -> Axes:
    """Pooled OLS line, each group's own OLS line, the group means and the line through them.

    The pooled line (all observations, groups ignored) mixes the within-group
    slope (the red lines) and the between-group slope (the dashed line through
    the group means); where those differ in sign the pooled slope can have the
    sign of neither group's own (Simpson's paradox).

    Parameters
    ----------
    data : DataFrame
    x, y : str
        Predictor and response columns (numeric).
    group : str
        Grouping column.  Groups whose ``x`` is constant get no line.
    ax : matplotlib Axes, optional

    Examples
    --------
    >>> import lmmpy
    >>> from lmmpy.plots import simpson_plot
    >>> ax = simpson_plot(lmmpy.datasets.load("sleepstudy"), "Days", "Reaction", "Subject")
    >>> len(ax.lines)  # 18 subjects' lines and the pooled line (Days has equal means)
    19
    """
    frame = _simpson_frame(data, x, y, group)
    ax = _new_axes(ax)
    ax.scatter(frame[x], frame[y], s=8, alpha=0.3, color="grey", label="observations")
    for index, (_, part) in enumerate(frame.groupby(group, observed=True, sort=True)):
        _within_line(ax, part[x].to_numpy(), part[y].to_numpy(), first=index == 0)
    means = frame.groupby(group, observed=True)[[x, y]].mean()
    ax.scatter(means[x], means[y], s=40, color=NO_POOLING_COLOR, edgecolor="white",
               zorder=3, label="group means")
    if len(means) > 1 and np.ptp(means[x].to_numpy()) > 0:
        between, level = np.polyfit(means[x].to_numpy(), means[y].to_numpy(), 1)
        ax.axline((0.0, level), slope=between, color=NO_POOLING_COLOR, linewidth=2,
                  linestyle="--", label=f"between groups: OLS on means (slope {between:.3g})")
    slope, intercept = np.polyfit(frame[x].to_numpy(), frame[y].to_numpy(), 1)
    ax.axline((0.0, intercept), slope=slope, color=POOLED_COLOR, linewidth=2.5,
              label=f"pooled OLS (slope {slope:.3g})")
    ax.set(xlabel=x, ylabel=y, title="Pooled, within-group and between-group lines")
    ax.legend(loc="best", fontsize="small")
    return ax


def _simpson_frame(data: pd.DataFrame, x: str, y: str, group: str) -> pd.DataFrame:
    if not isinstance(data, pd.DataFrame):
        raise TypeError(f"data must be a pandas DataFrame, not {type(data).__name__}")
    for column in (x, y, group):
        if column not in data.columns:
            raise ValueError(f"column {column!r} is not in the data")
    for column in (x, y):
        if not pd.api.types.is_numeric_dtype(data[column]):
            raise TypeError(f"column {column!r} must be numeric, not {data[column].dtype}")
    return data[[x, y, group]].dropna()


def _within_line(ax: Axes, x: np.ndarray, y: np.ndarray, first: bool) -> None:
    if np.ptp(x) == 0:
        return
    slope, intercept = np.polyfit(x, y, 1)
    ends = np.array([x.min(), x.max()])
    ax.plot(ends, intercept + slope * ends, color=NO_POOLING_COLOR, linewidth=1, alpha=0.6,
            label="within-group OLS" if first else "_nolegend_")


# ---- shrinkage ---------------------------------------------------------------------------
def shrinkage_plot(source: Any, effects: str | Sequence[str] | None = None,
                   group: str | None = None, ax: Axes | None = None) -> Axes:
    """No-pooling → partial-pooling estimate of each group, with arrows, and β̂.

    Parameters
    ----------
    source : LinearMixedModel or PoolingComparison
        A fitted model (its ``compare_pooling()`` is computed) or the result of
        ``lmmpy.compare_pooling``; the estimates are its ``group_estimates``.
    effects : str or sequence of one or two str, optional
        Which group-level coefficients to draw: one gives a 1-D plot (groups on the
        vertical axis, sorted by their no-pooling estimate), two the plane of the
        two.  Default: the first two columns of the grouping factor's random
        effects (the intercept and a slope), or its only one.
    group : str, optional
        Grouping factor, when the model has several; default the first.
    ax : matplotlib Axes, optional

    Returns
    -------
    matplotlib.axes.Axes

    Examples
    --------
    >>> import lmmpy
    >>> from lmmpy.plots import shrinkage_plot
    >>> m = lmmpy.lmer("Reaction ~ Days + (Days | Subject)", lmmpy.datasets.load("sleepstudy"))
    >>> ax = shrinkage_plot(m)
    >>> ax.get_xlabel(), ax.get_ylabel()
    ('(Intercept)', 'Days')
    """
    table = _shrinkage_table(source, group)
    effects = _choose_effects(table, effects)
    ax = _new_axes(ax)
    if len(effects) == 1:
        _shrinkage_1d(ax, table, effects[0])
    else:
        _shrinkage_2d(ax, table, effects)
    ax.legend(loc="best", fontsize="small")
    return ax


@dataclass(frozen=True)
class _Shrinkage:
    group: str
    none: pd.DataFrame  # levels × effects
    partial: pd.DataFrame
    population: pd.Series  # β̂ of each effect (NaN where the effect is not a fixed effect)

    @property
    def effects(self) -> list[str]:
        return list(self.none.columns)


def _shrinkage_table(source: Any, group: str | None) -> _Shrinkage:
    comparison = source.compare_pooling() if hasattr(source, "compare_pooling") else source
    tables = getattr(comparison, "group_estimates", None)
    if tables is None:
        raise TypeError("shrinkage_plot needs a fitted model or a PoolingComparison, not "
                        f"{type(source).__name__}")
    if isinstance(tables, pd.DataFrame):
        tables = {tables.index.name: tables}
    group = next(iter(tables)) if group is None else group
    if group not in tables:
        raise ValueError(f"{group!r} is not a grouping factor of the comparison; it has: "
                         f"{', '.join(map(str, tables))}")
    none, partial = tables[group]["none"], tables[group]["partial"]
    population = comparison.coefficients["partial"].reindex(none.columns)
    return _Shrinkage(str(group), none, partial, population)


def _choose_effects(table: _Shrinkage, effects: str | Sequence[str] | None) -> list[str]:
    available = table.effects
    if effects is None:
        return available[:2]
    effects = [effects] if isinstance(effects, str) else list(effects)
    if not 1 <= len(effects) <= 2:
        raise ValueError(f"effects must name one or two coefficients, not {len(effects)}")
    for effect in effects:
        if effect not in available:
            raise ValueError(f"{effect!r} has no group-level estimates; choose from: "
                             f"{', '.join(available)}")
    return effects


def _shrinkage_1d(ax: Axes, table: _Shrinkage, effect: str) -> None:
    none, partial = table.none[effect], table.partial[effect]
    order = np.argsort(none.to_numpy(), kind="stable")
    rows = np.arange(len(none))
    ax.scatter(none.to_numpy()[order], rows, color=NO_POOLING_COLOR, s=25,
               label="no pooling (own OLS fit)", zorder=3)
    ax.scatter(partial.to_numpy()[order], rows, color=PARTIAL_COLOR, s=25,
               label="partial pooling (mixed model)", zorder=3)
    for start, end, row in zip(none.to_numpy()[order], partial.to_numpy()[order], rows,
                               strict=True):
        _arrow(ax, (start, row), (end, row))
    if np.isfinite(table.population[effect]):
        ax.axvline(table.population[effect], color=POOLED_COLOR, linewidth=1.5,
                   label="population estimate β̂")
    ax.set_yticks(rows, [str(label) for label in none.index[order]])
    ax.set(xlabel=effect, ylabel=table.group, title=f"Shrinkage of {effect} by {table.group}")


def _shrinkage_2d(ax: Axes, table: _Shrinkage, effects: list[str]) -> None:
    first, second = effects
    none, partial = table.none[effects].to_numpy(), table.partial[effects].to_numpy()
    ax.scatter(none[:, 0], none[:, 1], color=NO_POOLING_COLOR, s=25,
               label="no pooling (own OLS fit)", zorder=3)
    ax.scatter(partial[:, 0], partial[:, 1], color=PARTIAL_COLOR, s=25,
               label="partial pooling (mixed model)", zorder=3)
    for start, end in zip(none, partial, strict=True):
        _arrow(ax, tuple(start), tuple(end))
    if np.all(np.isfinite(table.population[effects])):
        ax.scatter([table.population[first]], [table.population[second]], marker="X",
                   s=120, color=POOLED_COLOR, label="population estimate β̂", zorder=4)
    ax.set(xlabel=first, ylabel=second, title=f"Shrinkage by {table.group}")


def _arrow(ax: Axes, start: tuple[float, float], end: tuple[float, float]) -> None:
    ax.annotate("", xy=end, xytext=start,
                arrowprops={"arrowstyle": "->", "color": "grey", "linewidth": 0.8,
                            "shrinkA": 0, "shrinkB": 3})


# ---- profile -----------------------------------------------------------------------------
def profile_plot(source: Any, level: float = 0.95,
                 ax: Sequence[Axes] | None = None) -> Figure:
    """Profile zeta ζ against each parameter's value, with the ±z lines of a ``level`` interval.

    ζ is the signed square root of the likelihood-ratio statistic; where it crosses
    ±z the profile interval ends.  A straight line means the Wald interval is good.

    Parameters
    ----------
    source : LinearMixedModel or DataFrame
        A model (``source.profile()`` is called) or a profile table with columns
        ``parameter``, ``value``, ``zeta``.
    level : float, default 0.95
    ax : sequence of Axes, optional
        One per parameter.

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> import pandas as pd
    >>> from lmmpy.plots import profile_plot
    >>> frame = pd.DataFrame({"parameter": ["sigma"] * 3, "value": [1.0, 2.0, 3.0],
    ...                       "zeta": [-2.0, 0.0, 2.0]})
    >>> len(profile_plot(frame).axes)
    1
    """
    frame = _profile_frame(source)
    _check_level(level)
    z = stats.norm.ppf((1 + level) / 2)
    parameters = list(dict.fromkeys(frame["parameter"]))
    axes = _panel_axes(ax, len(parameters), share_y=True, max_columns=3)
    for panel, name in zip(axes, parameters, strict=True):
        part = frame[frame["parameter"] == name].sort_values("value")
        panel.plot(part["value"], part["zeta"], color=PARTIAL_COLOR, marker=".")
        for height in (-z, 0.0, z):
            panel.axhline(height, color="grey", linewidth=1, linestyle=":" if height else "-")
        panel.set(title=str(name))
    for panel in axes[::3]:
        panel.set_ylabel("ζ (profile zeta)")
    return axes[0].figure


def _profile_frame(source: Any) -> pd.DataFrame:
    frame = source if isinstance(source, pd.DataFrame) else source.profile()
    if not isinstance(frame, pd.DataFrame):
        raise TypeError(f"profile must be a DataFrame, not {type(frame).__name__}")
    missing = [c for c in ("parameter", "value", "zeta") if c not in frame.columns]
    if missing:
        raise ValueError(f"profile table lacks column(s) {', '.join(missing)}; it needs "
                         "parameter, value, zeta")
    return frame


# ---- figure helpers ----------------------------------------------------------------------
def _pyplot():
    try:
        import matplotlib.pyplot as plt
    except ImportError as error:  # pragma: no cover - exercised only without matplotlib
        raise ImportError('lmmpy.plots needs matplotlib: pip install "lmmpy[plots]"') from error
    return plt


def _new_axes(ax: Axes | None) -> Axes:
    if ax is not None:
        return ax
    _, ax = _pyplot().subplots(figsize=(6, 4.5), layout="constrained")
    return ax


def _panel_axes(ax: Axes | Sequence[Axes] | None, n: int, share_y: bool,
                max_columns: int | None = None) -> list[Axes]:
    if ax is None:
        columns = n if max_columns is None else min(n, max_columns)
        rows = -(-n // columns)
        _, axes = _pyplot().subplots(rows, columns, figsize=(min(4.0 * columns, 16.0), 4 * rows),
                                     sharey=share_y, squeeze=False, layout="constrained")
        for extra in axes.ravel()[n:]:
            extra.remove()
        return list(axes.ravel()[:n])
    axes = [ax] if not isinstance(ax, Sequence | np.ndarray) else list(np.ravel(ax))
    if len(axes) != n:
        raise ValueError(f"ax must hold {n} Axes, one per panel, not {len(axes)}")
    return axes
