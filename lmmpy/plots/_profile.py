"""Profile zeta plots of the likelihood profile."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import pandas as pd
from scipy import stats

from lmmpy.plots._figure import PARTIAL_COLOR, check_level, panel_axes

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure


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
    check_level(level)
    z = stats.norm.ppf((1 + level) / 2)
    parameters = list(dict.fromkeys(frame["parameter"]))
    axes = panel_axes(ax, len(parameters), share_y=True, max_columns=3)
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
