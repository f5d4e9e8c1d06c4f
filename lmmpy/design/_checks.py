"""Named input checks: each raises a ValueError/TypeError that names the culprit.

The grouping-factor checks are lme4's (``lmerControl``): a grouping factor
needs at least two levels and fewer levels than observations, and a term
needs fewer random effects than observations.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable

import numpy as np
import pandas as pd


def check_data_frame(data: object) -> pd.DataFrame:
    if not isinstance(data, pd.DataFrame):
        raise TypeError(f"data must be a pandas DataFrame, not {type(data).__name__}")
    if data.shape[0] == 0:
        raise ValueError("data has no rows")
    return data


def check_columns_exist(columns: Iterable[str], data: pd.DataFrame, where: str) -> None:
    for column in columns:
        if column not in data.columns:
            close = difflib.get_close_matches(str(column), [str(c) for c in data.columns], n=3)
            hint = f"; did you mean {', '.join(map(repr, close))}?" if close else ""
            raise ValueError(f"column {column!r} used in {where} is not in the data{hint}")


def check_numeric_response(values: pd.Series | np.ndarray, name: str) -> np.ndarray:
    if isinstance(values, pd.Series) and not pd.api.types.is_numeric_dtype(values.dtype):
        raise TypeError(f"response {name!r} must be numeric, not {values.dtype}")
    try:  # a copy: the design must not share the caller's data
        return np.array(values, dtype=float)
    except (TypeError, ValueError) as error:
        raise TypeError(f"response {name!r} must be numeric") from error


def check_finite(values: np.ndarray, what: str, names: Iterable[str] | None = None) -> None:
    values = np.asarray(values, dtype=float)
    if np.all(np.isfinite(values)):
        return
    if values.ndim == 2 and names is not None:
        bad = [name for name, ok in zip(names, np.isfinite(values).all(axis=0), strict=True)
               if not ok]
        raise ValueError(f"{what} has non-finite values (inf) in column(s): {', '.join(bad)}")
    row = int(np.flatnonzero(~np.isfinite(values.reshape(len(values), -1)).all(axis=1))[0])
    raise ValueError(f"{what} has non-finite values (first at row {row})")


def check_weights(weights: np.ndarray) -> None:
    check_finite(weights, "weights")
    if np.any(weights < 0):
        raise ValueError(f"weights must not be negative (found {weights.min():g})")
    if np.any(weights == 0):
        raise ValueError(
            "weights must be positive: drop the rows with zero weight before fitting"
        )


def check_grouping_factor(name: str, n_levels: int, n_obs: int) -> None:
    if n_levels < 2:
        raise ValueError(
            f"grouping factor {name!r} has {n_levels} level; "
            "grouping factors must have > 1 sampled level"
        )
    if n_levels >= n_obs:
        raise ValueError(
            f"number of levels of grouping factor {name!r} ({n_levels}) is not smaller than "
            f"the number of observations ({n_obs}); the random-effects parameters and the "
            "residual variance (or scale parameter) are probably unidentifiable"
        )


def check_random_effects_count(term: str, n_random_effects: int, n_obs: int) -> None:
    if n_random_effects >= n_obs:
        raise ValueError(
            f"number of observations ({n_obs}) is not larger than the number of random "
            f"effects ({n_random_effects}) for term {term}; the random-effects parameters "
            "and the residual variance are probably unidentifiable"
        )


def _single_value(values: pd.Series) -> bool:
    """Whether the non-missing values are all one value (numeric columns without
    missing values, as the model's are by now, by one comparison, not pandas' hashing)."""
    if isinstance(values.dtype, np.dtype) and values.dtype.kind in "iuf":
        array = values.to_numpy()
        missing = np.isnan(array) if values.dtype.kind == "f" else None
        if missing is None or not missing.any():
            return bool(np.all(array == array[0]))
    return values.nunique(dropna=True) == 1


def check_not_constant(data: pd.DataFrame, columns: Iterable[str], where: str) -> None:
    """A predictor with one value over the data cannot be told apart from the intercept."""
    for column in columns:
        values = data[column]
        if len(values) < 2 or not _single_value(values):
            continue
        if isinstance(values.dtype, pd.CategoricalDtype) or not pd.api.types.is_numeric_dtype(
            values.dtype
        ):
            raise ValueError(
                f"factor {column!r} in {where} has a single level ({values.iloc[0]!r}) in the "
                "data; contrasts need two or more levels"
            )
        raise ValueError(
            f"predictor {column!r} in {where} is constant (every value is {values.iloc[0]!r}) "
            "and cannot be estimated beside the intercept"
        )
