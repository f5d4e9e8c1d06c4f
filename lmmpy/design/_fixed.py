"""Fixed-effects model matrix X, built by formulaic.

Two things differ from formulaic's defaults so that X matches R's
``model.matrix`` (and hence lme4's estimates and REML criterion):

* ordered categoricals get orthogonal polynomial contrasts (R's ``contr.poly``,
  coefficient names ``temperature[.L]``, ``temperature[.Q]``, ...): the REML
  criterion depends on the contrasts, through log|R_X|;
* columns aliased with earlier ones are dropped as R's pivoted QR (LINPACK
  ``dqrdc2``) drops them: a column goes when what is left of it after
  projecting out the columns kept before it is below 1e-7 of its norm.

The intercept column is named ``(Intercept)``, as in lme4's output.
"""

from __future__ import annotations

import ast
import functools
import keyword
import re
from dataclasses import dataclass, field

import formulaic
import numpy as np
import pandas as pd
from formulaic.transforms import TRANSFORMS
from scipy.linalg import lapack

from lmmpy.design._checks import check_finite
from lmmpy.design._direct import FORMULAIC_INTERCEPT, DeferredSpec, direct_model_matrix
from lmmpy.design._variables import (
    EVALUATION_CONTEXT,
    factor_columns,
    formula_columns,
    parsed_formula,
    plain_column,
    shadowed_calls,
)

__all__ = ["INTERCEPT", "ModelMatrix", "build_model_matrix", "expression_values",
           "formula_columns", "offset_values", "parsed_formula", "polynomial_contrast_formula"]

INTERCEPT = "(Intercept)"
_POLY_FUNCTIONS = {False: ("C", "contr"), True: ("lmmpy_C", "lmmpy_contr")}
_OTHER_NAME = re.compile(r"\blmmpy_(\w+)\(")
_POLY_CALL = re.compile(r"\b(?:lmmpy_)?C\((.*?), (?:lmmpy_)?contr\.poly\)")
_RANK_TOLERANCE = 1e-7


@dataclass(frozen=True)
class ModelMatrix:
    """A model matrix with what is needed to rebuild it on new data.

    Attributes
    ----------
    values : ndarray (n, p)
    names : tuple of column names (formulaic's, the intercept as ``(Intercept)``)
    spec : formulaic ModelSpec that made it (before renaming and dropping)
    spec_source : ``spec``, or what makes it on first use (a fit does not need it)
    kept : indices of formulaic's columns that were kept (aliased ones dropped)
    renames : formulaic column name -> our column name
    """

    values: np.ndarray
    names: tuple[str, ...]
    spec_source: formulaic.ModelSpec | DeferredSpec = field(repr=False)
    kept: tuple[int, ...]
    renames: dict[str, str]

    @functools.cached_property
    def spec(self) -> formulaic.ModelSpec:
        """formulaic's ModelSpec of the matrix: made when first asked for on the
        direct path (:mod:`lmmpy.design._direct`)."""
        source = self.spec_source
        return source.model_spec() if isinstance(source, DeferredSpec) else source

    @property
    def aliased(self) -> tuple[str, ...]:
        """Names of the columns dropped as aliased with earlier ones."""
        return tuple(name for j, name in enumerate(self.renames.values()) if j not in self.kept)

    def term_positions(self) -> dict[str, list[int]]:
        """Positions in ``names`` of each formula term's columns, by the term as written
        (``1``, ``Days``, ``temperature`` for an ordered factor's polynomial columns)."""
        positions = {name: j for j, name in enumerate(self.names)}
        return {_rename(str(part.term)): [positions[self.renames[column]]
                                          for column in part.columns
                                          if self.renames[column] in positions]
                for part in self.spec.structure}

    def rebuild(self, data: pd.DataFrame) -> np.ndarray:
        """The same columns evaluated on ``data`` (formulaic's stored encoding state)."""
        matrix = self.spec.get_model_matrix(data, na_action="ignore", context=EVALUATION_CONTEXT)
        return np.asarray(matrix, dtype=float)[:, list(self.kept)]


