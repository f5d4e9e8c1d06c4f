"""Predictions on new data: rebuild X and each term's matrix with the fit's encodings.

``re_form`` follows lme4's ``re.form``: None (the default) conditions on every
random-effects term, False / NA / ``"NA"`` / ``"~0"`` on none (the
population-level prediction x'β̂), and a formula of bar terms such as
``"~(1 | Subject)"`` on just those terms — a term may name some of the
columns of a model term, ``(1 | Subject)`` of ``(Days | Subject)`` takes only
the random intercepts.  A grouping factor or column not in the model is an
error.

New data is first matched to the fit's columns (:mod:`lmmpy.design._newdata`):
factor values spelled like a fitted level are that level, a new level of a
fixed-effect factor is an error (as in lme4), and a row with a missing value in
any column the prediction uses predicts NaN (R's ``na.pass``).  Levels of a
grouping factor that the fit did not see get zero random effects when
``allow_new_levels`` is set (lme4's ``allow.new.levels``), which makes their
prediction the population-level one.

Offsets are part of the prediction: ``offset(...)`` terms of the formula and
an ``offset=`` argument that named a column are evaluated on ``newdata``
(lme4 1.1-31 leaves the latter out, lme4 issue #447).  An offset given as an
array cannot be evaluated on new rows and is left out.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from formulaic.errors import DataMismatchWarning

from lmmpy.design._checks import check_columns_exist
from lmmpy.design._fixed import offset_values
from lmmpy.design._newdata import conform_newdata, group_level_codes, missing_rows
from lmmpy.design._variables import formula_columns, parsed_formula
from lmmpy.formula import parse_formula

if TYPE_CHECKING:
    from lmmpy.design import RandomEffectsTerm
    from lmmpy.results import LinearMixedModel

#: A term's columns that a prediction includes, one boolean mask per term of the design.
Selection = tuple[np.ndarray, ...]


@dataclass(frozen=True)
class PredictionRows:
    """What a prediction evaluates on its rows: X, each term's matrix (zero in the columns
    ``re_form`` leaves out), level codes (-1: a level not in the fit) and missing rows."""

    X: np.ndarray
    matrices: list[np.ndarray]
    codes: list[np.ndarray]
    missing: np.ndarray


def random_effects_selection(model: LinearMixedModel, re_form: object) -> Selection:
    """lme4's ``re.form`` as the columns of each random-effects term it includes.

    Examples
    --------
    >>> import lmmpy
    >>> m = lmmpy.lmer("Reaction ~ Days + (Days | Subject)", lmmpy.datasets.load("sleepstudy"))
    >>> [mask.tolist() for mask in random_effects_selection(m, "~(1 | Subject)")]
    [[True, False]]
    """
    terms = model.design.terms
    if re_form is None or (isinstance(re_form, bool | np.bool_) and re_form):
        return tuple(np.ones(term.n_columns, dtype=bool) for term in terms)
    none = tuple(np.zeros(term.n_columns, dtype=bool) for term in terms)
    if _is_na(re_form) or isinstance(re_form, bool | np.bool_):
        return none
    if not isinstance(re_form, str):
        raise TypeError("re_form must be None (all random effects), False or NA (none) or a "
                        f"formula string such as '~(1 | g)', not {type(re_form).__name__}")
    text = re_form.strip()
    if text == "NA":
        return none
    parsed = parse_formula(text if "~" in text else f"~{text}")
    if parsed.response is not None or parsed.offsets or parsed.fixed not in ("0", "1", "-1"):
        raise ValueError(f"re_form {re_form!r} must be a one-sided formula of random-effects "
                         "terms only, such as '~(1 | g)', or '~0' for none")
    masks = [mask.copy() for mask in none]
    for requested in parsed.random:
        _select(terms, masks, requested.lhs, requested.group_name, re_form)
    return tuple(masks)


def _is_na(value: object) -> bool:
    return value is pd.NA or (isinstance(value, float) and math.isnan(value))


def _select(terms, masks: list[np.ndarray], lhs: str, group: str, re_form: str) -> None:
    """Mark the columns of ``(lhs | group)`` in the model's terms of that grouping factor."""
    matching = [i for i, term in enumerate(terms) if term.group_name == group]
    if not matching:
        known = ", ".join(dict.fromkeys(repr(term.group_name) for term in terms))
        raise ValueError(f"re_form {re_form!r}: {group!r} is not a grouping factor of the "
                         f"model (its grouping factors: {known})")
    available = {i: terms[i].model_matrix.term_positions() for i in matching}
    for part in parsed_formula(lhs):
        name = str(part)
        found = [(i, positions[name]) for i, positions in available.items() if name in positions]
        if not found:
            columns = sorted({key for positions in available.values() for key in positions})
            raise ValueError(f"re_form {re_form!r}: term {name!r} of ({lhs} | {group}) is not "
                             f"among the model's random effects for {group!r} "
                             f"(terms: {', '.join(columns)})")
        for i, positions in found:
            masks[i][positions] = True


