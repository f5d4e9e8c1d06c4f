"""Assemble a :class:`Design` from a parsed formula and a data frame."""

from __future__ import annotations

import functools
import warnings
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import pandas as pd
import scipy.sparse as sp

from lmmpy._warnings import RankDeficiencyWarning
from lmmpy.design import _checks
from lmmpy.design._fixed import (
    ModelMatrix,
    build_model_matrix,
    expression_values,
    offset_values,
)
from lmmpy.design._random import RandomEffectsTerm, group_codes, lme4_term_order
from lmmpy.design._variables import formula_columns
from lmmpy.formula import ParsedFormula

ArrayOrColumn = str | np.ndarray | pd.Series | list | None


@dataclass(frozen=True)
class Design:
    """The matrices of a linear mixed model, after NA removal and checks.

    Attributes
    ----------
    formula : the parsed formula
    y : response (n,)
    X : fixed-effects model matrix (aliased columns dropped)
    terms : random-effects terms in lme4's order (decreasing number of levels)
    weights : prior weights (n,) or None
    offset : offset (n,), zeros when none was given
    row_index : index labels of the data rows used
    n_dropped : rows dropped for missing values
    offset_column : the data column the ``offset`` argument named, if it named one
    columns : the data columns the formula reads (names resolved against the data)
    """

    formula: ParsedFormula
    y: np.ndarray
    X: ModelMatrix
    terms: tuple[RandomEffectsTerm, ...]
    weights: np.ndarray | None
    offset: np.ndarray
    row_index: pd.Index
    n_dropped: int = 0
    offset_column: str | None = None
    columns: tuple[str, ...] = ()

    #: whether the rows (y, X, the terms' codes and matrices) are held; a design fitted
    #: from chunks (:mod:`lmmpy.chunked`) holds only their cross-products
    in_memory: ClassVar[bool] = True

    @property
    def n_obs(self) -> int:
        return len(self.y)

    def term_moments(self) -> tuple[tuple[np.ndarray, np.ndarray] | None, ...]:
        """Each term's column means and variances where they are known without the rows
        (None: read them from the rows)."""
        return (None,) * len(self.terms)

    @functools.cached_property
    def Z(self) -> sp.csc_matrix:
        """``Z = [Z_1 Z_2 ...]`` for the terms in order, built once: a fit, its refits to
        other responses (the bootstrap) and its predictions share it."""
        blocks = [term.Z() for term in self.terms]
        return blocks[0] if len(blocks) == 1 else sp.hstack(blocks, format="csc")

    @property
    def aliased(self) -> tuple[str, ...]:
        """Names of the X columns dropped as aliased."""
        return self.X.aliased

    @property
    def beta_names(self) -> tuple[str, ...]:
        return self.X.names

    def theta_lower_bounds(self) -> np.ndarray:
        return np.concatenate([term.theta_lower_bounds() for term in self.terms])

    def theta_start(self) -> np.ndarray:
        return np.concatenate([term.theta_start() for term in self.terms])

    def theta_names(self) -> list[str]:
        return [name for term in self.terms for name in term.theta_names()]


def build_design(
    formula: ParsedFormula,
    data: pd.DataFrame,
    weights: ArrayOrColumn = None,
    offset: ArrayOrColumn = None,
) -> Design:
    """Build the model matrices of ``formula`` on ``data``.

    Parameters
    ----------
    formula : ParsedFormula
        From :func:`lmmpy.formula.parse_formula`.
    data : pandas.DataFrame
    weights, offset : str or array-like, optional
        A column of ``data`` or an array with one value per row of ``data``.

    Returns
    -------
    Design

    Examples
    --------
    >>> from lmmpy.datasets import load
    >>> from lmmpy.formula import parse_formula
    >>> d = build_design(parse_formula("Reaction ~ Days + (Days | Subject)"), load("sleepstudy"))
    >>> d.X.names, d.terms[0].group_name, d.n_obs
    (('(Intercept)', 'Days'), 'Subject', 180)
    """
    data = _checks.check_data_frame(data)
    offset_argument = offset
    weights = _row_values(weights, data, "weights")
    offset = _row_values(offset, data, "offset")
    columns = _required_columns(formula, data)
    keep = _complete_rows(formula, columns, data, weights, offset)
    _checks.check_predictor_types(_predictor_columns(formula, columns), data)
    frame = _model_frame(data, keep, columns)
    if len(frame) == 0:
        raise ValueError("no rows are left after dropping rows with missing values")
    _checks.check_not_constant(frame, _fixed_variables(formula, frame), "the fixed effects")
    X = _fixed_matrix(formula, frame, _transform_rows(formula, data, keep))
    y = _response(formula, frame, (data, keep))
    design = Design(
        formula=formula,
        y=y,
        X=X,
        terms=tuple(lme4_term_order(_random_terms(formula, frame, X, (data, keep)))),
        weights=None if weights is None else weights[keep],
        offset=_offset(formula, frame, None if offset is None else offset[keep]),
        row_index=frame.index,
        n_dropped=int((~keep).sum()),
        offset_column=offset_argument if isinstance(offset_argument, str) else None,
        columns=tuple(columns),
    )
    _check_values(design)
    return design


