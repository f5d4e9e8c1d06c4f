"""Model matrices of simple formulas, materialised without formulaic.

formulaic costs about 1 ms for a formula of numeric columns and 5 ms once a
categorical is involved: as much as fitting a small model.  The formulas most
models use are simple, so they are materialised here, with formulaic's
columns, column names and order:

* the intercept (``Intercept``);
* numeric (not boolean) columns and their products (``x``, ``x:z``);
* main effects of unordered categorical or string columns beside an
  intercept, in treatment contrasts: one indicator per level but the first
  (``g[T.b]``), the levels a categorical's categories (used or not, as
  formulaic) or a string column's sorted values.

Anything else — interactions with a categorical, a categorical without an
intercept (full rank), ordered factors (polynomial contrasts), booleans,
transforms, expressions — returns None and is left to formulaic.  formulaic
still makes the ModelSpec (for predictions on new data), from the same
columns, when something first asks for it (:class:`DeferredSpec`).
"""

from __future__ import annotations

from dataclasses import dataclass

import formulaic
import numpy as np
import pandas as pd

FORMULAIC_INTERCEPT = "Intercept"


@dataclass(frozen=True)
class DeferredSpec:
    """What formulaic needs to make a directly materialised formula's ModelSpec: the
    formula and its columns (a plain object, so that a fitted model pickles)."""

    formula: formulaic.Formula
    columns: dict[str, object]

    def model_spec(self) -> formulaic.ModelSpec:
        return formulaic.model_matrix(self.formula, pd.DataFrame(self.columns),
                                      na_action="ignore", context={}).model_spec


def direct_model_matrix(formula: formulaic.Formula,
                        data: pd.DataFrame) -> tuple[np.ndarray, list[str]] | None:
    """formulaic's model matrix and column names of a simple formula (module
    docstring), or None when the formula is not one.

    Examples
    --------
    >>> from lmmpy.design._fixed import parsed_formula
    >>> df = pd.DataFrame({"x": [1.0, 2.0, 3.0], "z": [3, 4, 5], "g": ["b", "a", "b"]})
    >>> values, names = direct_model_matrix(parsed_formula("x * z + g"), df)
    >>> names, values[0].tolist()
    (['Intercept', 'x', 'z', 'g[T.b]', 'x:z'], [1.0, 1.0, 3.0, 1.0, 3.0])
    """
    terms = list(formula)
    if any(factor.eval_method.value == "python" for term in terms for factor in term.factors):
        return None
    intercept = any(all(factor.expr == "1" for factor in term.factors) for term in terms)
    series: dict[str, pd.Series] = {}   # each column taken once: pandas' [] is slow
    columns, names = [], []
    for term in terms:
        factors = [factor.expr for factor in term.factors if factor.expr != "1"]
        for name in factors:
            if name not in series:
                if name not in data.columns:
                    return None
                series[name] = data[name]
        if len(factors) == 1 and _is_categorical(series[factors[0]]):
            indicators = _treatment_columns(factors[0], series[factors[0]]) if intercept \
                else None
            if indicators is None:
                return None
            columns += indicators[0]
            names += indicators[1]
            continue
        if not all(_is_number(series[name]) for name in factors):
            return None
        column = np.ones(len(data))
        for name in factors:
            column = column * series[name].to_numpy(dtype=float)
        columns.append(column)
        names.append(str(term) if factors else FORMULAIC_INTERCEPT)
    values = np.column_stack(columns) if columns else np.empty((len(data), 0))
    return values, names


def _is_number(values: pd.Series) -> bool:
    """A numpy integer or floating column (formulaic's numerical encoding)."""
    return isinstance(values.dtype, np.dtype) and values.dtype.kind in "iuf"


def _is_categorical(values: pd.Series) -> bool:
    """An unordered categorical, or a column of strings (pandas' ``str`` or object)."""
    dtype = values.dtype
    if isinstance(dtype, pd.CategoricalDtype):
        return not dtype.ordered
    return pd.api.types.is_string_dtype(dtype)


def _treatment_columns(name: str, values: pd.Series) -> tuple[list, list[str]] | None:
    """The indicators of every level but the first, and their names (None for levels
    this module does not name as formulaic does: only strings and integers)."""
    if isinstance(values.dtype, pd.CategoricalDtype):
        levels, codes = values.cat.categories, values.array.codes
    else:
        if pd.api.types.infer_dtype(values, skipna=False) != "string" or values.hasnans:
            return None   # missing values or mixed types: formulaic's business
        codes, levels = pd.factorize(values, sort=True)
    if pd.api.types.infer_dtype(levels) not in ("string", "integer") or np.any(codes < 0):
        return None
    columns = [(codes == i).astype(float) for i in range(1, len(levels))]
    return columns, [f"{name}[T.{level}]" for level in levels[1:]]
