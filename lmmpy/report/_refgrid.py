"""The reference grid of a fit and the rows of L that average over it (R's ``ref_grid``).

emmeans (Lenth 2016, JSS 69(1)) estimates marginal means as linear functions
l'β̂ of the fixed effects.  The reference grid holds every combination of

* each factor at all its levels (the fit's levels, in their order);
* each numeric variable at its mean over the rows of the fit, or at the values
  given in ``at=``; a numeric variable with two or fewer distinct values is
  kept at those values (emmeans' ``cov.keep = "2"``: a 0/1 covariate is
  averaged over as a factor would be);

and each grid row's fixed-effects row x is the fit's model matrix evaluated on
it (formulaic's stored encodings, so contrasts and transforms such as
``log(w)`` or ``I(x^2)`` apply to the grid values).  A marginal mean is the
equally weighted average of the x of the grid rows that share its levels of
``specs`` and ``by``.

When the fit dropped aliased columns of X (an empty cell of an interaction),
some l are not estimable: l'β depends on how the aliasing was resolved.  l is
estimable when it is orthogonal to the null space of the full model matrix
(Searle 1971, as R's estimability package checks with its ``nonest.basis``);
the grid rows keep the aliased columns for that check, so it needs the fitted
data (``data=``).

The variables' values come from ``data`` when it is given; otherwise a
factor's levels are read from the model matrix's encodings and a number's
values from its column of X (a variable used only inside a transform is not
kept by the fit: then ``data=`` is needed).
"""

from __future__ import annotations

import ast
import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from lmmpy.results import LinearMixedModel

KEEP_DISTINCT = 2  # emmeans' cov.keep: numbers with this many distinct values or fewer
ESTIMABLE_TOL = 1e-8  # estimability's is.estble tolerance


@dataclass(frozen=True)
class Variable:
    """A variable of the fixed part: a factor's levels or a number's observed values."""

    name: str
    is_factor: bool
    levels: tuple = ()
    observed: np.ndarray | None = None

    def grid_values(self) -> list:
        if self.is_factor:
            return list(self.levels)
        distinct = np.unique(self.observed)
        if len(distinct) <= KEEP_DISTINCT:
            return [float(v) for v in distinct]
        return [float(np.mean(self.observed))]


@dataclass(frozen=True)
class ReferenceGrid:
    """Every combination of the variables' grid values and its fixed-effects rows.

    Attributes
    ----------
    frame : one row per combination, one column per variable
    X : the fit's fixed-effects model matrix on ``frame``, aliased columns included
    kept : the columns of ``X`` the fit kept (its coefficients)
    nonestimable : a basis of the null space of the fit's full model matrix (None when
        no column was dropped: then every row is estimable)
    values : each variable's values in the grid, in grid order
    variables : what each variable is (factor levels or observed numbers)
    """

    frame: pd.DataFrame
    X: np.ndarray
    kept: list[int]
    nonestimable: np.ndarray | None
    values: dict[str, list]
    variables: dict[str, Variable]

    def coefficients(self, L: np.ndarray) -> np.ndarray:
        """Rows of L (over the full columns) restricted to the fit's coefficients."""
        return L[:, self.kept]

    def estimable(self, L: np.ndarray) -> np.ndarray:
        """Whether each row of L (over the full columns) is estimable."""
        if self.nonestimable is None:
            return np.ones(len(L), dtype=bool)
        scale = np.maximum(np.abs(L).max(axis=1), 1.0)
        return np.abs(L @ self.nonestimable).max(axis=1) <= ESTIMABLE_TOL * scale


def model_variables(model: LinearMixedModel, data: pd.DataFrame | None) -> dict[str, Variable]:
    """The variables of the model's fixed part, in the order of the formula."""
    spec = model.design.X.spec
    names = _formula_order(spec)
    return {name: _variable(model, spec, name, data) for name in names}


def _formula_order(spec) -> list[str]:
    required = set(spec.required_variables)
    ordered: list[str] = []
    for term in spec.formula:
        for factor in term.factors:
            ordered += sorted(name for name in required - set(ordered)
                              if _mentions(str(factor.expr), name))
    return ordered + sorted(required - set(ordered))


def _mentions(expr: str, name: str) -> bool:
    try:
        tree = ast.parse(expr, mode="eval")
    except SyntaxError:  # a backticked name that is not an identifier
        return expr.strip("`") == name
    return any(isinstance(node, ast.Name) and node.id == name for node in ast.walk(tree))


def _variable(model, spec, name: str, data: pd.DataFrame | None) -> Variable:
    levels = _encoded_levels(spec, name)
    if levels is not None:
        return Variable(name, True, levels=tuple(levels))
    if data is not None and name in data:
        column = data.loc[model.design.row_index, name]
        return Variable(name, False, observed=column.to_numpy(dtype=float))
    X = model.design.X
    if name in X.names:
        return Variable(name, False, observed=X.values[:, X.names.index(name)])
    raise ValueError(f"the model does not keep the values of {name!r} (it is used only inside "
                     "a transform or an interaction): pass the fitted data as data=")


