"""Each chunk's design on the schema's levels, and the design of the whole, without rows.

:class:`ChunkDesigner` turns one chunk into a :class:`~lmmpy.design.Design`
with the code of the in-memory path (``build_model_matrix``, the response,
offset and ``na.omit`` of :mod:`lmmpy.design._build`), with two differences
that make the chunks' designs add up: factor columns are categoricals on the
schema's levels (every chunk has every dummy column and every level, in the
same order) and no column is dropped as aliased (aliasing is a property of
all the rows: decided on the summed X'X, :func:`unaliased_columns`).

:class:`ChunkedDesign` is the design of the whole data: the encodings
(levels, column names, formulaic's specs for predictions on new data) and
the counts, with :class:`~lmmpy.chunked._rows.RowsNotInMemory` for y, X,
the codes and the term matrices.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import ClassVar

import numpy as np
import pandas as pd

from lmmpy.chunked._rows import RowsNotInMemory
from lmmpy.chunked._schema import Schema
from lmmpy.design import Design, ModelMatrix, RandomEffectsTerm, build_model_matrix
from lmmpy.design import _checks as checks
from lmmpy.design._build import _complete_rows, _offset, _response, _row_values
from lmmpy.design._fixed import INTERCEPT, _unaliased_columns
from lmmpy.design._random import lme4_term_order
from lmmpy.formula import ParsedFormula
from lmmpy.objective._crossprod import Conditioning, residualised

_RANK_TOLERANCE = 1e-7   # R's dqrdc2 tolerance, as lmmpy.design._fixed


@dataclass(frozen=True)
class ChunkDesigner:
    """Builds the :class:`Design` of a chunk on the schema's levels (shipped to workers).

    Attributes
    ----------
    formula, schema : the parsed formula and the first pass's :class:`Schema`
    weights, offset : column names, or None
    order : the terms' order (lme4's, by the schema's numbers of levels)
    """

    formula: ParsedFormula
    schema: Schema
    weights: str | None
    offset: str | None
    order: tuple[int, ...]

    @classmethod
    def of(cls, formula: ParsedFormula, schema: Schema, weights: str | None,
           offset: str | None) -> ChunkDesigner:
        sizes = [_n_levels(schema, tuple(spec.group)) for spec in formula.random]
        ranked = lme4_term_order([_Sized(n, i) for i, n in enumerate(sizes)])
        return cls(formula, schema, weights, offset, tuple(t.index for t in ranked))

    def design(self, frame: pd.DataFrame) -> Design | None:
        """The chunk's design (None when no row is left after dropping missing values)."""
        formula, columns = self.formula, self.schema.columns
        weights = _row_values(self.weights, frame, "weights")
        offset = _row_values(self.offset, frame, "offset")
        keep = _complete_rows(formula, [c for c in columns.all
                                        if c not in (self.weights, self.offset)],
                              frame, weights, offset)
        if not keep.any():
            return None
        frame = self._on_levels(frame if keep.all() else frame.loc[keep])
        X = build_model_matrix(formula.fixed, frame, drop_aliased=False)
        y = _response(formula, frame)
        offset = _offset(formula, frame, None if offset is None else offset[keep])
        checks.check_finite(y, "the response")
        checks.check_finite(offset, "the offset")
        if weights is not None:
            weights = weights[keep]
            checks.check_weights(weights)
        terms = [self._term(i, frame) for i in self.order]
        return Design(formula, y, X, tuple(terms), weights, offset, frame.index,
                      columns=columns.all)

    def _on_levels(self, frame: pd.DataFrame) -> pd.DataFrame:
        """The chunk with its non-numeric model columns as categoricals on the schema's
        levels (numeric grouping columns stay numbers: they may be predictors too)."""
        schema = self.schema
        frame = frame.copy()
        for column in schema.columns.factors:
            if schema.kinds.get(column) != "number":
                frame[column] = schema.categorical(column, frame[column])
        return frame

    def _term(self, index: int, frame: pd.DataFrame) -> RandomEffectsTerm:
        spec = self.formula.random[index]
        group = tuple(spec.group)
        matrix = build_model_matrix(spec.lhs, frame, drop_aliased=False,
                                    what=f"random-effects term of {spec.group_name}")
        return RandomEffectsTerm(spec.group_name, group, level_labels(self.schema, group),
                                 group_codes_on(self.schema, frame, group), matrix)


@dataclass(frozen=True)
class _Sized:
    n_levels: int
    index: int


def _n_levels(schema: Schema, group: tuple[str, ...]) -> int:
    if len(group) == 1:
        return len(schema.levels[group[0]])
    return len(schema.combinations[group])


def level_labels(schema: Schema, group: tuple[str, ...]) -> pd.Index:
    """A grouping factor's level labels, as :func:`lmmpy.design.group_codes` makes them."""
    if len(group) == 1:
        return pd.Index(schema.levels[group[0]].astype(str), dtype=object)
    combos = schema.combinations[group]
    parts = [np.asarray(schema.levels[c].astype(str), dtype=object)[combos[:, j]]
             for j, c in enumerate(group)]
    return pd.Index([":".join(level) for level in zip(*parts, strict=True)], dtype=object)


