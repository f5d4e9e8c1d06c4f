"""Per-group estimates without pooling and with partial pooling, and the shrinkage between them.

For level j of a grouping factor and a term column c (intercept, slope):

* *none*: the group's own least-squares coefficient in the no-pooling fit
  (see ``_nopooling``); NaN where it is not estimable (a slope in a group whose
  x does not vary).
* *partial*: the same coefficient implied by the mixed model's conditional fit
  Xβ̂ + Zb̂ — its coefficients in the no-pooling parameterisation, which
  reproduce it exactly.  With one grouping factor and no group-level
  predictors this is lme4's ``coef()``, β̂_c + b̂_jc; a group-level predictor's
  contribution z_j β̂_z is included (as it is in the no-pooling estimate), and
  with crossed factors the other factors' effects are averaged over their
  levels, as without pooling.  Where the no-pooling coefficient is not
  estimable, lme4's ``coef()`` value is given.
* *target* t_jc: the same coefficient of the fixed part Xβ̂ alone: what the
  group is shrunk towards — β̂_c for every group without group-level
  predictors, β̂_c + z_j β̂_z with them (each group its own target).
* *shrinkage* = 1 − (partial − t)/(none − t): the fraction of the no-pooling
  deviation from the target that partial pooling removes (0: none, 1: all).
* *reliability* λ_j = σ_b²/(σ_b² + σ²/Σ_{i∈j} w_i m_i²) for a scalar term
  (m ≡ 1 for a random intercept: σ_b²/(σ_b² + σ²/n_j)).  In a random-intercept
  model whose only fixed effect is the intercept, with balanced crossed
  factors too, shrinkage = 1 − λ_j exactly (the BLUP is λ_j (ȳ_j − μ̂));
  with covariates it is approximate.  For vector terms shrinkage is reported
  coefficient by coefficient; the reliability there is a matrix and is left NaN.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from lmmpy.diagnostics._nopooling import (
    Block,
    NoPoolingDesign,
    block_labels,
    group_sizes,
    level_index,
)
from lmmpy.diagnostics._ols import OLSFit

QUANTITIES = ("none", "partial", "target", "shrinkage", "reliability")


def group_estimates(model, npd: NoPoolingDesign, none: OLSFit) -> dict[str, pd.DataFrame]:
    """One table per grouping factor: size, none, partial, shrinkage, reliability per column."""
    design = model.design
    partial = none.project(model.fitted.to_numpy() - design.offset)
    target = none.project(design.X.values @ model.solution.beta)
    tables = {}
    for group in dict.fromkeys(block.group for block in npd.blocks):
        blocks = [block for block in npd.blocks if block.group == group]
        columns = {}
        for label, block in zip(block_labels(blocks), blocks, strict=True):
            values = _block_estimates(model, npd, none, block, partial, target)
            for quantity in QUANTITIES:
                columns[(quantity, label)] = values[quantity]
        first = blocks[0].term
        table = pd.DataFrame(columns, index=level_index(design, first))
        table.insert(0, ("size", ""), group_sizes(design, first))
        tables[group] = table.reindex(columns=_column_order(table.columns))
    return tables


def _column_order(columns: pd.Index) -> pd.MultiIndex:
    order = {name: i for i, name in enumerate(("size", *QUANTITIES))}
    return pd.MultiIndex.from_tuples(sorted(columns, key=lambda c: order[c[0]]))


def _block_estimates(model, npd: NoPoolingDesign, none: OLSFit, block: Block,
                     partial_coef: np.ndarray, target_coef: np.ndarray) -> dict[str, np.ndarray]:
    F = npd.own_coefficients(block)
    ok = none.estimable(F) if block.start is not None else np.zeros(len(F), dtype=bool)
    fallback_target, fallback_partial = _coef_values(model, block)
    none_values = np.where(ok, F @ none.coef, np.nan)
    partial = np.where(ok, F @ partial_coef, fallback_partial)
    target = np.where(ok, F @ target_coef, fallback_target)
    deviation = none_values - target
    with np.errstate(divide="ignore", invalid="ignore"):
        shrinkage = np.where(deviation != 0, 1 - (partial - target) / deviation, np.nan)
    return {"none": none_values, "partial": partial, "target": target, "shrinkage": shrinkage,
            "reliability": _reliability(model, block)}


def _coef_values(model, block: Block) -> tuple[np.ndarray, np.ndarray]:
    """lme4's coef(): (β̂_c, β̂_c + b̂_jc) for the block's term and column."""
    term = model.design.terms[block.term]
    fixed = float(model.fixef.get(block.column, 0.0))
    c = term.columns.index(block.column)
    return np.full(term.n_levels, fixed), fixed + _term_effects(model, block.term)[:, c]


def _term_effects(model, t: int) -> np.ndarray:
    start = sum(term.n_random_effects for term in model.design.terms[:t])
    term = model.design.terms[t]
    return model.solution.b[start:start + term.n_random_effects].reshape(term.n_levels, -1)


def _reliability(model, block: Block) -> np.ndarray:
    design = model.design
    term = design.terms[block.term]
    if term.n_columns != 1:
        return np.full(term.n_levels, np.nan)
    start = sum(other.n_theta for other in design.terms[:block.term])
    variance = (model.sigma * model.theta[start]) ** 2
    m = term.model_matrix.values[:, 0]
    w = np.ones_like(m) if design.weights is None else design.weights
    information = np.bincount(term.codes, w * m * m, term.n_levels)
    with np.errstate(divide="ignore", invalid="ignore"):
        return variance / (variance + model.sigma**2 / information)