def polynomial_contrast_formula(rhs: str, data: pd.DataFrame) -> formulaic.Formula:
    """Rewrite a right-hand side so that ordered categoricals use ``contr.poly`` and
    formulaic's functions are called even where a column has their name.

    formulaic looks names up in the data first: ``center(age)`` beside a column
    ``center`` would call the column, so such a call (and the ``C(t, contr.poly)``
    this adds, beside a column ``C``) is made by the function's other name in
    ``EVALUATION_CONTEXT`` (``lmmpy_center``); the matrix's column names say
    ``center(age)``.

    Examples
    --------
    >>> df = pd.DataFrame({"t": pd.Categorical(["a", "b", "c"], ordered=True)})
    >>> [str(term) for term in polynomial_contrast_formula("t", df)]
    ['1', 'C(t, contr.poly)']
    >>> df = pd.DataFrame({"center": ["a", "b"], "age": [30.0, 40.0]})
    >>> [str(term) for term in polynomial_contrast_formula("center(age) + center", df)]
    ['1', 'lmmpy_center(age)', 'center']
    """
    formula = parsed_formula(rhs)
    ordered = {
        name for term in formula for factor in term.factors
        if (name := plain_column(factor, data.columns)) is not None
        and isinstance(dtype := data[name].dtype, pd.CategoricalDtype) and dtype.ordered
    }
    shadowed = shadowed_calls(formula, data.columns) & set(TRANSFORMS)
    if not ordered and not shadowed:
        return formula
    functions = _POLY_FUNCTIONS[bool({"C", "contr"} & set(data.columns))]
    terms = [":".join(_factor_text(f, ordered, functions, shadowed) for f in term.factors)
             for term in formula]
    if "1" not in terms:
        terms.insert(0, "0")
    return parsed_formula(" + ".join(terms))


def _factor_text(factor, ordered: set[str], functions: tuple[str, str],
                 shadowed: set[str]) -> str:
    expr = factor.expr
    if factor.eval_method.value == "lookup" and expr in ordered:
        call, contrasts = functions
        return f"{call}({_quoted(expr)}, {contrasts}.poly)"
    if factor.eval_method.value == "python" and shadowed:
        return _unshadowed_calls(expr, shadowed)
    return expr if expr == "1" else _quoted(expr)


def _unshadowed_calls(expr: str, shadowed: set[str]) -> str:
    """``expr`` with its calls of ``shadowed`` functions made by their other names (the
    rest of the text as written: it names the matrix's columns)."""
    try:
        tree = ast.parse(expr, mode="eval")
    except SyntaxError:   # formulaic's own syntax (backticks): left, and reported below
        return expr
    calls = sorted((node.func for node in ast.walk(tree) if isinstance(node, ast.Call)
                    and isinstance(node.func, ast.Name) and node.func.id in shadowed),
                   key=lambda name: name.col_offset, reverse=True)
    text = expr.encode()   # ast's offsets count UTF-8 bytes
    for name in calls:
        text = text[:name.col_offset] + b"lmmpy_" + text[name.col_offset:]
    rewritten = text.decode()
    return rewritten if isinstance(tree.body, ast.Call) else f"{{{rewritten}}}"


def _quoted(name: str) -> str:
    """Backtick a factor that formulaic would not read back as written."""
    if name.isidentifier() and not keyword.iskeyword(name):
        return name
    try:
        formulaic.Formula(name)
        return name
    except Exception:
        return f"`{name}`"


def _rename(column: str) -> str:
    if column == FORMULAIC_INTERCEPT:
        return INTERCEPT
    # "C(temperature, contr.poly)[.L]" reads as "temperature[.L]"
    column = _POLY_CALL.sub(lambda match: match.group(1).strip("`"), column)
    return _OTHER_NAME.sub(r"\1(", column)   # "lmmpy_center(age)" as written, "center(age)"