def _encoded_levels(spec, name: str) -> list | None:
    """The levels of ``name`` if the model encodes it as a categorical (``g``, ``C(g, ...)``)."""
    for key, (kind, state) in spec.encoder_state.items():
        if getattr(kind, "value", kind) != "categorical":
            continue
        key = key.strip("`")
        if key == name or key.startswith((f"C({name},", f"C({name})", f"C(`{name}`")):
            return list(state["categories"])
    return None


def reference_grid(model: LinearMixedModel, at: Mapping[str, Any] | None,
                   data: pd.DataFrame | None) -> ReferenceGrid:
    """The reference grid with ``at`` replacing the default values of the variables it names."""
    variables = model_variables(model, data)
    values = {name: variable.grid_values() for name, variable in variables.items()}
    for name, given in (at or {}).items():
        values[name] = _at_values(variables, name, given)
    names = list(values)
    # the first variable varies fastest, as R's expand.grid
    rows = [combination[::-1] for combination in
            itertools.product(*(values[name] for name in reversed(names)))]
    frame = pd.DataFrame(rows, columns=names)
    for name in names:
        if variables[name].is_factor:
            frame[name] = pd.Categorical(frame[name], categories=list(variables[name].levels))
    X = full_model_matrix(model, frame)
    return ReferenceGrid(frame, X, list(model.design.X.kept), _nonestimable_basis(model, data),
                         values, variables)


def full_model_matrix(model: LinearMixedModel, frame: pd.DataFrame) -> np.ndarray:
    """The fit's model matrix on ``frame`` with the aliased columns it dropped."""
    return np.asarray(model.design.X.spec.get_model_matrix(frame, na_action="ignore"),
                      dtype=float)


def _nonestimable_basis(model: LinearMixedModel, data: pd.DataFrame | None) -> np.ndarray | None:
    if not model.design.aliased:
        return None
    if data is None:
        raise ValueError(
            f"the fit dropped aliased coefficient(s) {', '.join(model.design.aliased)}, so some "
            "marginal means may not be estimable: pass the fitted data as data= to check them")
    full = full_model_matrix(model, data.loc[model.design.row_index])
    _, _, Vt = np.linalg.svd(full, full_matrices=True)
    return Vt[len(model.design.X.kept):].T


def _at_values(variables: dict[str, Variable], name: str, given) -> list:
    if name not in variables:
        raise ValueError(f"at= names {name!r}, which is not a variable of the fixed effects "
                         f"({', '.join(variables)})")
    listed = list(given) if isinstance(given, Sequence | np.ndarray | pd.Series) and not isinstance(
        given, str) else [given]
    if not listed:
        raise ValueError(f"at= gives no values for {name!r}")
    variable = variables[name]
    if not variable.is_factor:
        try:
            return [float(v) for v in listed]
        except (TypeError, ValueError):
            raise ValueError(f"at= values of the number {name!r} must be numbers, "
                             f"not {listed!r}") from None
    unknown = [v for v in listed if v not in variable.levels]
    if unknown:
        raise ValueError(f"at= gives level(s) {unknown!r} of {name!r}, which has levels "
                         f"{list(variable.levels)!r}")
    return listed


def averaging_rows(grid: ReferenceGrid, keys: list[str], X: np.ndarray | None = None,
                   weights: np.ndarray | None = None) -> tuple[pd.DataFrame, np.ndarray]:
    """One row per combination of ``keys`` (the first varying fastest) and its L row: the
    mean of the grid rows of X (default: the grid's) with those values, weighted by
    ``weights`` (one per grid row; default equal)."""
    X = grid.X if X is None else X
    weights = np.ones(len(grid.frame)) if weights is None else weights
    combinations = [c[::-1] for c in itertools.product(*(grid.values[k] for k in reversed(keys)))]
    index = pd.MultiIndex.from_frame(grid.frame[keys].astype(object)) if keys else None
    L = np.empty((len(combinations), X.shape[1]))
    for i, combination in enumerate(combinations):
        mask = (np.ones(len(grid.frame), dtype=bool) if index is None
                else _matching(index, combination))
        total = weights[mask].sum()
        L[i] = weights[mask] @ X[mask] / total if total > 0 else np.nan
    frame = pd.DataFrame(combinations, columns=keys)
    for key in keys:
        if grid.variables[key].is_factor:
            frame[key] = pd.Categorical(frame[key], categories=list(grid.values[key]))
    return frame, L


def _matching(index: pd.MultiIndex, combination: tuple) -> np.ndarray:
    mask = np.ones(len(index), dtype=bool)
    for level, value in enumerate(combination):
        mask &= np.asarray(index.get_level_values(level) == value)
    return mask


