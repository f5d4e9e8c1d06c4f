"""The first pass over the chunks: what an in-memory fit would learn from the whole frame.

Per chunk (:func:`summarize_chunk`), after lme4's ``na.omit`` over the model's
columns (as ``build_design`` drops rows), the pass records the number of rows
kept, the missing values of each column, each column's kind (number, string,
bool, ...), the values of every factor column (grouping factors and
non-numeric predictors), the observed combinations of the columns of an
interaction grouping factor (``g1:g2``) and the range of each numeric fixed
predictor.  Summaries merge pairwise (:meth:`ChunkSummary.merge`, a tree
reduction on Dask) into the :class:`Schema`:

* levels in the order an in-memory fit gives them: sorted values for a
  column of strings or numbers (``pandas.factorize(sort=True)``); for a
  categorical column its categories in order, the categories of later chunks
  that the first lacks appended as they appear (``union_categoricals``),
  unused ones dropped;
* an interaction factor's levels are the observed combinations in the order
  of the columns' codes (``group_codes``).

A column whose kind differs between chunks (strings in one file, numbers in
another) is a TypeError naming both places.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from lmmpy.design._build import _complete_rows, _fixed_variables, _required_columns
from lmmpy.design._checks import check_columns_exist
from lmmpy.formula import ParsedFormula


@dataclass(frozen=True)
class ModelColumns:
    """The data columns a model reads, resolved against the data's columns.

    Attributes
    ----------
    all : every column the model reads (formula, weights, offset)
    factors : grouping columns and non-numeric predictors (their levels are learnt)
    groups : each random-effects term's grouping columns (a tuple per term)
    fixed : the columns of the fixed part (checked for a single value)
    """

    all: tuple[str, ...]
    factors: tuple[str, ...]
    groups: tuple[tuple[str, ...], ...]
    fixed: tuple[str, ...]


def model_columns(formula: ParsedFormula, frame: pd.DataFrame, weights: str | None,
                  offset: str | None) -> ModelColumns:
    """The columns of ``formula`` in ``frame`` (a chunk, or an empty frame of its schema)."""
    columns = _required_columns(formula, frame)
    check_columns_exist(columns, frame, f"formula {formula.formula!r}")
    for name, what in ((weights, "weights"), (offset, "offset")):
        if name is not None:
            check_columns_exist([name], frame, what)
    extra = [name for name in (weights, offset) if name is not None and name not in columns]
    groups = tuple(tuple(term.group) for term in formula.random)
    grouping = {column for group in groups for column in group}
    factors = [column for column in columns
               if column in grouping or column_kind(frame[column].dtype) != "number"]
    fixed = sorted(_fixed_variables(formula, frame))
    return ModelColumns(tuple(columns + extra), tuple(factors), groups, tuple(fixed))


def column_kind(dtype: object) -> str:
    """number, bool, string, datetime or the dtype's name: what must agree across chunks."""
    if isinstance(dtype, pd.CategoricalDtype):
        return column_kind(dtype.categories.dtype)
    if pd.api.types.is_bool_dtype(dtype):
        return "bool"
    if pd.api.types.is_numeric_dtype(dtype):
        return "number"
    if pd.api.types.is_datetime64_any_dtype(dtype):
        return "datetime"
    if pd.api.types.is_object_dtype(dtype) or pd.api.types.is_string_dtype(dtype):
        return "string"
    return str(dtype)


@dataclass
class ChunkSummary:
    """What one chunk (or several, merged) tells about the data; see the module docstring."""

    source: str
    n_rows: int = 0
    n_kept: int = 0
    missing: dict[str, int] = field(default_factory=dict)
    kinds: dict[str, tuple[str, str]] = field(default_factory=dict)   # kind, where first seen
    values: dict[str, pd.Index] = field(default_factory=dict)
    categories: dict[str, list | None] = field(default_factory=dict)
    ordered: dict[str, bool] = field(default_factory=dict)
    combinations: dict[tuple[str, ...], pd.DataFrame] = field(default_factory=dict)
    ranges: dict[str, tuple] = field(default_factory=dict)

    def merge(self, other: ChunkSummary) -> ChunkSummary:
        """Both chunks' summary (``self`` first: the order of categories follows it)."""
        for column, (kind, where) in other.kinds.items():
            mine = self.kinds.get(column)
            if mine is not None and mine[0] != kind:
                raise TypeError(f"column {column!r} holds {mine[0]} values in {mine[1]} but "
                                f"{kind} values in {where}; make its type the same in every "
                                "file or partition")
        merged = ChunkSummary(self.source, self.n_rows + other.n_rows,
                              self.n_kept + other.n_kept,
                              {c: self.missing.get(c, 0) + other.missing.get(c, 0)
                               for c in self.missing | other.missing},
                              other.kinds | self.kinds)
        for column in self.values | other.values:
            merged.values[column] = _union(self.values.get(column), other.values.get(column))
            merged.categories[column] = _category_union(self.categories.get(column, None),
                                                        other.categories.get(column, None))
            merged.ordered[column] = self.ordered.get(column, False) or other.ordered.get(
                column, False)
        for group in self.combinations | other.combinations:
            frames = [s.combinations[group] for s in (self, other) if group in s.combinations]
            merged.combinations[group] = pd.concat(frames).drop_duplicates(ignore_index=True)
        for column in self.ranges | other.ranges:
            pairs = [s.ranges[column] for s in (self, other) if column in s.ranges]
            merged.ranges[column] = (min(p[0] for p in pairs), max(p[1] for p in pairs))
        return merged


