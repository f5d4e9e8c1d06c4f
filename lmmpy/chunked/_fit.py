"""``lmer`` on data in chunks: the schema pass, the products pass, then the usual stages.

1. Schema (:mod:`lmmpy.chunked._schema`): columns, levels, missing values.
   The checks that need every row but not the products run here: no rows
   left, a grouping factor's levels against the observations, a constant
   predictor or a single-level factor.
2. The first chunk with rows is built on this machine: its design gives the
   encodings (column names, formulaic's specs) and the conditioning every
   chunk shares (:func:`~lmmpy.chunked._design.chunk_plan`).
3. Products (:mod:`lmmpy.chunked._pass`): one pass, summed in a tree.
   The checks on the products: aliased columns (dropped, with lme4's
   warning), random effects against observations, a response the fixed
   effects fit exactly.
4. Stages 4-6 as in memory (:func:`lmmpy._fitting.fit_design`): the optimizer and
   everything after it see only the products.
"""

from __future__ import annotations

import functools
import warnings
from dataclasses import replace

import numpy as np
import pandas as pd

from lmmpy._warnings import RankDeficiencyWarning
from lmmpy.chunked._design import (
    ChunkDesigner,
    ChunkPlan,
    chunk_plan,
    chunked_design,
    unaliased_columns,
)
from lmmpy.chunked._model import ChunkedLinearMixedModel
from lmmpy.chunked._pass import (
    SLICE_ROWS,
    ChunkMoments,
    chunk_products,
    combine,
    combine_in_place,
)
from lmmpy.chunked._schema import ChunkSummary, Schema, model_columns, schema_of, summarize_chunk
from lmmpy.design import Design
from lmmpy.design import _checks as checks
from lmmpy.design._build import _predictor_columns
from lmmpy.formula import ParsedFormula, parse_formula
from lmmpy.objective import CrossProducts, ProfiledDeviance


def lmer_chunked(formula: str, source, *, reml: bool, weights, offset, start,
                 data_name: str | None, control=None) -> ChunkedLinearMixedModel:
    """:func:`lmmpy.lmer` on a chunk source (:mod:`lmmpy.chunked._sources`)."""
    from lmmpy._control import LmerControl, check_control
    from lmmpy._fitting import fit_design

    control = check_control(control, LmerControl, "lmer")
    parsed = parse_formula(formula)
    weights, offset = _column_name(weights, "weights"), _column_name(offset, "offset")
    schema = learn_schema(parsed, source, weights, offset)
    designer = ChunkDesigner.of(parsed, schema, weights, offset)
    prototype = first_design(source, designer)
    for index, term in zip(designer.order, prototype.terms, strict=True):
        spec = parsed.random[index]
        checks.check_random_effects_count(f"({spec.lhs} | {spec.group_name})",
                                          term.n_random_effects, schema.n_kept)
    plan = chunk_plan(prototype)
    columns = list(schema.columns.all)
    products, moments = source.reduce(
        functools.partial(chunk_products, designer=designer, plan=plan), combine, columns,
        add_in_place=combine_in_place)
    design, crossprods = whole_design(prototype, plan, schema, products, moments, offset)
    objective = ProfiledDeviance(crossprods, design.terms, reml=reml, _path=control.path)
    return fit_design(design, objective, start, data_name, control, ChunkedLinearMixedModel,
                      stacklevel=5, source=source, designer=designer)


def _column_name(value: object, what: str) -> str | None:
    if value is None or isinstance(value, str):
        return value
    raise TypeError(f"{what} must name a column when the data are in chunks (Parquet or "
                    f"Dask), not be a {type(value).__name__}")


def learn_schema(formula: ParsedFormula, source, weights: str | None,
                 offset: str | None) -> Schema:
    """The first pass, and the checks it allows (module docstring)."""
    empty = source.empty()
    columns = model_columns(formula, empty, weights, offset)
    checks.check_predictor_types(_predictor_columns(formula, list(columns.all)), empty)
    summary = source.reduce(
        functools.partial(summarize_chunk, formula=formula, columns=columns, weights=weights,
                          offset=offset), ChunkSummary.merge, list(columns.all))
    schema = schema_of(summary, columns)
    check_schema(formula, schema)
    return schema


def check_schema(formula: ParsedFormula, schema: Schema) -> None:
    """No rows; a constant fixed predictor; a grouping factor with too few or too many
    levels (lme4's checks, as :func:`lmmpy.design.build_design` makes them)."""
    if schema.n_kept == 0:
        raise ValueError("no rows are left after dropping rows with missing values")
    checks.check_not_constant(_extremes(schema), schema.columns.fixed, "the fixed effects")
    for spec in formula.random:
        group = tuple(spec.group)
        n_levels = (len(schema.levels[group[0]]) if len(group) == 1
                    else len(schema.combinations[group]))
        checks.check_grouping_factor(spec.group_name, n_levels, schema.n_kept)


def _extremes(schema: Schema) -> pd.DataFrame:
    """Two rows per fixed predictor holding its smallest and largest value (its first
    and last level): constant exactly when the whole column is."""
    columns = {}
    for column in schema.columns.fixed:
        if column in schema.levels:
            levels = schema.levels[column]
            columns[column] = [levels[0], levels[-1]] if len(levels) else [None, None]
        elif column in schema.ranges:
            columns[column] = list(schema.ranges[column])
    return pd.DataFrame(columns)


