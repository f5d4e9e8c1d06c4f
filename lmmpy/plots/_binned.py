"""The binned-residuals plot of a binomial model (Gelman & Hill 2007, §5.6; R's
``plot(performance::binned_residuals(m))``)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from lmmpy.plots._figure import NO_POOLING_COLOR, PARTIAL_COLOR, new_axes

if TYPE_CHECKING:
    import pandas as pd
    from matplotlib.axes import Axes

    from lmmpy.glmm import GeneralizedLinearMixedModel


def binned_residuals_plot(model: GeneralizedLinearMixedModel, term: str | None = None,
                          n_bins: int | None = None, data: pd.DataFrame | None = None,
                          ax: Axes | None = None) -> Axes:
    """Mean residual per bin against the bin's mean fitted value (or ``term``), with the
    ±1.96 s/√n band; bins outside it in red.

    See :func:`lmmpy.diagnostics.binned_residuals` for the bins and the arguments.

    Examples
    --------
    >>> import lmmpy
    >>> from lmmpy.plots import binned_residuals_plot
    >>> m = lmmpy.glmer("y ~ trt + I(week > 2) + (1 | ID)", lmmpy.datasets.load("bacteria"))
    >>> binned_residuals_plot(m).get_ylabel()
    'average residual'
    """
    from lmmpy.diagnostics._binned import binned_residuals

    table = binned_residuals(model, term, n_bins, data)
    ax = new_axes(ax)
    order = np.argsort(table["xbar"].to_numpy())
    x, se = table["xbar"].to_numpy()[order], table["se"].to_numpy()[order]
    ax.plot(x, se, color="grey", linewidth=1)
    ax.plot(x, -se, color="grey", linewidth=1)
    ax.axhline(0.0, color="grey", linewidth=1, linestyle="--")
    inside = (table["group"] == "yes").to_numpy()
    for mask, color, label in ((inside, PARTIAL_COLOR, "within the band"),
                               (~inside, NO_POOLING_COLOR, "outside the band")):
        if mask.any():
            ax.scatter(table["xbar"][mask], table["ybar"][mask], s=18, color=color, label=label)
    share = table.attrs["resid_ok"]
    ax.set(xlabel="estimated probability" if term is None else term,
           ylabel="average residual",
           title=f"Binned residuals ({share:.0%} of bins within ±1.96 SE)")
    ax.legend(loc="best", fontsize="small")
    return ax