def build_model_matrix(rhs: str, data: pd.DataFrame, drop_aliased: bool = True,
                       what: str = "the fixed-effects model matrix",
                       transform_data: pd.DataFrame | None = None) -> ModelMatrix:
    """Materialise ``rhs`` on ``data`` with R's contrasts and aliasing rules.

    A formula of numeric columns, their products, the intercept and
    categorical main effects is materialised by :mod:`lmmpy.design._direct`
    (formulaic's columns and names; formulaic's fixed cost is a fifth to a
    half of a small model's whole fit), its ModelSpec made by formulaic when
    first asked for; anything else (interactions with categoricals,
    transforms, expressions, ordered factors) by formulaic.

    ``transform_data``: rows from which data-dependent transforms (``poly``,
    ``scale``, ``center``, splines) take their state (each from the rows that
    have its own columns), as R's ``model.frame`` evaluates them before
    dropping the rows missing other variables (the categorical encodings still
    come from ``data``).

    Examples
    --------
    >>> df = pd.DataFrame({"x": [1.0, 2.0, 3.0], "g": ["a", "b", "a"]})
    >>> build_model_matrix("x + g", df).names
    ('(Intercept)', 'x', 'g[T.b]')
    """
    formula = polynomial_contrast_formula(rhs, data)
    _check_no_shadowed_function(formula, rhs, data, what)
    direct = direct_model_matrix(formula, data)
    if direct is None:
        matrix = formulaic.model_matrix(formula, data, na_action="ignore",
                                        context=EVALUATION_CONTEXT)
        if transform_data is not None and matrix.model_spec.transform_state:
            matrix = _with_transform_state_of(matrix, formula, data, transform_data)
        values, columns = np.asarray(matrix, dtype=float), list(matrix.columns)
        spec_source = matrix.model_spec
    else:
        values, columns = direct
        # copies: the caller may change its data frame in place before the spec is made
        spec_source = DeferredSpec(formula, {name: data[name].array.copy()
                                             for name in _lookup_columns(formula)})
    renames = {column: _rename(column) for column in columns}
    names = [renames[column] for column in columns]
    check_finite(values, what, names)
    all_columns = tuple(range(values.shape[1]))
    kept = _unaliased_columns(values) if drop_aliased and values.shape[0] else all_columns
    return ModelMatrix(
        values=values[:, list(kept)],
        names=tuple(names[j] for j in kept),
        spec_source=spec_source,
        kept=kept,
        renames=renames,
    )


def _with_transform_state_of(matrix, formula: formulaic.Formula, data: pd.DataFrame,
                             transform_data: pd.DataFrame):
    """``matrix`` (of ``data``) rebuilt with each transform's state (``poly``'s basis,
    ``scale``'s centre and scale) taken from the rows of ``transform_data`` that have the
    transform's own columns, as R's ``model.frame`` evaluates each variable on every row."""
    state = dict(matrix.model_spec.transform_state)
    for term in formula:
        for factor in term.factors:
            if factor.expr not in state:
                continue
            columns = sorted(factor_columns(factor, transform_data.columns))
            rows = transform_data[columns].notna().all(axis=1) if columns else slice(None)
            wide = formulaic.model_matrix(f"0 + {factor.expr}", transform_data.loc[rows],
                                          na_action="ignore", context=EVALUATION_CONTEXT)
            state[factor.expr] = wide.model_spec.transform_state.get(factor.expr,
                                                                      state[factor.expr])
    spec = matrix.model_spec.update(transform_state=state)
    return spec.get_model_matrix(data, na_action="ignore", context=EVALUATION_CONTEXT)