def group_codes_on(schema: Schema, frame: pd.DataFrame, group: tuple[str, ...]) -> np.ndarray:
    """Each row's level code among the schema's levels of the grouping factor."""
    codes = [np.asarray(schema.categorical(c, frame[c]).codes, dtype=np.intp) for c in group]
    if len(group) == 1:
        return codes[0]
    sizes = [len(schema.levels[c]) for c in group]
    used = np.ravel_multi_index(tuple(schema.combinations[group].T), sizes)
    return np.searchsorted(used, np.ravel_multi_index(codes, sizes)).astype(np.intp)


# ---- the products' conditioning, fixed on the first chunk -------------------------------
@dataclass(frozen=True)
class ChunkPlan:
    """What every chunk's pass shares: the conditioning of [X y] and, for each term, the
    reference its column moments are taken about (the first chunk's column means)."""

    conditioning: Conditioning
    references: tuple[np.ndarray, ...]


def chunk_plan(first: Design) -> ChunkPlan:
    """T, s and the references from the first chunk: X̃ centred on its (weighted) means,
    ỹ its residual on the columns it does not alias (any T, s are exact; these make the
    products well conditioned when the chunk is like the rest)."""
    X, weights = first.X.values, first.weights
    names = list(first.X.names)
    constant = names.index(INTERCEPT) if INTERCEPT in names else None
    means = None
    if constant is not None and X.shape[1] > 1:
        means = X.mean(axis=0) if weights is None else weights @ X / weights.sum()
        means[constant] = 0.0
    conditioning = Conditioning(constant, means, None)
    Xc = conditioning.columns(X)
    shift = np.zeros(X.shape[1])
    kept = list(_unaliased_columns(Xc))
    if kept:
        Xk = Xc[:, kept]
        WX = Xk if weights is None else weights[:, None] * Xk
        _, part = residualised(Xk, WX, first.y - first.offset, Xk.T @ WX)
        shift[kept] = part
    references = tuple(term.model_matrix.values.mean(axis=0) for term in first.terms)
    return ChunkPlan(Conditioning(constant, means, shift if X.shape[1] else None), references)


def unaliased_columns(gram: np.ndarray, transform: np.ndarray | None) -> tuple[int, ...]:
    """The columns R's pivoted QR keeps (``lmmpy.design._fixed._unaliased_columns``), from
    the unweighted X̃'X̃ of X̃ = X T: a column goes when what is left of it after projecting
    out the columns kept before it is below 1e-7 of its norm.  The residuals are those of
    X̃ when T only centres on a first constant column (they are then the same), else of X.
    """
    raw = gram if transform is None else _design_gram(gram, transform)
    centred_first = transform is None or not np.any(transform[1:] - np.eye(len(gram))[1:])
    residual_gram = gram if centred_first else raw
    kept: list[int] = []
    L = np.zeros((0, 0))
    for j in range(len(gram)):
        norm = np.sqrt(max(raw[j, j], 0.0))
        g = residual_gram[kept, j]
        w = np.linalg.solve(L, g) if kept else g
        left = residual_gram[j, j] - w @ w
        if norm > 0 and np.sqrt(max(left, 0.0)) > _RANK_TOLERANCE * norm:
            size = len(kept)
            L = np.block([[L, np.zeros((size, 1))], [w[None, :], np.sqrt(left)[None, None]]])
            kept.append(j)
    return tuple(kept)


def _design_gram(gram: np.ndarray, transform: np.ndarray) -> np.ndarray:
    inverse = np.linalg.inv(transform)
    return inverse.T @ gram @ inverse


# ---- the design of the whole ------------------------------------------------------------
@dataclass(frozen=True)
class ChunkedDesign(Design):
    """The design of data fitted from chunks: encodings and counts, no rows.

    Attributes (beside :class:`~lmmpy.design.Design`'s, whose row arrays here raise
    :class:`~lmmpy.chunked.InMemoryDataError`)
    ----------
    n_rows : the number of observations
    moments : each term's column means and variances (the conditioning of θ's columns)
    fixed_gram : X'X (unweighted) in the design's coordinates
    response_sum : Σ (y − offset), telling the data of two fits apart
    """

    n_rows: int = 0
    moments: tuple = ()
    fixed_gram: np.ndarray | None = None
    response_sum: float = 0.0
    in_memory: ClassVar[bool] = False

    @property
    def n_obs(self) -> int:
        return self.n_rows

    def term_moments(self) -> tuple:
        return self.moments


def chunked_design(prototype: Design, kept: tuple[int, ...], n_rows: int, n_dropped: int,
                   moments: tuple, fixed_gram: np.ndarray, response_sum: float,
                   offset_column: str | None) -> ChunkedDesign:
    """The whole data's design from the first chunk's (its encodings) and the totals."""
    X = prototype.X
    names = tuple(X.names[j] for j in kept)
    fixed = ModelMatrix(RowsNotInMemory("the fixed-effects model matrix"), names, X.spec,
                        kept, X.renames)
    terms = tuple(replace(term, codes=RowsNotInMemory(f"the codes of {term.group_name}"),
                          model_matrix=ModelMatrix(
                              RowsNotInMemory(f"the model matrix of {term.group_name}"),
                              term.model_matrix.names, term.model_matrix.spec,
                              term.model_matrix.kept, term.model_matrix.renames))
                  for term in prototype.terms)
    weights = None if prototype.weights is None else RowsNotInMemory("the weights")
    return ChunkedDesign(prototype.formula, RowsNotInMemory("the response"), fixed, terms,
                         weights, RowsNotInMemory("the offset"),
                         RowsNotInMemory("the row labels"), n_dropped, offset_column,
                         prototype.columns, n_rows, moments, fixed_gram, response_sum)