def _row_values(values: ArrayOrColumn, data: pd.DataFrame, what: str) -> np.ndarray | None:
    if values is None:
        return None
    if isinstance(values, str):
        _checks.check_columns_exist([values], data, what)
        values = data[values]
    array = np.asarray(_checks.align_to_rows(values, data, what))
    if array.ndim != 1 or len(array) != len(data):
        raise ValueError(
            f"{what} must be a column name or have one value per row of data "
            f"({len(data)}), not shape {array.shape}"
        )
    try:
        return np.array(array, dtype=float)
    except (TypeError, ValueError) as error:
        raise TypeError(f"{what} must be numeric") from error


def _fixed_variables(formula: ParsedFormula, data: pd.DataFrame) -> set[str]:
    return formula_columns(formula.fixed, data.columns)


def _predictor_columns(formula: ParsedFormula, columns: list[str]) -> list[str]:
    """The model's columns but the response and the grouping factors (a column that is
    both a grouping factor and a predictor is left out: this is for messages only)."""
    groups = {column for term in formula.random for column in term.group}
    response = (formula.response or "").strip("`")
    return [column for column in columns if column not in groups and column != response]


def _required_columns(formula: ParsedFormula, data: pd.DataFrame) -> list[str]:
    pieces = [formula.fixed, *formula.offsets, *(term.lhs for term in formula.random)]
    if formula.response is not None:
        pieces.append(formula.response)
    columns = set().union(*(formula_columns(piece, data.columns) for piece in pieces))
    columns.update(column for term in formula.random for column in term.group)
    return sorted(columns)


def _complete_rows(formula, columns, data, weights, offset) -> np.ndarray:
    """lme4's na.omit over every column the model uses (and weights, offset)."""
    _checks.check_columns_exist(columns, data, f"formula {formula.formula!r}")
    keep = np.ones(len(data), dtype=bool)
    for column in columns:  # column by column: a sub-frame's notna costs twice as much
        missing = _missing(data[column])
        if missing is not None:
            keep &= ~missing
    for values in (weights, offset):
        if values is not None:
            keep &= ~np.isnan(values)
    return keep


def _missing(values: pd.Series) -> np.ndarray | None:
    """Where a column's values are missing; None for a column that cannot miss any
    (numpy integers and booleans).  pandas' ``notna`` costs more than the rest of a
    small model's design."""
    dtype = values.dtype
    if isinstance(dtype, np.dtype) and dtype.kind in "iub":
        return None
    if isinstance(dtype, np.dtype) and dtype.kind in "fc":
        return np.isnan(values.to_numpy())
    if isinstance(dtype, pd.CategoricalDtype):
        return values.array.codes < 0
    return values.isna().to_numpy()


def _model_frame(data: pd.DataFrame, keep: np.ndarray, columns: list[str]) -> pd.DataFrame:
    """The rows kept, with the categories no row uses dropped from the model's ``columns``.

    ``data`` itself when nothing is dropped (nothing in a design refers to its
    arrays: the response is copied); the unused categories are counted, as
    pandas' own ``remove_unused_categories`` sorts the codes: half of a large
    design's build.  The other columns are left as they are (a wide frame's
    columns cost a look each).
    """
    frame = data if keep.all() else data.loc[keep]
    unused = []
    for column in columns:
        values = frame[column]
        if isinstance(values.dtype, pd.CategoricalDtype):
            codes = values.array.codes
            counts = np.bincount(codes[codes >= 0], minlength=len(values.dtype.categories))
            if np.any(counts == 0):
                unused.append(column)
    if not unused:
        return frame
    frame = frame.copy()
    for column in unused:
        frame[column] = frame[column].cat.remove_unused_categories()
    return frame


