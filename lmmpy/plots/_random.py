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


LABELLED_LEVELS = 60   # more rows than this and the level names are left off by default
ROW_HEIGHT = 0.2       # inches per level: 160 schools make a tall figure, not a smear


def caterpillar_plot(model: LinearMixedModel, group: str | None = None, level: float = 0.95,
                     ax: Axes | Sequence[Axes] | None = None, *, top_n: int | None = None,
                     labels: bool | None = None) -> Figure:
    """Conditional modes of the random effects with their conditional intervals, sorted.

    One panel per random effect of the grouping factor; the levels are sorted by the
    first effect, in every panel (as lme4's ``dotplot``).  A new figure grows with the
    number of levels shown (0.2 inch each), so each stays readable.

    Parameters
    ----------
    model : LinearMixedModel
    group : str, optional
        Grouping factor; default the first of ``model.ranef``.
    level : float, default 0.95
        Coverage of the intervals b̂ ± z sd(b | y).
    ax : Axes or sequence of Axes, optional
        One per random effect of ``group``.
    top_n : int, optional
        Show only the ``top_n`` levels whose first effect lies farthest from zero
        (the most extreme groups), still sorted.
    labels : bool, optional
        Name each level on the axis; default only when at most 60 levels are shown.

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
    >>> len(caterpillar_plot(m, top_n=5).axes[0].get_yticklabels())
    5
    """
    group = next(iter(model.ranef)) if group is None else group
    modes, sds = ranef_table(model, group), model.ranef_condsd[group]
    check_level(level)
    z = stats.norm.ppf((1 + level) / 2)
    order = _shown_levels(modes.iloc[:, 0].to_numpy(), top_n)
    labels = len(order) <= LABELLED_LEVELS if labels is None else labels
    # a named row needs room for its label; unnamed, the levels only show a distribution
    height = ROW_HEIGHT * len(order) + 1.2 if labels else 0.02 * len(order) + 3.0
    axes = panel_axes(ax, len(modes.columns), share_y=True, height=min(max(3.0, height), 40.0))
    positions = np.arange(len(order))
    for panel, effect in zip(axes, modes.columns, strict=True):
        mode, sd = modes[effect].to_numpy()[order], sds[effect].to_numpy()[order]
        crowded = len(order) > LABELLED_LEVELS
        panel.errorbar(mode, positions, xerr=z * sd, fmt="o", markersize=2.5 if crowded else 4,
                       elinewidth=0.6 if crowded else 1.5, capsize=0, color=PARTIAL_COLOR,
                       ecolor="grey")
        panel.axvline(0.0, color="grey", linewidth=1, linestyle="--")
        panel.set(xlabel=f"conditional mode, {level:.0%} interval", title=f"{effect} | {group}")
    shown = modes.index[order]
    if labels:
        axes[0].set_yticks(positions, [str(label) for label in shown])
    else:
        axes[0].set_yticks([])
    what = "" if top_n is None or top_n >= len(modes) else f" ({len(order)} most extreme)"
    axes[0].set_ylabel(f"{group}{what}")
    return axes[0].figure


def _shown_levels(first_effect: np.ndarray, top_n: int | None) -> np.ndarray:
    """Indices of the levels to draw, sorted by their first effect."""
    if top_n is not None:
        if isinstance(top_n, bool) or not isinstance(top_n, int | np.integer) or top_n < 1:
            raise ValueError(f"top_n must be a positive whole number, not {top_n!r}")
        extreme = np.argsort(-np.abs(first_effect), kind="stable")[:top_n]
        return extreme[np.argsort(first_effect[extreme], kind="stable")]
    return np.argsort(first_effect, kind="stable")


def ranef_table(model: LinearMixedModel, group: str) -> pd.DataFrame:
    if group not in model.ranef:
        raise ValueError(f"{group!r} is not a grouping factor of the model; it has: "
                         f"{', '.join(model.ranef)}")
    return model.ranef[group]
