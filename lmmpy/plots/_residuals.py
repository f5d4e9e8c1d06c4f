"""Residuals against fitted values and normal QQ plots of residuals and random effects."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from scipy import stats

from lmmpy.plots._figure import PARTIAL_COLOR, new_axes
from lmmpy.plots._random import ranef_table

if TYPE_CHECKING:
    from matplotlib.axes import Axes

    from lmmpy.results import LinearMixedModel


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
    ax = new_axes(ax)
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
    ax = new_axes(ax)
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
    table = ranef_table(model, which)
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