def predict(model: LinearMixedModel, newdata: pd.DataFrame | None, selection: Selection,
            allow_new_levels: bool) -> pd.Series:
    """Predictions on ``newdata`` (None: the fit's rows) with the ``selection``'s random
    effects."""
    if newdata is None and all(mask.all() for mask in selection):
        return model.fitted
    return predicted_values(model, newdata,
                            prediction_rows(model, newdata, selection, allow_new_levels))


def predicted_values(model: LinearMixedModel, newdata: pd.DataFrame | None,
                     rows: PredictionRows) -> pd.Series:
    """Xβ̂ + Zb̂ + offset on the prediction rows, NaN on those missing a value."""
    eta = model._linear_predictor(rows.X, rows.matrices, True, rows.codes)
    if newdata is None:
        return pd.Series(eta + model.design.offset, index=model.design.row_index, name="fitted")
    eta += _offset(model, newdata)
    eta[rows.missing] = np.nan
    return pd.Series(eta, index=newdata.index, name="predicted")


def prediction_rows(model: LinearMixedModel, newdata: pd.DataFrame | None,
                    selection: Selection, allow_new_levels: bool) -> PredictionRows:
    """X, term matrices and level codes of the prediction rows (module docstring)."""
    design = model.design
    if newdata is None:
        return PredictionRows(
            design.X.values,
            [term.model_matrix.values * mask for term, mask in zip(design.terms, selection,
                                                                    strict=True)],
            [term.codes for term in design.terms], np.zeros(design.n_obs, dtype=bool))
    if not isinstance(newdata, pd.DataFrame):
        raise TypeError(f"newdata must be a pandas DataFrame, not {type(newdata).__name__}")
    used = [term for term, mask in zip(design.terms, selection, strict=True) if mask.any()]
    needed = _needed_columns(model, newdata, used)
    frame = conform_newdata([design.X, *(term.model_matrix for term in used)], newdata)
    with warnings.catch_warnings():  # missing factor values: their rows are NaN below
        warnings.simplefilter("ignore", DataMismatchWarning)
        return _rows(model, frame, selection, allow_new_levels, missing_rows(frame, needed))


def _rows(model: LinearMixedModel, frame: pd.DataFrame, selection: Selection,
          allow_new_levels: bool, missing: np.ndarray) -> PredictionRows:
    design = model.design
    matrices, codes = [], []
    for term, mask in zip(design.terms, selection, strict=True):
        if mask.any():
            matrices.append(term.model_matrix.rebuild(frame) * mask)
            codes.append(group_level_codes(term, frame, allow_new_levels))
        else:   # left out: contributes nothing, whatever the rows' levels
            matrices.append(np.zeros((len(frame), term.n_columns)))
            codes.append(np.zeros(len(frame), dtype=np.intp))
    return PredictionRows(design.X.rebuild(frame), matrices, codes, missing)


def _needed_columns(model: LinearMixedModel, newdata: pd.DataFrame,
                    used: list[RandomEffectsTerm]) -> list[str]:
    """The columns of ``newdata`` the prediction reads (checked to be there)."""
    parsed = model.design.formula
    pieces = [parsed.fixed, *parsed.offsets, *(str(term.model_matrix.spec.formula) for term in used)]
    # resolved against the fit's columns too: scale(center) reads a column center that
    # newdata may lack
    columns = set(newdata.columns).union(model.design.columns)
    needed = set().union(*(formula_columns(piece, columns) for piece in pieces))
    needed.update(column for term in used for column in term.group_columns)
    if model.design.offset_column is not None:
        needed.add(model.design.offset_column)
    needed = sorted(needed)
    check_columns_exist(needed, newdata, "the model (newdata)")
    return needed


def _offset(model: LinearMixedModel, newdata: pd.DataFrame) -> np.ndarray:
    total = np.zeros(len(newdata))
    for expression in model.design.formula.offsets:
        total += offset_values(expression, newdata)
    if model.design.offset_column is not None:
        total += newdata[model.design.offset_column].to_numpy(dtype=float)
    return total
