"""Predictions on new data: rebuild X and each term's matrix with the fit's encodings.

Levels of a grouping factor that the fit did not see get zero random effects
when ``allow_new_levels`` is set (lme4's ``allow.new.levels``), which makes
their prediction the population-level one.

Offsets are part of the prediction: ``offset(...)`` terms of the formula and
an ``offset=`` argument that named a column are evaluated on ``newdata``
(lme4 1.1-31 leaves the latter out, lme4 issue #447).  An offset given as an
array cannot be evaluated on new rows and is left out.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import formulaic
import numpy as np
import pandas as pd

from lmmpy.design._checks import check_columns_exist

if TYPE_CHECKING:
    from lmmpy.results import LinearMixedModel


def predict_new(model: LinearMixedModel, newdata: pd.DataFrame, re_form: bool,
                allow_new_levels: bool) -> pd.Series:
    if not isinstance(newdata, pd.DataFrame):
        raise TypeError(f"newdata must be a pandas DataFrame, not {type(newdata).__name__}")
    design = model.design
    _check_columns(model, newdata, re_form)
    X = design.X.rebuild(newdata)
    offset = _offset(model, newdata)
    if not re_form:
        return _series(X @ model.solution.beta + offset, newdata)
    matrices = [term.model_matrix.rebuild(newdata) for term in design.terms]
    codes = [_level_codes(term, newdata, allow_new_levels) for term in design.terms]
    eta = model._linear_predictor(X, matrices, True, codes)
    return _series(eta + offset, newdata)


def _check_columns(model: LinearMixedModel, newdata: pd.DataFrame, re_form: bool) -> None:
    parsed = model.design.formula
    pieces = [parsed.fixed, *parsed.offsets]
    if re_form:
        pieces += [term.lhs for term in parsed.random]
    needed = set().union(*(formulaic.Formula(piece).required_variables for piece in pieces))
    if re_form:
        needed.update(column for term in model.design.terms for column in term.group_columns)
    if model.design.offset_column is not None:
        needed.add(model.design.offset_column)
    check_columns_exist(sorted(needed), newdata, "the model (newdata)")


def _offset(model: LinearMixedModel, newdata: pd.DataFrame) -> np.ndarray:
    total = np.zeros(len(newdata))
    for expression in model.design.formula.offsets:
        matrix = formulaic.model_matrix(f"0 + {expression}", newdata, na_action="ignore")
        total += np.asarray(matrix, dtype=float).ravel()
    if model.design.offset_column is not None:
        total += newdata[model.design.offset_column].to_numpy(dtype=float)
    return total


def _level_codes(term, newdata: pd.DataFrame, allow_new_levels: bool) -> np.ndarray:
    labels = _labels(newdata, term.group_columns)
    codes = term.levels.get_indexer(labels)
    unseen = codes < 0
    if unseen.any() and not allow_new_levels:
        new = sorted(set(labels[unseen]))[:5]
        raise ValueError(
            f"newdata has level(s) {', '.join(map(repr, new))} of grouping factor "
            f"{term.group_name!r} not seen in the fit; pass allow_new_levels=True to predict "
            "them with zero random effects"
        )
    return codes


def _labels(newdata: pd.DataFrame, columns: tuple[str, ...]) -> np.ndarray:
    parts = [newdata[column].astype(str).to_numpy() for column in columns]
    labels = parts[0].astype(object)
    for part in parts[1:]:
        labels = labels + ":" + part.astype(object)
    return np.asarray(labels, dtype=object)


def _series(values: np.ndarray, newdata: pd.DataFrame) -> pd.Series:
    return pd.Series(values, index=newdata.index, name="predicted")
