"""Binned residuals of a binomial model (Gelman & Hill 2007, §5.6; R's
``performance::binned_residuals``).

Raw residuals y − μ̂ of a binary outcome are ±-shaped and say little one by one.
Sorted by a predictor x (default the fitted values μ̂) and cut into k bins of
about equal size — R's rule: breaks at the order statistics x_(⌊n i/k⌋),
i = 1, …, k − 1, bins right-closed, k = round(√n) — each bin's mean residual
r̄ should lie within ±1.96 s/√m of zero (s the SD of its m residuals) for about
95% of the bins when the model fits.  Bins with one observation (no SD) are
dropped, as in R.  Values equal to a break up to rounding (1e-12 relative: fitted values
of one group and covariate pattern, equal in exact arithmetic) fall in the break's bin,
where R splits such a tie by its values' last bits.  For a ``cbind`` or proportion
response the residuals are those of the observed proportions (performance handles that
case otherwise).

References
----------
Gelman, A. & Hill, J. (2007). *Data Analysis Using Regression and
Multilevel/Hierarchical Models*. Cambridge University Press, section 5.6.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from scipy.stats import norm

if TYPE_CHECKING:
    from lmmpy.glmm import GeneralizedLinearMixedModel

TIE = 1e-12   # relative: a value this close above a break is tied with it
COLUMNS = ["xbar", "ybar", "n", "x_lo", "x_hi", "se", "ci_low", "ci_high", "group"]


def binned_residuals(model: GeneralizedLinearMixedModel, term: str | None = None,
                     n_bins: int | None = None, data: pd.DataFrame | None = None
                     ) -> pd.DataFrame:
    """Mean residual per bin of the fitted values (or of ``term``), as ``performance``.

    Parameters
    ----------
    model : GeneralizedLinearMixedModel
        A binomial fit.
    term : str, optional
        Bin by this column of ``data`` instead of the fitted values.
    n_bins : int, optional
        Default round(√n).
    data : DataFrame, optional
        The data of the fit (needed with ``term``; rows matched by the fit's index).

    Returns
    -------
    DataFrame
        One row per bin: ``xbar`` (mean of x), ``ybar`` (mean residual), ``n``,
        ``x_lo``, ``x_hi`` (range of x), ``se`` (1.96 s/√n: the half-width of the
        band), ``ci_low``, ``ci_high`` (ybar ∓ se) and ``group``: ``"yes"`` when
        |ybar| ≤ se (inside the band), else ``"no"``.  ``attrs["resid_ok"]``
        is the share of bins inside.

    Examples
    --------
    >>> import lmmpy
    >>> m = lmmpy.glmer("y ~ trt + I(week > 2) + (1 | ID)", lmmpy.datasets.load("bacteria"))
    >>> table = binned_residuals(m)
    >>> len(table), int(table["n"].sum())
    (13, 220)
    """
    x, residual = _values(model, term, data)
    n_bins = _check_n_bins(n_bins, len(x))
    rows = [_bin_row(x[members], residual[members]) for members in _bins(x, n_bins)]
    table = pd.DataFrame([row for row in rows if row is not None], columns=COLUMNS[:6])
    z = norm.ppf(0.975)
    half = table["se"] / z
    table["ci_low"], table["ci_high"] = table["ybar"] - z * half, table["ybar"] + z * half
    table["group"] = np.where(np.abs(table["ybar"]) > np.abs(table["se"]), "no", "yes")
    table.attrs["resid_ok"] = float(np.mean(table["group"] == "yes")) if len(table) else np.nan
    table.attrs["term"] = term
    return table


def _values(model, term: str | None, data: pd.DataFrame | None) -> tuple[np.ndarray, np.ndarray]:
    from lmmpy._families import Binomial

    if not isinstance(model.family, Binomial):
        raise ValueError(f"binned residuals are for a binomial model, not {model.family.name}")
    fitted = model.fitted.to_numpy()
    residual = model.system.response.y - fitted
    if term is None:
        return fitted, residual
    if data is None or term not in getattr(data, "columns", ()):
        raise ValueError(f"term {term!r} must be a column of data (pass data=, the data of "
                         "the fit)")
    values = pd.to_numeric(data.loc[model.row_index, term], errors="coerce").to_numpy(float)
    if np.isnan(values).any():
        raise ValueError(f"term {term!r} must be numeric without missing values")
    return values, residual


def _check_n_bins(n_bins, n: int) -> int:
    if n_bins is None:
        return max(int(np.round(np.sqrt(n))), 1)
    if isinstance(n_bins, bool) or not isinstance(n_bins, int | np.integer) or n_bins < 1:
        raise ValueError(f"n_bins must be a positive integer, not {n_bins!r}")
    return int(n_bins)


def _bins(x: np.ndarray, n_bins: int) -> list[np.ndarray]:
    """Members of each bin, by R's breaks (see the module docstring); empty bins included."""
    n = len(x)
    index = np.floor(n * np.arange(1, n_bins) / n_bins).astype(int)
    inner = np.sort(x)[index - 1] if len(index) else np.array([])
    breaks = np.unique(np.concatenate([[-np.inf], inner, [np.inf]]))
    which = np.searchsorted(breaks, x, side="left")   # (b_{k-1}, b_k] is bin k
    # a value above a break by rounding only is a tie with it (R's fitted values of one
    # covariate pattern in one group are equal; ours can differ in the last bits): in the
    # break's bin, so the bins do not depend on the order of the floating-point sums
    below = breaks[which - 1]
    tied = np.isfinite(below) & (x - below <= TIE * np.maximum(np.abs(below), 1.0))
    which[tied] -= 1
    return [np.flatnonzero(which == k) for k in range(1, n_bins + 1)]


def _bin_row(x: np.ndarray, residual: np.ndarray) -> list | None:
    m = len(x)
    if m < 2:
        return None
    sd = residual.std(ddof=1)
    return [x.mean(), residual.mean(), m, x.min(), x.max(), norm.ppf(0.975) * sd / np.sqrt(m)]