def offset_values(expression: str, data: pd.DataFrame) -> np.ndarray:
    """The expression inside an ``offset(...)`` term evaluated on ``data`` (NaN where a
    value is missing), its calls of functions a column shadows made by their other names
    as in the fixed effects: ``offset(log(exposure))`` beside a column ``log`` takes the
    logarithm, as R does.

    Examples
    --------
    >>> df = pd.DataFrame({"log": [1.0, 2.0], "exposure": [1.0, np.e]})
    >>> offset_values("log(exposure)", df).tolist()
    [0.0, 1.0]
    """
    formula = polynomial_contrast_formula(f"0 + {expression}", data)
    _check_no_shadowed_function(formula, expression, data, "the offset")
    matrix = formulaic.model_matrix(formula, data, na_action="ignore",
                                    context=EVALUATION_CONTEXT)
    return np.asarray(matrix, dtype=float).ravel()


def expression_values(expression: str, data: pd.DataFrame, what: str) -> np.ndarray:
    """A Python expression of the data's columns evaluated on ``data`` (n × k: k > 1 for a
    categorical), NaN where a value is missing: a response such as ``log(y)`` or a part of
    ``cbind(s, n - s)``.  Names are resolved as in the fixed effects: a called name is the
    function even beside a column of its name (``log(n)`` beside a column ``log`` takes
    the logarithm, as R does).

    Examples
    --------
    >>> df = pd.DataFrame({"log": [1.0, 2.0], "n": [1.0, np.e]})
    >>> expression_values("log(n) + log", df, "the response").ravel().tolist()
    [1.0, 3.0]
    """
    formula = polynomial_contrast_formula(f"0 + {{{expression}}}", data)
    _check_no_shadowed_function(formula, expression, data, what)
    matrix = formulaic.model_matrix(formula, data, na_action="ignore",
                                    context=EVALUATION_CONTEXT)
    return np.asarray(matrix, dtype=float)


def _check_no_shadowed_function(formula: formulaic.Formula, rhs: str, data: pd.DataFrame,
                                what: str) -> None:
    """A call a column shadows that the rewrite could not route round (not one of
    formulaic's functions, or not Python) is an error, not formulaic's traceback."""
    shadowed = shadowed_calls(formula, data.columns)
    if shadowed:
        name = sorted(shadowed)[0]
        raise ValueError(
            f"{what}: {rhs!r} calls {name}(), but the data has a column named {name!r}, "
            f"which formulaic would call instead; rename the column to use {name}() on it")


def _lookup_columns(formula: formulaic.Formula) -> set[str]:
    """The columns of a directly materialised formula: its factors are plain names."""
    return {factor.expr for term in formula for factor in term.factors
            if factor.eval_method.value == "lookup"}


def _unaliased_columns(values: np.ndarray) -> tuple[int, ...]:
    """Indices of the columns R's ``qr(X)$pivot[seq_len(rank)]`` keeps, in order."""
    if _clearly_full_rank(values):
        return tuple(range(values.shape[1]))
    kept: list[int] = []
    basis = np.empty((values.shape[0], 0))
    for j in range(values.shape[1]):
        column = values[:, j]
        norm = np.linalg.norm(column)
        residual = column - basis @ (basis.T @ column)
        residual -= basis @ (basis.T @ residual)  # second pass: Gram-Schmidt loses orthogonality
        if norm > 0 and np.linalg.norm(residual) > _RANK_TOLERANCE * norm:
            kept.append(j)
            basis = np.column_stack([basis, residual / np.linalg.norm(residual)])
    return tuple(kept)


def _clearly_full_rank(values: np.ndarray) -> bool:
    """Whether every column keeps more than 1e-4 of its norm after projecting out the
    columns before it, by a Cholesky factor of the scaled cross-product: far from the
    1e-7 at which :func:`_unaliased_columns` drops one, where that factor's rounding
    (1e-8 relative) cannot matter.  A few small products instead of a loop by column."""
    norms = np.sqrt(np.einsum("ij,ij->j", values, values))
    if not values.shape[1] or not np.all(norms > 0):
        return not values.shape[1]
    scaled = values / norms
    factor, info = lapack.dpotrf(scaled.T @ scaled)
    return info == 0 and bool(np.all(np.abs(np.diagonal(factor)) > 1e-4))
