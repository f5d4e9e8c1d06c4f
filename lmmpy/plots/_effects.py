"""Effect plots: the population-level prediction along one variable, with confidence bands.

The prediction Xβ̂ (random effects at zero, lme4's ``re.form = NA``) is drawn
over a grid of the variable — its observed range for a number, its levels for
a factor — with the pointwise interval Xβ̂ ± z·√(x'V̂(β̂)x).  ``by`` draws one
line per level of a factor, or at the mean and the mean ± one SD of a
number (the usual picture of an interaction).  Every other variable is held
at a typical value: a number at its mean, a factor at its most frequent
level (``at=`` overrides either), as a sentence under the plot says.

The values come from the model itself where it keeps them (a factor's
levels; a number's values when it is a column of X); a number used only
inside a transform (``log(x)``) needs ``data=``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from lmmpy.plots._figure import PARTIAL_COLOR, check_level, new_axes

if TYPE_CHECKING:
    from matplotlib.axes import Axes

    from lmmpy.results import LinearMixedModel

GRID_POINTS = 50


@dataclass(frozen=True)
class _Levels:
    """A factor's levels and, when the data were given, how often each occurs."""

    levels: list
    counts: np.ndarray | None = None


def effect_plot(model: LinearMixedModel, var: str, by: str | None = None, *,
                data: pd.DataFrame | None = None, at: Mapping[str, Any] | None = None,
                level: float = 0.95, ax: Axes | None = None) -> Axes:
    """Predicted response along ``var`` (population level), with confidence bands.

    Parameters
    ----------
    model : LinearMixedModel
    var : str
        The variable on the horizontal axis (a column the fixed part uses).
    by : str, optional
        One line per level of this factor, or at mean − SD, mean, mean + SD of this number.
    data : DataFrame, optional
        The data of the fit: its points are drawn too, and it gives the values of
        variables the model does not keep (those used only inside a transform).
    at : mapping, optional
        Values for the other variables (default: numbers at their mean, factors at
        their most frequent level).
    level : float, default 0.95
        Coverage of the bands.
    ax : matplotlib Axes, optional

    Returns
    -------
    matplotlib.axes.Axes

    Examples
    --------
    >>> import lmmpy
    >>> from lmmpy.plots import effect_plot
    >>> cake = lmmpy.datasets.load("cake")
    >>> m = lmmpy.lmer("angle ~ recipe + temp + (1 | recipe:replicate)", cake)
    >>> ax = effect_plot(m, "temp", by="recipe")
    >>> len(ax.lines), ax.get_xlabel()
    (3, 'temp')
    """
    check_level(level)
    values = _variable_values(model, data)
    for name in (var, by):
        if name is not None and name not in values:
            raise ValueError(f"{name!r} is not a variable of the fixed part; it uses: "
                             f"{', '.join(sorted(values))}")
    if by == var:
        raise ValueError("by must be another variable than var")
    grid = _grid(values, var, by, at or {})
    predicted = model.predict(grid, re_form=False, se_fit=True, interval="confidence",
                              level=level)
    ax = new_axes(ax)
    if data is not None and var in data:
        ax.scatter(data.loc[model.design.row_index, var], model.design.y, s=8, alpha=0.25,
                   color="grey", label="observations")
    _draw(ax, grid, predicted, var, by, values[var])
    ax.set(xlabel=var, ylabel=f"predicted {model.design.formula.response}",
           title=f"Effect of {var}" + (f" by {by}" if by else ""))
    held = _held_description(grid, var, by)
    if held:
        ax.annotate(held, (0, 0), xycoords="axes fraction", xytext=(0, -32),
                    textcoords="offset points", fontsize="x-small", color="grey", va="top")
    if by is not None or data is not None:
        ax.legend(loc="best", fontsize="small")
    return ax