def _response(formula: ParsedFormula, frame: pd.DataFrame,
              rows: tuple[pd.DataFrame, np.ndarray] | None = None) -> np.ndarray:
    """The response on the rows kept (``frame``); an expression (``log(y)``, ``scale(y)``)
    evaluated on every row of the data when ``rows`` (the data and the rows kept) are
    given, as R's model.frame does before dropping the rows missing another variable."""
    if formula.response is None:
        raise ValueError(f"formula {formula.formula!r} has no response (left of '~')")
    if formula.response.strip("`") in frame.columns:
        column = formula.response.strip("`")
        return _checks.check_numeric_response(frame[column], column)
    data, keep = rows if rows is not None else (frame, slice(None))
    matrix = expression_values(formula.response, data, "the response")[keep]
    if matrix.shape[1] != 1:
        raise TypeError(f"response {formula.response!r} must be numeric, not a factor")
    return _checks.check_numeric_response(matrix.ravel(), formula.response)


def _transform_rows(formula: ParsedFormula, data: pd.DataFrame, keep: np.ndarray,
                    piece: str | None = None) -> pd.DataFrame | None:
    """The columns of the fixed part (or of ``piece``, a random term's left side) on every
    row of ``data``: R's ``model.frame`` evaluates data-dependent transforms
    (``poly(x, 2)``, ``scale(x)``) before dropping the rows missing another variable, for
    the random-effects terms as for the fixed part; None when no row is dropped."""
    if keep.all():
        return None
    if piece is None:
        return data[sorted(_fixed_variables(formula, data))]
    return data[sorted(formula_columns(piece, data.columns))]


def _fixed_matrix(formula: ParsedFormula, frame: pd.DataFrame,
                  transform_data: pd.DataFrame | None = None) -> ModelMatrix:
    X = build_model_matrix(formula.fixed, frame, transform_data=transform_data)
    if X.aliased:
        warnings.warn(
            f"fixed-effect model matrix is rank deficient so dropping {len(X.aliased)} "
            f"column(s) / coefficient(s): {', '.join(X.aliased)}",
            RankDeficiencyWarning,
            stacklevel=4,
        )
    return X


def _random_terms(formula: ParsedFormula, frame: pd.DataFrame, X: ModelMatrix,
                  rows: tuple[pd.DataFrame, np.ndarray]) -> list[RandomEffectsTerm]:
    """The random-effects terms on ``frame``; ``rows`` (the data and the rows kept) give
    data-dependent transforms their state, as :func:`_transform_rows`."""
    if not formula.random:
        raise ValueError(
            f"formula {formula.formula!r} has no random-effects terms such as (1 | group); "
            "fit it with ordinary least squares instead"
        )
    terms = []
    for spec in formula.random:
        levels, codes = group_codes(frame, spec.group)
        _checks.check_grouping_factor(spec.group_name, len(levels), len(frame))
        if spec.lhs == formula.fixed and not X.aliased:  # (x | g) beside ~ x: X itself
            matrix = X
        else:
            matrix = build_model_matrix(spec.lhs, frame, drop_aliased=False,
                                        what=f"random-effects term of {spec.group_name}",
                                        transform_data=_transform_rows(formula, *rows,
                                                                       piece=spec.lhs))
        if matrix.values.shape[1] == 0:
            raise ValueError(f"random-effects term ({spec.lhs} | {spec.group_name}) has no columns")
        term = RandomEffectsTerm(spec.group_name, spec.group, levels, codes, matrix)
        _checks.check_random_effects_count(
            f"({spec.lhs} | {spec.group_name})", term.n_random_effects, len(frame)
        )
        terms.append(term)
    return terms


def _offset(formula: ParsedFormula, frame: pd.DataFrame, given: np.ndarray | None) -> np.ndarray:
    total = np.zeros(len(frame)) if given is None else given.copy()
    for expression in formula.offsets:
        total += offset_values(expression, frame)
    return total


def _check_values(design: Design) -> None:
    _checks.check_finite(design.y, "the response")
    _checks.check_finite(design.offset, "the offset")
    if design.weights is not None:
        _checks.check_weights(design.weights)