def first_design(source, designer: ChunkDesigner) -> Design:
    """The design of the first slice of at most ``SLICE_ROWS`` rows with rows left (its
    encodings are the whole data's; a Dask partition of a whole file is not designed
    whole on this machine)."""
    for where, frame in source.chunks(list(designer.schema.columns.all)):
        for start in range(0, len(frame), SLICE_ROWS):
            try:
                design = designer.design(frame.iloc[start:start + SLICE_ROWS])
            except (ValueError, TypeError) as error:
                raise type(error)(f"{where}: {error}") from error
            if design is not None:
                _check_stateless(design)
                return design
    raise ValueError("no rows are left after dropping rows with missing values")


def _check_stateless(design: Design) -> None:
    """A transform that learns from the data (``center(x)``, ``scale(x)``, ``poly(x)``)
    would learn from one chunk: refused."""
    for matrix in (design.X, *(term.model_matrix for term in design.terms)):
        state = getattr(matrix.spec, "transform_state", None)
        if state:
            raise ValueError(
                f"{', '.join(sorted(state))} learns from the data (a mean, a scale, a basis), "
                "which a fit in chunks cannot give it from one chunk: compute the column "
                "before fitting, e.g. data['x_c'] = data['x'] - mean")


def whole_design(prototype: Design, plan: ChunkPlan, schema: Schema, products: CrossProducts,
                 moments: ChunkMoments, offset: str | None) -> tuple[Design, CrossProducts]:
    """The design of all the rows and its products, aliased columns dropped, checked."""
    p = products.n_fixed
    gram = products.XytXy[:p, :p] if moments.gram is None else moments.gram
    kept = unaliased_columns(gram, products.transform)
    aliased = [prototype.X.names[j] for j in range(p) if j not in kept]
    if aliased:
        warnings.warn(
            f"fixed-effect model matrix is rank deficient so dropping {len(aliased)} "
            f"column(s) / coefficient(s): {', '.join(aliased)}", RankDeficiencyWarning,
            stacklevel=4)
    crossprods = fixed_columns(products, kept)
    inverse = np.eye(p) if products.transform is None else np.linalg.inv(products.transform)
    fixed_gram = (inverse.T @ gram @ inverse)[np.ix_(kept, kept)]
    n = schema.n_kept
    term_moments = tuple((reference + total / n, np.diagonal(square) / n - (total / n) ** 2)
                         for reference, total, square in zip(
                             plan.references, moments.sums, moments.squares,
                             strict=True))
    design = chunked_design(prototype, kept, n, schema.n_dropped, term_moments, fixed_gram,
                            moments.response_sum, offset)
    check_response_varies(crossprods, prototype.formula.response)
    return design, crossprods


def fixed_columns(crossprods: CrossProducts, kept: tuple[int, ...]) -> CrossProducts:
    """The products of [X̃_kept, y − X̃_kept s_kept] from those of [X̃, y − X̃ s]: a linear
    map M of the columns (the dropped columns' part of the shift joins ỹ)."""
    p = crossprods.n_fixed
    if len(kept) == p:
        return crossprods
    k, kept_list = len(kept), list(kept)
    M = np.zeros((p + 1, k + 1))
    M[kept_list, np.arange(k)] = 1.0
    M[p, k] = 1.0
    shift = crossprods.shift
    if shift is not None:
        dropped = [j for j in range(p) if j not in kept]
        M[dropped, k] = shift[dropped]
    T = crossprods.transform
    return replace(crossprods, ZtXy=crossprods.ZtXy @ M, XytXy=M.T @ crossprods.XytXy @ M,
                   n_fixed=k, transform=None if T is None else T[np.ix_(kept_list, kept_list)],
                   shift=None if shift is None else shift[kept_list])


def check_response_varies(crossprods: CrossProducts, name: str | None) -> None:
    """A response (less the offset) that the fixed effects fit exactly, from the products:
    the residual of ỹ on X̃ against y − offset (:func:`lmmpy.design._checks.
    check_response_varies`'s tolerance, in squares)."""
    p = crossprods.n_fixed
    P = crossprods.XytXy
    shift = np.zeros(p) if crossprods.shift is None else crossprods.shift
    whole = np.append(shift, 1.0)
    total = float(whole @ P @ whole)           # ‖y − offset‖²
    what = f"response {name!r}" if name else "the response"
    if total <= 0:
        raise ValueError(f"{what} equals the offset in every row: nothing is left to model "
                         "(lme4 returns an infinite log-likelihood); check the offset")
    left = float(P[p, p])
    if p:
        coefficients = np.linalg.lstsq(P[:p, :p], P[:p, p], rcond=None)[0]
        left -= float(P[:p, p] @ coefficients)
    if left <= 1e-20 * total:
        raise ValueError(
            f"{what} is fitted exactly by the fixed effects (a linear function of them, to "
            "1e-10): there is no residual variation to estimate variance components from "
            "(lme4 returns an infinite log-likelihood); check the response column")