def _draw(ax, grid, predicted, var, by, var_values) -> None:
    groups = [(None, grid.index)] if by is None else \
        [(label, part.index) for label, part in grid.groupby(by, sort=False, observed=True)]
    numeric = not isinstance(var_values, _Levels)
    for i, (label, rows) in enumerate(groups):
        x = grid.loc[rows, var].to_numpy()
        fit = predicted.loc[rows]
        name = None if label is None else f"{by} = {_short(label)}"
        color = PARTIAL_COLOR if by is None else f"C{i}"
        if numeric:
            ax.plot(x, fit["fit"], color=color, label=name)
            ax.fill_between(x, fit["lower"], fit["upper"], color=color, alpha=0.2, linewidth=0)
        else:
            offset = 0.0 if by is None else (i - (len(groups) - 1) / 2) * 0.12
            positions = np.arange(len(x)) + offset
            ax.errorbar(positions, fit["fit"], yerr=[fit["fit"] - fit["lower"],
                                                    fit["upper"] - fit["fit"]],
                        fmt="o-", color=color, capsize=3, label=name)
            ax.set_xticks(np.arange(len(x)), [str(v) for v in x])


def _short(value) -> str:
    return f"{value:.3g}" if isinstance(value, float) else str(value)


def _grid(values: dict, var: str, by: str | None, at: Mapping[str, Any]) -> pd.DataFrame:
    for name in at:
        if name not in values:
            raise ValueError(f"at names {name!r}, which is not a variable of the fixed part")
    axis = _axis_values(values[var])
    lines = [None] if by is None else _by_values(values[by])
    held = {name: at[name] if name in at else _typical(v) for name, v in values.items()}
    rows = []
    for line in lines:
        for x in axis:
            row = {**held, var: x}
            if by is not None:
                row[by] = line
            rows.append(row)
    grid = pd.DataFrame(rows)
    for name, v in values.items():
        if isinstance(v, _Levels):
            grid[name] = pd.Categorical(grid[name], categories=v.levels)
    return grid


def _axis_values(values):
    if isinstance(values, _Levels):
        return values.levels
    return np.linspace(np.min(values), np.max(values), GRID_POINTS)


def _by_values(values):
    if isinstance(values, _Levels):
        return values.levels
    mean, sd = float(np.mean(values)), float(np.std(values, ddof=1))
    return [mean - sd, mean, mean + sd]


def _typical(values):
    """The mean of a number; the most frequent level of a factor (its first as a tie)."""
    if isinstance(values, _Levels):
        if values.counts is None:
            return values.levels[0]
        return values.levels[int(np.argmax(values.counts))]
    return float(np.mean(values))


def _held_description(grid, var, by) -> str:
    held = [name for name in grid.columns if name not in (var, by)]
    if not held:
        return ""
    first = grid.iloc[0]
    return "other variables at: " + ", ".join(f"{name} = {_short(first[name])}"
                                              for name in held)


def _variable_values(model: LinearMixedModel, data: pd.DataFrame | None) -> dict:
    """Each variable of the fixed part: its observed numbers (ndarray) or its levels."""
    spec = model.design.X.spec
    names = model.design.X.names
    out = {}
    for name in sorted(spec.required_variables):
        if data is not None and name in data:
            column = data.loc[model.design.row_index, name]
            out[name] = _from_column(column)
        elif name in names:
            out[name] = model.design.X.values[:, names.index(name)]
        elif (levels := _categorical_levels(spec, name)) is not None:
            out[name] = levels
        else:
            raise ValueError(f"the model does not keep the values of {name!r} (it is used "
                             "only inside a transform): pass the fitted data as data=")
    return out


def _from_column(column: pd.Series):
    if isinstance(column.dtype, pd.CategoricalDtype) or not pd.api.types.is_numeric_dtype(
            column) or pd.api.types.is_bool_dtype(column):
        counts = column.value_counts(sort=False)
        levels = (list(column.cat.categories) if isinstance(column.dtype, pd.CategoricalDtype)
                  else sorted(counts.index))
        return _Levels(levels, counts.reindex(levels).fillna(0).to_numpy())
    return column.to_numpy(dtype=float)


def _categorical_levels(spec, name: str) -> _Levels | None:
    for key, (kind, state) in spec.encoder_state.items():
        if getattr(kind, "value", kind) != "categorical":
            continue
        if key == name or key.startswith(f"C({name},") or key.startswith(f"C({name})"):
            return _Levels(list(state["categories"]))
    return None
