"""Type 3 hypotheses of the fixed-effect terms, as lmerTest's ``get_contrasts_type3``.

SAS's type 3 hypotheses (Goodnight 1980), built as lmerTest builds them:

1. X_t: the model matrix with treatment contrasts for every factor;
   X_c: the complete dummy coding of each term (every level of each factor,
   every cell of each interaction; numeric variables as they are).
2. B = X_t⁺ X_c writes each complete-coding column in X_t's coefficients;
   L = B' (zapped to 7 digits).
3. From the terms of highest order down, the columns of L belonging to a term
   contained in other terms are replaced by their residuals after regression
   on the columns of the terms containing it.
4. The rows of L that are columns of X_t give, per term, the hypotheses in
   treatment coding; M = X_t⁺ X maps them to the model's own coding (X = X_t M):
   L_term M.

B and M are identities between codings, not properties of the data, so they
are computed on a small synthetic grid: every combination of the factor levels
(from the model's encoder state), repeated with random values of the numeric
variables, evaluated with the model's own transform state (centering,
polynomial bases).  Columns dropped as aliased in the fit are dropped here too;
when cells are missing from the data lmerTest's X_t loses columns the complete
grid keeps, so its type 3 hypotheses can differ there.
"""

from __future__ import annotations

import itertools
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from formulaic import Formula, ModelSpec

from lmmpy.design._fixed import _quoted
from lmmpy.inference._anova import FixedTerm, _is_categorical, containers, fixed_terms

if TYPE_CHECKING:
    from lmmpy.results import LinearMixedModel

_SEED = 20170101
_ZERO_ROW = 1e-8


def zapsmall(x: np.ndarray, digits: int = 7) -> np.ndarray:
    """R's ``zapsmall``: round to ``digits`` significant digits of the largest entry."""
    largest = np.max(np.abs(x)) if x.size else 0.0
    if largest == 0:
        return np.round(x, digits)
    return np.round(x, max(0, digits - int(np.ceil(np.log10(largest)))))


def type3_contrasts(model: LinearMixedModel) -> dict[str, np.ndarray]:
    """One contrast matrix (rows × coefficients) per term."""
    has_intercept, terms = fixed_terms(model)
    spec = model.design.X.spec
    grid = _grid(spec, n_numeric_columns=len(model.fixef))
    X = model.design.X.rebuild(grid)
    treatment = [_treatment_text(spec, term) for term in terms]
    Xt, treatment_columns = _treatment_matrix(spec, grid, has_intercept, treatment)
    complete = _complete_matrix(spec, grid, has_intercept, treatment)
    L = zapsmall(np.linalg.lstsq(Xt, complete, rcond=None)[0].T)
    L = _orthogonalize(L, terms, treatment_columns)
    rows = _matching_columns(Xt, complete)
    mapping = zapsmall(np.linalg.lstsq(Xt, X, rcond=None)[0])
    out = {}
    for term, columns in zip(terms, treatment_columns, strict=True):
        contrast = L[np.ix_(rows, columns)].T
        out[term.name] = contrast[np.abs(contrast).sum(axis=1) > _ZERO_ROW] @ mapping
    return out


def _factor_variable(spec, factor: str) -> str:
    variables = spec.factor_variables[_factor_object(spec, factor)] & _data_variables(spec)
    if len(variables) != 1:
        raise ValueError(f"type 3 tests need each factor to be one data column; "
                         f"{factor!r} uses {sorted(variables)}")
    return next(iter(variables))


def _factor_object(spec, factor: str):
    return next(f for f in spec.factor_variables if f.expr == factor)


def _data_variables(spec) -> set[str]:
    return set(spec.variables_by_source.get("data", set()))


def _grid(spec, n_numeric_columns: int) -> pd.DataFrame:
    """All level combinations × enough random numeric rows to identify every column."""
    levels: dict[str, list] = {}
    for factor, (kind, state) in spec.encoder_state.items():
        if kind.value == "categorical":
            levels[_factor_variable(spec, factor)] = list(state["categories"])
    numeric = sorted(_data_variables(spec) - set(levels))
    repeats = 2 + n_numeric_columns if numeric else 1
    cells = list(itertools.product(*levels.values())) or [()]
    rows = [cell for cell in cells for _ in range(repeats)]
    grid = pd.DataFrame(rows, columns=list(levels))
    for name, categories in levels.items():
        grid[name] = pd.Categorical(grid[name], categories=categories)
    rng = np.random.default_rng(_SEED)
    for name in numeric:
        grid[name] = rng.uniform(0.5, 2.0, len(grid))
    return grid


def _treatment_text(spec, term: FixedTerm) -> str:
    """The term with every factor in treatment coding (R's contr.treatment)."""
    pieces = []
    for factor in sorted(term.factors):
        if _is_categorical(spec, factor):
            pieces.append(f"C({_quoted(_factor_variable(spec, factor))}, contr.treatment)")
        else:
            pieces.append(factor)
    return ":".join(pieces)


def _evaluate(spec, formula: str, grid: pd.DataFrame):
    return ModelSpec(formula=formula, transform_state=spec.transform_state).get_model_matrix(grid)


def _treatment_matrix(spec, grid, has_intercept, treatment):
    """X_t on the grid and the X_t columns of each term."""
    formula = " + ".join(["1" if has_intercept else "0", *treatment])
    matrix = _evaluate(spec, formula, grid)
    index = {name: j for j, name in enumerate(matrix.columns)}
    by_factors = {_factor_set(s.term): [index[c] for c in s.columns]
                  for s in matrix.model_spec.structure}
    columns = [by_factors[_factor_set(Formula(text)[-1])] for text in treatment]
    return np.asarray(matrix, dtype=float), columns


def _factor_set(term) -> frozenset[str]:
    return frozenset(f.expr for f in term.factors)


def _complete_matrix(spec, grid, has_intercept, treatment) -> np.ndarray:
    blocks = [np.ones((len(grid), 1))] if has_intercept else []
    blocks += [np.asarray(_evaluate(spec, f"0 + {text}", grid), dtype=float) for text in treatment]
    return np.hstack(blocks)


def _orthogonalize(L, terms, treatment_columns) -> np.ndarray:
    """Residualise each contained term's columns on its containers', highest order first."""
    L = L.copy()
    columns = dict(zip((t.name for t in terms), treatment_columns, strict=True))
    for term in sorted(terms, key=lambda t: -len(t.factors)):
        above = containers(term, terms)
        if not above:
            continue
        basis = L[:, [j for t in above for j in columns[t.name]]]
        target = L[:, columns[term.name]]
        fitted = basis @ np.linalg.lstsq(basis, target, rcond=None)[0]
        L[:, columns[term.name]] = zapsmall(target - fitted)
    return L


def _matching_columns(Xt: np.ndarray, complete: np.ndarray) -> list[int]:
    """For each column of X_t, the complete-coding column equal to it."""
    out = []
    for j in range(Xt.shape[1]):
        equal = np.flatnonzero(np.all(np.isclose(complete, Xt[:, [j]], rtol=0, atol=1e-12),
                                      axis=0))
        if len(equal) == 0:
            raise ValueError("type 3 contrasts: a treatment-coded column has no complete-coding "
                             "counterpart (a non-hierarchical formula?)")
        out.append(int(equal[0]))
    return out
