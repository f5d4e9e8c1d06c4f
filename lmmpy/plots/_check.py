"""One panel of model checks, as R's ``performance::check_model``.

Six panels, each answering one question about the assumptions:

* linearity — residuals against fitted values, with a local linear smoother
  (a trend in the smoother says the fixed part misses a curve);
* homogeneity of variance — scale-location: √|standardised residual| against
  fitted values, with a smoother (a slope says the spread changes);
* normality of the residuals — their normal QQ plot;
* normality of the random effects — the QQ plot of each grouping factor's
  conditional modes, each effect divided by its SD so they share an axis;
* influence by group — Cook's distance of each level of the grouping factor
  in which every term is nested (:func:`lmmpy.diagnostics.group_influence`),
  the largest labelled; with crossed factors no level separates the data and
  the panel says so;
* fit — observed against fitted values, with the identity line.

The smoother is a LOWESS-style local linear fit with tricube weights over
the nearest two thirds of the points (Cleveland 1979), evaluated on a grid,
without robustness iterations.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from scipy import stats

from lmmpy.plots._figure import NO_POOLING_COLOR, PARTIAL_COLOR, pyplot
from lmmpy.plots._residuals import _ppoints, qq_plot

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

    from lmmpy.results import LinearMixedModel

SMOOTHER_SPAN = 2 / 3
SMOOTHER_POINTS = 60
LABELLED_GROUPS = 3   # the most influential levels named in the influence panel


def check_model(model: LinearMixedModel) -> Figure:
    """A 2 × 3 panel of diagnostic plots (see the module docstring).

    Parameters
    ----------
    model : LinearMixedModel

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> import lmmpy
    >>> from lmmpy.plots import check_model
    >>> m = lmmpy.lmer("Reaction ~ Days + (Days | Subject)", lmmpy.datasets.load("sleepstudy"))
    >>> [ax.get_title() for ax in check_model(m).axes][:2]
    ['Linearity', 'Homogeneity of variance']
    """
    figure, axes = pyplot().subplots(2, 3, figsize=(13.5, 8.0), layout="constrained")
    panels = axes.ravel()
    _linearity(model, panels[0])
    _scale_location(model, panels[1])
    qq_plot(model, ax=panels[2])
    panels[2].set_title("Normality of residuals")
    _random_effects_qq(model, panels[3])
    _influence(model, panels[4])
    _observed_fitted(model, panels[5])
    figure.suptitle(f"Model checks: {model.formula}")
    return figure


def smooth(x: np.ndarray, y: np.ndarray, span: float = SMOOTHER_SPAN,
           points: int = SMOOTHER_POINTS) -> tuple[np.ndarray, np.ndarray]:
    """A local linear smoother with tricube weights on a grid of ``points`` x values.

    Examples
    --------
    >>> x = np.linspace(0, 1, 50)
    >>> grid, fitted = smooth(x, 2 * x + 1)
    >>> bool(np.allclose(fitted, 2 * grid + 1))
    True
    """
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    grid = np.linspace(x.min(), x.max(), points)
    k = max(3, int(np.ceil(span * len(x))))
    fitted = np.empty(points)
    for i, centre in enumerate(grid):
        distance = np.abs(x - centre)
        reach = np.partition(distance, min(k, len(x)) - 1)[min(k, len(x)) - 1]
        weight = np.clip(1 - (distance / max(reach, 1e-300)) ** 3, 0, None) ** 3
        fitted[i] = _weighted_line_at(x, y, weight, centre)
    return grid, fitted


def _weighted_line_at(x, y, weight, centre) -> float:
    total = weight.sum()
    mean_x, mean_y = weight @ x / total, weight @ y / total
    spread = weight @ (x - mean_x) ** 2
    slope = weight @ ((x - mean_x) * (y - mean_y)) / spread if spread > 0 else 0.0
    return float(mean_y + slope * (centre - mean_x))


def _linearity(model: LinearMixedModel, ax: Axes) -> None:
    fitted, residuals = model.fitted.to_numpy(), model.residuals.to_numpy()
    ax.scatter(fitted, residuals, s=10, alpha=0.5, color=PARTIAL_COLOR)
    ax.plot(*smooth(fitted, residuals), color=NO_POOLING_COLOR, linewidth=2)
    ax.axhline(0.0, color="grey", linewidth=1, linestyle="--")
    ax.set(title="Linearity", xlabel="fitted values", ylabel="residuals")


def _scale_location(model: LinearMixedModel, ax: Axes) -> None:
    fitted = model.fitted.to_numpy()
    residuals = model.residuals.to_numpy()
    if model.design.weights is not None:
        residuals = residuals * np.sqrt(model.design.weights)
    root = np.sqrt(np.abs(residuals / model.sigma))
    ax.scatter(fitted, root, s=10, alpha=0.5, color=PARTIAL_COLOR)
    ax.plot(*smooth(fitted, root), color=NO_POOLING_COLOR, linewidth=2)
    ax.set(title="Homogeneity of variance", xlabel="fitted values",
           ylabel="√|standardised residual|")


def _random_effects_qq(model: LinearMixedModel, ax: Axes) -> None:
    for group, table in model.ranef.items():
        for effect in table.columns:
            values = table[effect].to_numpy()
            scale = np.std(values)
            if len(values) < 3 or scale == 0:
                continue
            ax.scatter(stats.norm.ppf(_ppoints(len(values))), np.sort(values) / scale, s=12,
                       alpha=0.7, label=f"{effect} | {group}")
    ax.axline((0.0, 0.0), slope=1.0, color="grey", linewidth=1, linestyle="--")
    if ax.collections:
        ax.legend(loc="upper left", fontsize="small")
    ax.set(title="Normality of random effects", xlabel="standard normal quantiles",
           ylabel="conditional mode / its SD")


def _influence(model: LinearMixedModel, ax: Axes) -> None:
    from lmmpy.diagnostics import group_influence

    ax.set(title="Influence by group", ylabel="Cook's distance (θ̂ fixed)")
    try:
        table = group_influence(model)
    except ValueError:
        ax.text(0.5, 0.5, "no grouping factor nests every term:\nleaving out a level does "
                "not\nseparate the data (crossed factors)", ha="center", va="center",
                transform=ax.transAxes, color="grey")
        ax.set(xticks=[], yticks=[])
        return
    cooks = table["cooks_distance"].to_numpy()
    positions = np.arange(len(cooks))
    ax.vlines(positions, 0, np.nan_to_num(cooks), color=PARTIAL_COLOR, linewidth=1)
    ax.scatter(positions, cooks, s=10, color=PARTIAL_COLOR)
    for index in np.argsort(-np.nan_to_num(cooks))[:LABELLED_GROUPS]:
        ax.annotate(str(table.index[index]), (positions[index], cooks[index]),
                    textcoords="offset points", xytext=(3, 3), fontsize="small")
    ax.set_xlabel(f"{table.index.name} (in level order)")


def _observed_fitted(model: LinearMixedModel, ax: Axes) -> None:
    fitted, observed = model.fitted.to_numpy(), model.design.y
    ax.scatter(fitted, observed, s=10, alpha=0.5, color=PARTIAL_COLOR)
    ax.axline((float(fitted.mean()), float(fitted.mean())), slope=1.0, color="grey",
              linewidth=1, linestyle="--")
    ax.set(title="Observed vs fitted", xlabel="fitted values", ylabel="observed")
