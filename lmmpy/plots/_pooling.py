"""Pooling figures: Simpson's paradox (pooled, within and between lines) and shrinkage."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from lmmpy.plots._figure import NO_POOLING_COLOR, PARTIAL_COLOR, POOLED_COLOR, new_axes

if TYPE_CHECKING:
    from matplotlib.axes import Axes


TARGETS_LABEL = "each group's target: β̂ with its group-level predictors"


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
    ax = new_axes(ax)
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


def shrinkage_plot(source: Any, effects: str | Sequence[str] | None = None,
                   group: str | None = None, ax: Axes | None = None) -> Axes:
    """No-pooling → partial-pooling estimate of each group, with arrows, and the target.

    The target is what partial pooling pulls a group towards: the population
    estimate β̂ (one point, or one line in 1-D) when the model has no group-level
    predictors; with them, each group's own fixed-part value β̂ + z_j β̂_z (a
    cross per group, joined to its partial-pooling estimate).

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
    ax = new_axes(ax)
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
    target: pd.DataFrame  # what each group is shrunk towards (the fixed part's value)

    @property
    def effects(self) -> list[str]:
        return list(self.none.columns)

    def common_target(self, effects: list[str]) -> pd.Series | None:
        """The target when every group shares it (no group-level predictors), else None."""
        values = self.target[effects].to_numpy()
        finite = values[np.all(np.isfinite(values), axis=1)]
        if len(finite) == 0 or not np.allclose(finite, finite[0], rtol=1e-9, atol=1e-12):
            return None
        return pd.Series(finite[0], index=effects)


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
    table = tables[group]
    return _Shrinkage(str(group), table["none"], table["partial"], table["target"])


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
    common = table.common_target([effect])
    if common is not None:
        ax.axvline(common[effect], color=POOLED_COLOR, linewidth=1.5,
                   label="population estimate β̂")
    else:
        ax.scatter(table.target[effect].to_numpy()[order], rows, marker="|", s=80,
                   color=POOLED_COLOR, label=TARGETS_LABEL, zorder=4)
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
    common = table.common_target(effects)
    if common is not None:
        ax.scatter([common[first]], [common[second]], marker="X",
                   s=120, color=POOLED_COLOR, label="population estimate β̂", zorder=4)
    else:
        target = table.target[effects].to_numpy()
        ax.scatter(target[:, 0], target[:, 1], marker="x", s=30, color=POOLED_COLOR,
                   label=TARGETS_LABEL, zorder=4)
        for end, goal in zip(partial, target, strict=True):
            ax.plot([end[0], goal[0]], [end[1], goal[1]], color=POOLED_COLOR, linewidth=0.5,
                    alpha=0.4)
    ax.set(xlabel=first, ylabel=second, title=f"Shrinkage by {table.group}")


def _arrow(ax: Axes, start: tuple[float, float], end: tuple[float, float]) -> None:
    ax.annotate("", xy=end, xytext=start,
                arrowprops={"arrowstyle": "->", "color": "grey", "linewidth": 0.8,
                            "shrinkA": 0, "shrinkB": 3})
