"""Link-scale predictions of a GLMM on new data.

X and each term's model matrix are rebuilt with the fit's encodings; levels
the fit did not see get zero random effects when ``allow_new_levels`` is set
(lme4's ``allow.new.levels``).  ``offset(...)`` terms and an ``offset=`` column
are evaluated on the new rows.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import formulaic
import numpy as np
import pandas as pd

from lmmpy.design._checks import check_columns_exist

if TYPE_CHECKING:
    from lmmpy.glmm._model import GeneralizedLinearMixedModel


def predict_link(model: GeneralizedLinearMixedModel, newdata: pd.DataFrame, re_form: bool,
                 allow_new_levels: bool) -> pd.Series:
    if not isinstance(newdata, pd.DataFrame):
        raise TypeError(f"newdata must be a pandas DataFrame, not {type(newdata).__name__}")
    design = model.design
    _check_columns(model, newdata, re_form)
    eta = design.X.rebuild(newdata) @ model.state.beta + _offset(design, newdata)
    if re_form:
        for term, b in zip(design.terms, model._term_values(
                model.system.Lambda(model.theta) @ model.state.u), strict=True):
            codes = _level_codes(term, newdata, allow_new_levels)
            known = codes >= 0
            values = term.model_matrix.rebuild(newdata)
            eta[known] += np.einsum("ij,ij->i", values[known], b[codes[known]])
    return pd.Series(eta, index=newdata.index, name="predicted")


def _check_columns(model, newdata: pd.DataFrame, re_form: bool) -> None:
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


def _offset(design, newdata: pd.DataFrame) -> np.ndarray:
    total = np.zeros(len(newdata))
    for expression in design.formula.offsets:
        matrix = formulaic.model_matrix(f"0 + {expression}", newdata, na_action="ignore")
        total += np.asarray(matrix, dtype=float).ravel()
    if design.offset_column is not None:
        total += newdata[design.offset_column].to_numpy(dtype=float)
    return total


def _level_codes(term, newdata: pd.DataFrame, allow_new_levels: bool) -> np.ndarray:
    parts = [newdata[column].astype(str).to_numpy().astype(object)
             for column in term.group_columns]
    labels = parts[0]
    for part in parts[1:]:
        labels = labels + ":" + part
    codes = term.levels.get_indexer(np.asarray(labels, dtype=object))
    unseen = codes < 0
    if unseen.any() and not allow_new_levels:
        new = sorted(set(np.asarray(labels)[unseen]))[:5]
        raise ValueError(
            f"newdata has level(s) {', '.join(map(repr, new))} of grouping factor "
            f"{term.group_name!r} not seen in the fit; pass allow_new_levels=True to predict "
            "them with zero random effects")
    return codes
