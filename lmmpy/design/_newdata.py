"""New data for predictions: the fit's columns, levels and types, and the rows that miss one.

formulaic encodes a categorical of new data with the levels it stored at the
fit, and encodes a value it does not know — a level the fit did not see, a
missing value, ``175`` where the fit had the string ``"175"`` — as the
reference level, silently.  Before a model matrix is rebuilt on new data,
each of its factor columns is therefore checked against the fit's levels:

* a value equal to a level is that level; one *spelled* like a level, across
  integers, floats and strings (``308``, ``308.0``, ``"308"``), is converted
  to it (a column read back with another type, a merge that turned integers
  into floats);
* any other value is a new level of a fixed-effect factor: an error naming
  the column and the level, as lme4 raises;
* a missing value marks its row: predictions there are NaN (R's ``na.pass``).

Grouping factors are matched the same way (:func:`group_level_codes`); their
new levels are lme4's ``allow.new.levels`` business.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Iterable, Sequence

import numpy as np
import pandas as pd

from lmmpy.design._fixed import ModelMatrix
from lmmpy.design._random import RandomEffectsTerm
from lmmpy.design._variables import factor_columns, parsed_formula

_CONTRAST_CALLS = ("C(", "lmmpy_C(")


def spelling(value: object) -> str:
    """A value as a level label, the same for equal numbers of any type and their text.

    Examples
    --------
    >>> [spelling(v) for v in (308, 308.0, "308", "308.0", 1.5, "b")]
    ['308', '308', '308', '308', '1.5', 'b']
    """
    if isinstance(value, str):
        try:
            number = float(value)
        except ValueError:
            return value
        return spelling(number) if math.isfinite(number) else value
    if isinstance(value, numbers.Real) and not isinstance(value, bool | np.bool_):
        number = float(value)
        if number.is_integer():
            return str(int(number))
        return repr(number)
    return str(value)


def _level_lookup(levels: Sequence) -> dict[str, int]:
    """Spelling → position of each level whose spelling no other level shares."""
    positions: dict[str, int] = {}
    shared: set[str] = set()
    for position, level in enumerate(levels):
        key = spelling(level)
        if key in positions:
            shared.add(key)
        positions[key] = position
    return {key: position for key, position in positions.items() if key not in shared}


def match_levels(values: pd.Series, levels: Sequence) -> tuple[np.ndarray, list]:
    """Position in ``levels`` of each value (-1 where missing) and the values matching none.

    A value equal to a level (as text, as the fit's labels are) is that level;
    otherwise one spelled like exactly one level is that level.

    Examples
    --------
    >>> codes, unmatched = match_levels(pd.Series([175, 185.5, None, 9]), ["175", "185.5"])
    >>> codes.tolist(), unmatched
    ([0, 1, -1, -1], [9.0])
    """
    codes, uniques = pd.factorize(values, use_na_sentinel=True)
    exact = {str(level): position for position, level in enumerate(levels)}
    by_spelling: dict[str, int] | None = None    # made only when a value is not a level
    positions = np.empty(len(uniques) + 1, dtype=np.intp)
    positions[-1] = -1     # pandas' code of a missing value
    unmatched = []
    for i, value in enumerate(uniques):
        position = exact.get(str(value), -1)
        if position < 0:
            by_spelling = _level_lookup(levels) if by_spelling is None else by_spelling
            position = by_spelling.get(spelling(value), -1)
        if position < 0:
            unmatched.append(value)
        positions[i] = position
    return positions[codes], unmatched


def missing_rows(newdata: pd.DataFrame, columns: Iterable[str]) -> np.ndarray:
    """Rows of ``newdata`` with a missing value in any of ``columns``."""
    missing = np.zeros(len(newdata), dtype=bool)
    for column in columns:
        missing |= newdata[column].isna().to_numpy()
    return missing


def conform_newdata(matrices: Iterable[ModelMatrix], newdata: pd.DataFrame) -> pd.DataFrame:
    """``newdata`` with each factor column of ``matrices`` recoded to the fit's levels.

    Raises
    ------
    ValueError
        For a value that is not one of the fit's levels, naming the column and value.
    TypeError
        For a non-numeric column where the fit had a numeric one.

    Examples
    --------
    >>> from lmmpy.design import build_model_matrix
    >>> fit = pd.DataFrame({"dose": pd.Categorical(["10", "20", "10"]), "x": [1.0, 2.0, 3.0]})
    >>> X = build_model_matrix("x + dose", fit)
    >>> conform_newdata([X], pd.DataFrame({"dose": [20, 10], "x": [0.0, 0.0]}))["dose"].tolist()
    ['20', '10']
    """
    converted: dict[str, pd.Series] = {}
    for matrix in matrices:
        for expr, (kind, state) in matrix.spec.encoder_state.items():
            column = _factor_column(expr, newdata.columns)
            if column is None or column in converted:
                continue
            if kind.value == "categorical":
                converted[column] = _as_levels(newdata[column], column, state["categories"])
            elif kind.value == "numerical":
                converted[column] = _as_numbers(newdata[column], column)
    if not converted:
        return newdata
    return newdata.assign(**converted)


def _factor_column(expr: str, columns: pd.Index) -> str | None:
    """The column a factor encodes: itself, or the argument of a ``C(column, ...)``."""
    if expr in columns:
        return expr
    if not expr.startswith(_CONTRAST_CALLS):
        return None
    factor = next(f for term in parsed_formula(expr) for f in term.factors if f.expr != "1")
    read = factor_columns(factor, set(columns))
    return read.pop() if len(read) == 1 else None


def _as_levels(values: pd.Series, column: str, levels: list) -> pd.Series:
    codes, unmatched = match_levels(values, levels)
    if unmatched:
        shown = ", ".join(repr(value) for value in unmatched[:5])
        known = ", ".join(repr(level) for level in levels[:10])
        raise ValueError(
            f"newdata column {column!r} has level(s) {shown} not seen in the fit (its levels: "
            f"{known}{', ...' if len(levels) > 10 else ''}); a fixed-effect factor cannot be "
            "predicted at a new level")
    categorical = pd.Categorical.from_codes(codes, categories=pd.Index(levels, dtype=object))
    return pd.Series(categorical, index=values.index, name=values.name)


def _as_numbers(values: pd.Series, column: str) -> pd.Series:
    dtype = values.dtype
    if isinstance(dtype, np.dtype) and dtype.kind in "iufb":
        return values
    if isinstance(dtype, pd.CategoricalDtype) or pd.api.types.is_string_dtype(dtype):
        raise TypeError(
            f"newdata column {column!r} is {dtype}, but it was numeric in the fit; "
            "convert it to numbers")
    return pd.to_numeric(values)


def group_level_codes(term: RandomEffectsTerm, newdata: pd.DataFrame,
                      allow_new_levels: bool) -> np.ndarray:
    """Level code of each row of ``newdata`` in ``term`` (-1 for a level the fit did not
    see, allowed by ``allow_new_levels``, or a missing value); values spelled like a
    level (``308.0`` for ``"308"``) are that level."""
    parts = [_group_labels(newdata[column], spellings)
             for column, spellings in zip(term.group_columns, _column_levels(term), strict=True)]
    labels = parts[0]
    for part in parts[1:]:
        labels = labels + ":" + part
    missing = missing_rows(newdata, term.group_columns)
    codes = term.levels.get_indexer(labels)
    unseen = (codes < 0) & ~missing
    if unseen.any() and not allow_new_levels:
        new = sorted(set(labels[unseen]))[:5]
        raise ValueError(
            f"newdata has level(s) {', '.join(map(repr, new))} of grouping factor "
            f"{term.group_name!r} not seen in the fit; pass allow_new_levels=True to predict "
            "them with zero random effects")
    return codes


def _column_levels(term: RandomEffectsTerm) -> list[list[str] | None]:
    """Each grouping column's level labels, read off the term's (joined) labels; None
    where a label's own ``:`` makes that ambiguous."""
    k = len(term.group_columns)
    if k == 1:
        return [list(term.levels)]
    split = [str(label).split(":") for label in term.levels]
    if any(len(parts) != k for parts in split):
        return [None] * k
    return [sorted({parts[j] for parts in split}) for j in range(k)]


def _group_labels(values: pd.Series, levels: list[str] | None) -> np.ndarray:
    """Labels of a grouping column, in the fit's spelling where a value matches one."""
    if levels is None:
        return values.astype(str).to_numpy(dtype=object)
    codes, _ = match_levels(values, levels)
    labels = np.asarray(levels, dtype=object)[np.maximum(codes, 0)]
    unmatched = codes < 0
    if unmatched.any():
        labels[unmatched] = [str(value) for value in values.to_numpy(dtype=object)[unmatched]]
    return labels
