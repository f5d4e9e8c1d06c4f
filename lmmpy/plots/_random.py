"""Caterpillar plots of the conditional modes with their conditional intervals."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from scipy import stats

from lmmpy.plots._figure import PARTIAL_COLOR, check_level, panel_axes

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

    from lmmpy.results import LinearMixedModel


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
    modes, sds = ranef_table(model, group), model.ranef_condsd[group]
    check_level(level)
    z = stats.norm.ppf((1 + level) / 2)
    order = np.argsort(modes.iloc[:, 0].to_numpy(), kind="stable")
    axes = panel_axes(ax, len(modes.columns), share_y=True)
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


def ranef_table(model: LinearMixedModel, group: str) -> pd.DataFrame:
    if group not in model.ranef:
        raise ValueError(f"{group!r} is not a grouping factor of the model; it has: "
                         f"{', '.join(model.ranef)}")
    return model.ranef[group]
