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
    """``data`` as a pandas DataFrame: polars and pyarrow tables (and any frame with the
    dataframe interchange protocol) are converted; anything else is a TypeError."""
    data = _as_pandas(data)
    if data.shape[0] == 0:
        raise ValueError("data has no rows")
    return data


def _as_pandas(data: object) -> pd.DataFrame:
    if isinstance(data, pd.DataFrame):
        return data
    kind = type(data).__name__
    library = type(data).__module__.split(".")[0]
    if kind == "LazyFrame":
        raise TypeError("data is a polars LazyFrame: collect it first (data.collect())")
    if library in ("polars", "pyarrow") and hasattr(data, "to_pandas"):
        try:  # polars' to_pandas needs pyarrow
            return _frame(data.to_pandas(), kind)
        except ImportError:
            pass
    if hasattr(data, "__dataframe__"):
        return pd.api.interchange.from_dataframe(data)
    if library == "polars" and hasattr(data, "to_dict"):
        return _polars_by_columns(data)
    raise TypeError(
        f"data must be a pandas DataFrame (or a polars or pyarrow table), not {kind}; "
        "convert it with pandas.DataFrame(data)"
    )


def _polars_by_columns(data) -> pd.DataFrame:
    """A polars DataFrame without pyarrow: column by column, categoricals kept."""
    frame = pd.DataFrame(data.to_dict(as_series=False))
    for name, dtype in data.schema.items():
        if str(dtype).startswith(("Categorical", "Enum")):
            frame[name] = frame[name].astype("category")
    return frame


def _frame(converted: object, kind: str) -> pd.DataFrame:
    if not isinstance(converted, pd.DataFrame):  # a pyarrow Array or a polars Series
        raise TypeError(f"data must be a table, not a {kind}")
    return converted


def check_columns_exist(columns: Iterable[str], data: pd.DataFrame, where: str) -> None:
    """Every column is in the data, once (a name two columns share is ambiguous)."""
    duplicated = set() if data.columns.is_unique else set(data.columns[data.columns.duplicated()])
    for column in columns:
        if column not in data.columns:
            close = difflib.get_close_matches(str(column), [str(c) for c in data.columns], n=3)
            hint = f"; did you mean {', '.join(map(repr, close))}?" if close else ""
            raise ValueError(f"column {column!r} used in {where} is not in the data{hint}")
        if column in duplicated:
            count = int((data.columns == column).sum())
            raise ValueError(
                f"column {column!r} used in {where} appears {count} times in the data; rename "
                "the copies or drop them, e.g. data.loc[:, ~data.columns.duplicated()]"
            )


def check_predictor_types(columns: Iterable[str], data: pd.DataFrame) -> None:
    """Dates and durations are not numbers a model matrix can hold: say how to make them so."""
    for column in columns:
        values = data[column]
        if isinstance(values, pd.DataFrame):
            continue  # a duplicated name: reported by check_columns_exist
        dtype = values.dtype
        if isinstance(dtype, pd.DatetimeTZDtype) or (
                isinstance(dtype, np.dtype) and dtype.kind == "M"):
            raise TypeError(
                f"predictor {column!r} holds dates ({dtype}); convert it to numbers first, "
                f"e.g. days since the first: data[{column!r}] = (data[{column!r}] - "
                f"data[{column!r}].min()) / pd.Timedelta(days=1)"
            )
        if isinstance(dtype, np.dtype) and dtype.kind == "m":
            raise TypeError(
                f"predictor {column!r} holds durations ({dtype}); convert it to numbers "
                f"first, e.g. in days: data[{column!r}] = data[{column!r}] / pd.Timedelta(days=1)"
            )
        if isinstance(dtype, pd.PeriodDtype):
            raise TypeError(
                f"predictor {column!r} holds periods ({dtype}); convert it to numbers or to "
                f"a factor first, e.g. data[{column!r}] = data[{column!r}].astype(str)"
            )


def align_to_rows(values: object, data: pd.DataFrame, what: str) -> object:
    """A pandas Series of weights or offsets is matched to the rows by label, as pandas
    would: reordered when its index holds the data's labels, refused when it does not
    (an array or list is used by position)."""
    if not isinstance(values, pd.Series) or values.index.equals(data.index):
        return values
    same_labels = (len(values) == len(data) and values.index.is_unique and data.index.is_unique
                   and values.index.isin(data.index).all())
    if same_labels:
        return values.reindex(data.index)
    missing = [label for label in data.index[~data.index.isin(values.index)][:3]]
    detail = f" (data rows {missing} have no label in it)" if missing else ""
    raise ValueError(
        f"{what} is a pandas Series whose index does not match the data's index{detail}; "
        f"give it the data's index, or pass {what}.to_numpy() to use the values by position"
    )


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


def check_response_varies(y: np.ndarray, offset: np.ndarray, X: np.ndarray,
                          name: str | None, exhaustive: bool = False) -> None:
    """A response the offset (or the offset and the fixed effects) fits exactly leaves no
    residual variation: the profiled deviance is −∞ (lme4 returns logLik Inf, σ = 0).

    The constant case costs one pass over y; ``exhaustive`` also solves the least
    squares of y − offset on X (done after the fit has failed, to say why).
    """
    rest = y - offset
    if rest.size and (exhaustive or np.all(rest == rest[0])):
        _check_exactly_fitted(rest, offset, X, name)


def _check_exactly_fitted(rest: np.ndarray, offset: np.ndarray, X: np.ndarray,
                          name: str | None) -> None:
    what = f"response {name!r}" if name else "the response"
    if not np.any(rest):
        raise ValueError(
            f"{what} equals the offset in every row: nothing is left to model (lme4 returns "
            "an infinite log-likelihood); check the offset"
        )
    if X.shape[1] == 0:
        return
    residual = rest - X @ np.linalg.lstsq(X, rest, rcond=None)[0]
    if np.linalg.norm(residual) > 1e-10 * np.linalg.norm(rest):
        return
    shown = "minus the offset " if np.any(offset != 0) else ""
    if np.all(rest == rest[0]):
        raise ValueError(
            f"{what} {shown}is constant (every value is {rest[0]:g}): there is no variation "
            "to estimate variance components from (lme4 returns an infinite "
            "log-likelihood); check the response column"
        )
    raise ValueError(
        f"{what} {shown}is fitted exactly by the fixed effects (a linear function of "
        "them, to 1e-10): there is no residual variation to estimate variance components "
        "from (lme4 returns an infinite log-likelihood); check the response column"
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