# ---- weights (emmeans' weights = "equal" | "proportional" | "outer" | "cells" | "flat") --

WEIGHTS = ("equal", "proportional", "outer", "cells", "flat")


def grid_weights(model: LinearMixedModel, grid: ReferenceGrid, keys: list[str], weights: str,
                 data: pd.DataFrame | None) -> np.ndarray | None:
    """Each grid row's weight in the mean over the variables not in ``keys`` (None: equal).

    From the grid rows' frequencies in the fitted data (emmeans' ``.wgt.``: rows matching
    on the factors and the two-valued numbers, counted with the prior weights):
    ``"proportional"`` the frequency of the row's combination of the averaged-over
    variables; ``"outer"`` the product of their one-variable frequencies; ``"cells"`` the
    row's own frequency; ``"flat"`` 1 for a row with data, 0 without.
    """
    if weights not in WEIGHTS:
        choices = ", ".join(repr(w) for w in WEIGHTS)
        raise ValueError(f"unknown weights {weights!r}: choose one of {choices}")
    averaged = [name for name in grid.frame.columns
                if name not in keys and len(grid.values[name]) > 1]
    if weights == "equal" or not averaged:
        return None
    counts = cell_counts(model, grid, data)
    if weights == "cells":
        return counts
    if weights == "flat":
        return (counts > 0).astype(float)
    frame = grid.frame[averaged].astype(object).assign(_count=counts)
    if weights == "proportional":
        return frame.groupby(averaged, sort=False)["_count"].transform("sum").to_numpy(float)
    out = np.ones(len(frame))
    for name in averaged:
        out *= frame.groupby(name, sort=False)["_count"].transform("sum").to_numpy(float)
    return out


def cell_counts(model: LinearMixedModel, grid: ReferenceGrid,
                data: pd.DataFrame | None) -> np.ndarray:
    """How many fitted rows (summed prior weights) fall in each grid row, matching on the
    factors and the numbers kept at their observed values (emmeans' ``.wgt.``)."""
    names = [name for name, v in grid.variables.items()
             if v.is_factor or len(np.unique(v.observed)) <= KEEP_DISTINCT]
    prior = model.design.weights
    rows = pd.DataFrame({name: _row_values(model, grid, name, data) for name in names})
    rows["_weight"] = np.ones(model.nobs) if prior is None else prior
    totals = rows.groupby(names, sort=False, dropna=False)["_weight"].sum()
    keys = [tuple(_key(v) for v in row) for row in grid.frame[names].itertuples(index=False)]
    lookup = {tuple(_key(v) for v in (k if isinstance(k, tuple) else (k,))): total
              for k, total in totals.items()}
    return np.array([lookup.get(key, 0.0) for key in keys], dtype=float)


def _key(value):
    return float(value) if isinstance(value, int | float | np.number) else str(value)


def _row_values(model: LinearMixedModel, grid: ReferenceGrid, name: str,
                data: pd.DataFrame | None) -> np.ndarray:
    """The variable's value in each fitted row: from ``data``, else read off the model
    matrix (a number's column, or the columns of a factor's main effect)."""
    variable = grid.variables[name]
    if data is not None and name in data:
        return data.loc[model.design.row_index, name].to_numpy()
    if not variable.is_factor:
        return variable.observed
    columns = _main_effect_columns(model, name)
    if columns is None:
        raise ValueError(f"weights other than 'equal' need each row's level of {name!r}, which "
                         "the fit does not keep (no main effect): pass the fitted data as data=")
    levels = list(variable.levels)
    probe = grid.frame.iloc[[0] * len(levels)].reset_index(drop=True)
    probe[name] = pd.Categorical(levels, categories=levels)
    codes = full_model_matrix(model, probe)[:, columns[0]]
    observed = model.design.X.values[:, columns[1]]
    distance = ((observed[:, None, :] - codes[None, :, :]) ** 2).sum(axis=2)
    return np.array(levels, dtype=object)[distance.argmin(axis=1)]


def _main_effect_columns(model: LinearMixedModel, name: str
                         ) -> tuple[list[int], list[int]] | None:
    """The columns of the factor's main-effect term: positions in the full model matrix and
    in the fit's X (None when there is no such term or the fit dropped one of them)."""
    spec = model.design.X.spec
    full = list(spec.column_names)
    kept = list(model.design.X.kept)
    for part in spec.structure:
        factors = [str(f.expr).strip("`") for f in part.term.factors]
        if len(factors) == 1 and (factors[0] == name or factors[0].startswith(
                (f"C({name},", f"C({name})", f"C(`{name}`"))):
            positions = [full.index(c) for c in part.columns]
            if not all(p in kept for p in positions):
                return None
            return positions, [kept.index(p) for p in positions]
    return None
