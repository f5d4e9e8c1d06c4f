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


def averaging_rows(grid: ReferenceGrid, keys: list[str],
                   X: np.ndarray | None = None) -> tuple[pd.DataFrame, np.ndarray]:
    """One row per combination of ``keys`` (the first varying fastest) and its L row: the
    equally weighted mean of the grid rows of X (default: the grid's) with those values."""
    X = grid.X if X is None else X
    combinations = [c[::-1] for c in itertools.product(*(grid.values[k] for k in reversed(keys)))]
    index = pd.MultiIndex.from_frame(grid.frame[keys].astype(object)) if keys else None
    L = np.empty((len(combinations), X.shape[1]))
    for i, combination in enumerate(combinations):
        mask = (np.ones(len(grid.frame), dtype=bool) if index is None
                else _matching(index, combination))
        L[i] = X[mask].mean(axis=0)
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
