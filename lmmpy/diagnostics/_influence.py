"""Influence of each group on the fixed effects: leave one level out, θ̂ held fixed.

When every random-effects term is nested in a grouping factor g (``(x | g)``,
``(1 | g) + (1 | g:h)``), the marginal covariance of y is block diagonal by
the levels of g:

    V_j / σ² = U_j U_j' + W_j⁻¹,   U_j = Z_j Λ_θ  (the rows of level j)

and the generalised least-squares estimate is β̂ = A⁻¹ b with
A = Σ_j X_j' V_j⁻¹ X_j and b = Σ_j X_j' V_j⁻¹ y_j (σ² cancels).  By Woodbury,

    X_j' V_j⁻¹ X_j = X_j'W_jX_j − (X_j'W_jU_j) (I + U_j'W_jU_j)⁻¹ (U_j'W_jX_j),

a q_j × q_j solve per level.  Leaving level j out gives
β̂₍₋ⱼ₎ = (A − A_j)⁻¹ (b − b_j), and Cook's distance of the group is

    D_j = (β̂ − β̂₍₋ⱼ₎)' A (β̂ − β̂₍₋ⱼ₎) / (p σ̂²)

(Cook 1977; for mixed models with the variance parameters held at their
estimates, Christensen, Pearson & Johnson 1992, "Case-deletion diagnostics
for mixed models", Technometrics 34).  Holding θ̂ fixed makes this the
one-step version of R's ``influence.merMod`` (which refits θ too): cheap,
and exact for β given θ.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from lmmpy.results import LinearMixedModel


def group_influence(model: LinearMixedModel, group: str | None = None) -> pd.DataFrame:
    """Cook's distance and the change in each fixed effect when a group is left out.

    Parameters
    ----------
    model : LinearMixedModel
    group : str, optional
        A grouping factor in which every random-effects term is nested; default
        the first such factor of the model.

    Returns
    -------
    DataFrame
        Indexed by level: ``n_obs``, ``cooks_distance``, then ``delta_<coef>`` =
        β̂ − β̂₍₋ⱼ₎ for each coefficient.  NaN where a coefficient is not
        estimable without the level (it is the only one to inform it).

    Examples
    --------
    >>> import lmmpy
    >>> m = lmmpy.lmer("Reaction ~ Days + (Days | Subject)", lmmpy.datasets.load("sleepstudy"))
    >>> influence = group_influence(m)
    >>> influence["cooks_distance"].idxmax()
    '309'
    """
    term = _nesting_term(model, group)
    pieces = _level_pieces(model, term.codes, term.n_levels)
    A = sum(piece[0] for piece in pieces)
    b = sum(piece[1] for piece in pieces)
    beta = np.linalg.solve(A, b)
    rows = [_left_out(A, b, beta, A_j, b_j) for A_j, b_j in pieces]
    names = list(model.design.beta_names)
    deltas = np.array([delta for delta, _ in rows])
    cooks = np.array([quadratic for _, quadratic in rows]) / (len(names) * model.sigma**2)
    table = pd.DataFrame(deltas, index=term.levels, columns=[f"delta_{n}" for n in names])
    table.insert(0, "cooks_distance", cooks)
    table.insert(0, "n_obs", np.bincount(term.codes, minlength=term.n_levels))
    table.index.name = term.group_name
    return table


def _left_out(A, b, beta, A_j, b_j) -> tuple[np.ndarray, float]:
    try:
        without = np.linalg.solve(A - A_j, b - b_j)
    except np.linalg.LinAlgError:
        return np.full(len(beta), np.nan), np.nan
    delta = beta - without
    return delta, float(delta @ A @ delta)


def _level_pieces(model: LinearMixedModel, codes: np.ndarray,
                  n_levels: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """(X_j'V_j⁻¹X_j, X_j'V_j⁻¹y_j) for each level j, V in units of σ²."""
    design = model.design
    X, y = design.X.values, design.y - design.offset
    weights = design.weights if design.weights is not None else np.ones(len(y))
    scaled = _scaled_term_matrices(model)
    order = np.argsort(codes, kind="stable")
    bounds = np.searchsorted(codes[order], np.arange(n_levels + 1))
    pieces = []
    for level in range(n_levels):
        rows = order[bounds[level]:bounds[level + 1]]
        U = np.hstack([_level_block(term.codes[rows], matrix[rows])
                       for term, matrix in zip(design.terms, scaled, strict=True)])
        pieces.append(_gls_piece(X[rows], y[rows], weights[rows], U))
    return pieces


def _gls_piece(X, y, w, U) -> tuple[np.ndarray, np.ndarray]:
    WX, WU = X * w[:, None], U * w[:, None]
    inner = np.eye(U.shape[1]) + U.T @ WU
    UtWX, UtWy = WU.T @ X, WU.T @ y
    A_j = X.T @ WX - UtWX.T @ np.linalg.solve(inner, UtWX)
    b_j = WX.T @ y - UtWX.T @ np.linalg.solve(inner, UtWy)
    return A_j, b_j


def _scaled_term_matrices(model: LinearMixedModel) -> list[np.ndarray]:
    """Each term's model matrix times its template T_θ̂: the rows of ZΛ, level-free."""
    matrices, start = [], 0
    for term in model.design.terms:
        T = term.template(model.theta[start:start + term.n_theta])
        start += term.n_theta
        matrices.append(term.model_matrix.values @ T)
    return matrices


def _level_block(codes: np.ndarray, scaled: np.ndarray) -> np.ndarray:
    """U_j's columns of one term: its levels present in these rows, level-major."""
    present, local = np.unique(codes, return_inverse=True)
    k = scaled.shape[1]
    block = np.zeros((len(codes), len(present) * k))
    for column in range(k):
        block[np.arange(len(codes)), local * k + column] = scaled[:, column]
    return block


def _nesting_term(model: LinearMixedModel, group: str | None):
    """The term of ``group`` (or the first grouping factor) in which every term nests."""
    candidates = [t for t in model.design.terms if group is None or t.group_name == group]
    if not candidates:
        raise ValueError(f"{group!r} is not a grouping factor of the model; it has: "
                         f"{', '.join(t.group_name for t in model.design.terms)}")
    for candidate in candidates:
        if all(_nested(term.codes, candidate.codes) for term in model.design.terms):
            return candidate
    name = group if group is not None else "any grouping factor"
    raise ValueError(f"leaving out a level of {name} does not separate the data: a "
                     "random-effects term is crossed with it (each term must be nested in "
                     "the factor whose levels are left out)")


def _nested(inner: np.ndarray, outer: np.ndarray) -> bool:
    """Each level of ``inner`` occurs within a single level of ``outer``."""
    pairs = np.unique(np.column_stack([inner, outer]), axis=0)
    return len(np.unique(pairs[:, 0])) == len(pairs)
