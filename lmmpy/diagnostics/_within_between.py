"""Within–between (Mundlak) decomposition of individual-level predictors.

A predictor x_ij of unit i in group j splits into its group mean and the
deviation from it (group-mean centring; Mundlak 1978, Econometrica 46, 69-85;
Raudenbush & Bryk 2002, *Hierarchical Linear Models*, 5.2; Bell & Jones 2015,
Political Science Research and Methods 3, 133-153):

    x_ij = x̄_j + (x_ij − x̄_j) = x_between + x_within.

In ``y ~ x_within + x_between + (1 | g)`` the coefficient of ``x_within`` is the
within-group effect (the same as with group dummies: the fixed-effects
estimate) and that of ``x_between`` the between-group effect, free of each
other even when the group effects are correlated with x̄_j.  The *contextual*
effect — the difference a group's mean makes for two units with the same x —
is between − within; ``y ~ x + x_between + (1 | g)`` estimates it directly as
the coefficient of ``x_between`` (since x = x_within + x_between, the model is
the same reparameterised), with its standard error.
"""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd


def within_between(data: pd.DataFrame, x: str | Sequence[str], g: str,
                   suffixes: tuple[str, str] = ("_within", "_between")) -> pd.DataFrame:
    """Add the group mean and the within-group deviation of predictors.

    Parameters
    ----------
    data : pandas.DataFrame
    x : str or list of str
        Numeric predictor column(s).
    g : str
        Grouping column.
    suffixes : (str, str), default ("_within", "_between")
        Appended to each predictor name for the deviation and the group mean.

    Returns
    -------
    pandas.DataFrame
        A copy of ``data`` with columns ``x + suffixes[0]`` (x − group mean) and
        ``x + suffixes[1]`` (the group mean of x; missing x values are left out of
        the mean, and rows with a missing x or g get NaN).

    Examples
    --------
    >>> import pandas as pd
    >>> df = pd.DataFrame({"x": [1.0, 3.0, 10.0], "g": ["a", "a", "b"]})
    >>> within_between(df, "x", "g")[["x_within", "x_between"]].to_dict("list")
    {'x_within': [-1.0, 1.0, 0.0], 'x_between': [2.0, 2.0, 10.0]}
    """
    predictors = [x] if isinstance(x, str) else list(x)
    _check_arguments(data, predictors, g, suffixes)
    out = data.copy()
    for name in predictors:
        means = data.groupby(g, observed=True, sort=False)[name].transform("mean")
        out[name + suffixes[1]] = means
        out[name + suffixes[0]] = data[name] - means
    return out


def _check_arguments(data, predictors: list[str], g: str, suffixes) -> None:
    if not isinstance(data, pd.DataFrame):
        raise TypeError(f"data must be a pandas DataFrame, not {type(data).__name__}")
    if not predictors:
        raise ValueError("no predictor given: x must name at least one column")
    missing = [name for name in [*predictors, g] if name not in data.columns]
    if missing:
        raise ValueError(f"column(s) not in data: {', '.join(map(repr, missing))}")
    if g in predictors:
        raise ValueError(f"{g!r} is the grouping column; it cannot also be a predictor")
    for name in predictors:
        if not pd.api.types.is_numeric_dtype(data[name]) or pd.api.types.is_bool_dtype(data[name]):
            raise TypeError(f"predictor {name!r} must be numeric, not {data[name].dtype}")
    if (len(suffixes) != 2 or not all(isinstance(s, str) and s for s in suffixes)
            or suffixes[0] == suffixes[1]):
        raise ValueError(f"suffixes must be two different non-empty strings, not {suffixes!r}")
    clashes = [name + s for name in predictors for s in suffixes if name + s in data.columns]
    if clashes:
        raise ValueError(f"column(s) already in data: {', '.join(map(repr, clashes))}; "
                         "choose other suffixes")