def _union(a: pd.Index | None, b: pd.Index | None) -> pd.Index:
    if a is None or b is None:
        return a if b is None else b
    return a.append(b).drop_duplicates()


def _category_union(a: list | None, b: list | None) -> list | None:
    """Categories of both in order of appearance; None when either chunk was not categorical
    (its levels are then sorted, as pandas sorts a column of mixed chunks)."""
    if a is None or b is None:
        return None
    seen = dict.fromkeys(a)
    seen.update(dict.fromkeys(b))
    return list(seen)


def summarize_chunk(frame: pd.DataFrame, source: str, formula: ParsedFormula,
                    columns: ModelColumns, weights: str | None,
                    offset: str | None) -> ChunkSummary:
    """The :class:`ChunkSummary` of one chunk."""
    summary = ChunkSummary(source, n_rows=len(frame))
    for column in columns.all:
        values = frame[column]
        summary.kinds[column] = (column_kind(values.dtype), source)
        summary.missing[column] = int(values.isna().sum())
    weight_values = None if weights is None else frame[weights].to_numpy(dtype=float)
    offset_values = None if offset is None else frame[offset].to_numpy(dtype=float)
    keep = _complete_rows(formula, [c for c in columns.all if c not in (weights, offset)],
                          frame, weight_values, offset_values)
    kept = frame if keep.all() else frame.loc[keep]
    summary.n_kept = len(kept)
    for column in columns.factors:
        values = kept[column]
        dtype = values.dtype
        categorical = isinstance(dtype, pd.CategoricalDtype)
        summary.values[column] = pd.Index(values.drop_duplicates().to_numpy()
                                          if not categorical else values.cat.categories[
                                              np.unique(values.array.codes)])
        summary.categories[column] = list(dtype.categories) if categorical else None
        summary.ordered[column] = bool(categorical and dtype.ordered)
    for group in columns.groups:
        if len(group) > 1:
            combos = kept[list(group)].drop_duplicates(ignore_index=True)
            summary.combinations[group] = combos.astype(object)
    for column in columns.fixed:
        if column not in columns.factors and len(kept):
            values = kept[column]
            summary.ranges[column] = (values.min(), values.max())
    return summary


@dataclass(frozen=True)
class Schema:
    """What the first pass learnt: rows, missing values and the levels of the factors.

    Attributes
    ----------
    columns : the model's columns (:class:`ModelColumns`)
    n_rows, n_kept : rows read and rows kept after dropping missing values
    missing : missing values per column
    levels : each factor column's levels (typed values, in the in-memory order)
    ordered : whether each factor column is an ordered categorical
    combinations : each interaction grouping factor's observed combinations, as codes
        into its columns' levels (one row per level, in the in-memory order)
    ranges : (min, max) of each numeric fixed predictor
    kinds : each column's kind
    """

    columns: ModelColumns
    n_rows: int
    n_kept: int
    missing: dict[str, int]
    levels: dict[str, pd.Index]
    ordered: dict[str, bool]
    combinations: dict[tuple[str, ...], np.ndarray]
    ranges: dict[str, tuple]
    kinds: dict[str, str]

    @property
    def n_dropped(self) -> int:
        return self.n_rows - self.n_kept

    def categorical(self, column: str, values: pd.Series) -> pd.Categorical:
        """A chunk's ``values`` of a factor column on the global levels."""
        levels, ordered = self.levels[column], self.ordered[column]
        if isinstance(values.dtype, pd.CategoricalDtype):   # recoded by value
            return pd.Series(values).cat.set_categories(levels, ordered=ordered).array
        return pd.Categorical(values, categories=levels, ordered=ordered)


def schema_of(summary: ChunkSummary, columns: ModelColumns) -> Schema:
    """The :class:`Schema` of the merged summary of every chunk."""
    levels = {column: _ordered_levels(summary, column) for column in columns.factors}
    combinations = {}
    for group, combos in summary.combinations.items():
        codes = [pd.Categorical(combos[column], categories=levels[column]).codes
                 for column in group]
        sizes = [len(levels[column]) for column in group]
        used = np.unique(np.ravel_multi_index(codes, sizes))
        combinations[group] = np.column_stack(np.unravel_index(used, sizes))
    return Schema(columns, summary.n_rows, summary.n_kept, dict(summary.missing), levels,
                  {c: summary.ordered.get(c, False) for c in columns.factors}, combinations,
                  dict(summary.ranges), {c: kind for c, (kind, _) in summary.kinds.items()})


def _ordered_levels(summary: ChunkSummary, column: str) -> pd.Index:
    observed = summary.values.get(column, pd.Index([]))
    categories = summary.categories.get(column)
    if categories is None:
        return observed.sort_values()
    categories = pd.Index(categories)
    return categories[categories.isin(observed)]
