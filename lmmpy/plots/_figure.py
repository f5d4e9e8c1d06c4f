"""Shared pieces of the figures: colours, new axes and panels, matplotlib imported lazily."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from matplotlib.axes import Axes

POOLED_COLOR = "black"
NO_POOLING_COLOR = "tab:red"
PARTIAL_COLOR = "tab:blue"


def pyplot():
    try:
        import matplotlib.pyplot as plt
    except ImportError as error:  # pragma: no cover - exercised only without matplotlib
        raise ImportError('lmmpy.plots needs matplotlib: pip install "lmmpy[plots]"') from error
    return plt


def new_axes(ax: Axes | None) -> Axes:
    if ax is not None:
        return ax
    _, ax = pyplot().subplots(figsize=(6, 4.5), layout="constrained")
    return ax


def panel_axes(ax: Axes | Sequence[Axes] | None, n: int, share_y: bool,
               max_columns: int | None = None, height: float = 4.0) -> list[Axes]:
    """``n`` panels: the caller's Axes (checked), or a new figure with rows of at most
    ``max_columns``, each row ``height`` inches tall."""
    if ax is None:
        columns = n if max_columns is None else min(n, max_columns)
        rows = -(-n // columns)
        _, axes = pyplot().subplots(rows, columns,
                                    figsize=(min(4.0 * columns, 16.0), height * rows),
                                    sharey=share_y, squeeze=False, layout="constrained")
        for extra in axes.ravel()[n:]:
            extra.remove()
        return list(axes.ravel()[:n])
    axes = [ax] if not isinstance(ax, Sequence | np.ndarray) else list(np.ravel(ax))
    if len(axes) != n:
        raise ValueError(f"ax must hold {n} Axes, one per panel, not {len(axes)}")
    return axes


def check_level(level: float) -> None:
    if not 0 < level < 1:
        raise ValueError(f"level must be between 0 and 1, not {level!r}")
