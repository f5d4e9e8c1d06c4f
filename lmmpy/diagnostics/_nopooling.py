"""The no-pooling (fixed-effects) design of a mixed model, and each group's own coefficients.

No pooling replaces every random-effects term ``(m_1 + … + m_k | g)`` by fixed
group-specific coefficients: for each term column m_c the block
Z_c = [m_c · 1{g = j}]_j (the Khatri–Rao columns of Z for that column, as in
``RandomEffectsTerm.Z``).  The model is

    y = X β + Σ_blocks Z_c γ_c + e,        e ~ N(0, σ² W⁻¹).

[X, Z] is rank deficient; it is parameterised so that every number reported
has a meaning:

* A block whose column m_c is also a column of X (the intercept, a slope with
  a random slope) is *sum-coded*: Σ_j γ_cj = 0, so β_c is the unweighted mean
  of the groups' own coefficients β_c + γ_cj (the columns are
  m_c · (1{g = j} − 1{g = ℓ}), j < ℓ).  Other blocks keep all ℓ columns.
* Blocks come in lme4's term order (most levels first); a block lying wholly
  in the span of the columns before it is dropped — a factor nested in a
  later one (``batch`` in ``(1 | batch/cask)``) has no group estimates of its own.
* A column of X lying in the span of the dummies (a group-level predictor,
  constant within groups; a cross-level interaction with a random slope) is
  *absorbed*: it is left out, its effect becomes part of the groups' own
  coefficients, and its coefficient is not estimable.  When an absorbed
  column is proportional, within every group, to a block's column m_c, the
  mean β_c of that block is no longer comparable with the pooled estimates
  (it includes the absorbed effect) and is reported as not estimable.

The own coefficient of level j for column c is f'φ with f selecting
β_c (sum-coded blocks) and γ_cj.  With two crossed factors each group's own
coefficient is that at the unweighted average of the other factor's effects
(an LS-mean).  Which of these are estimable is decided by ``OLSFit.estimable``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from lmmpy.design import Design
from lmmpy.diagnostics._ols import RANK_TOLERANCE

MAX_CELLS = 50_000_000  # 400 MB of float64 for the dense no-pooling design


@dataclass(frozen=True)
class Block:
    """The group-specific coefficients of one term column in the no-pooling design.

    Attributes
    ----------
    term : index of the random-effects term in ``design.terms``
    group : grouping factor name
    column : the term column (``(Intercept)``, ``Days``)
    sum_coded : the column is also in X; Σ_j γ_j = 0
    start : first column of the block in the no-pooling matrix (None: dropped as nested)
    """

    term: int
    group: str
    column: str
    sum_coded: bool
    start: int | None

    def width(self, n_levels: int) -> int:
        return n_levels - 1 if self.sum_coded else n_levels


@dataclass(frozen=True, eq=False)
class NoPoolingDesign:
    """The no-pooling model matrix and the map from its columns to coefficients.

    Attributes
    ----------
    matrix : (n, P) model matrix
    fixed_position : X column name → its column in ``matrix`` (estimated ones only)
    absorbed : X columns absorbed by the group dummies
    spoiled : X columns (also term columns) whose mean over the groups includes an absorbed effect
    blocks : one per term column, in lme4's term order
    """

    matrix: np.ndarray
    fixed_position: dict[str, int]
    absorbed: tuple[str, ...]
    spoiled: tuple[str, ...]
    blocks: tuple[Block, ...]
    n_levels: tuple[int, ...]

    def own_coefficients(self, block: Block) -> np.ndarray:
        """F (levels × P): row j selects the own coefficient of level j in ``block``."""
        n_levels = self.n_levels[block.term]
        F = np.zeros((n_levels, self.matrix.shape[1]))
        if block.start is None:
            return F * np.nan
        width = block.width(n_levels)
        F[np.arange(width), block.start + np.arange(width)] = 1.0
        if block.sum_coded:
            F[:, self.fixed_position[block.column]] = 1.0
            F[n_levels - 1, block.start:block.start + width] = -1.0
        return F


def no_pooling_design(design: Design) -> NoPoolingDesign:
    """Build the no-pooling design of a mixed model's ``design`` (see the module docstring).

    Examples
    --------
    >>> from lmmpy.datasets import load
    >>> from lmmpy.design import build_design
    >>> from lmmpy.formula import parse_formula
    >>> d = build_design(parse_formula("Reaction ~ Days + (Days | Subject)"), load("sleepstudy"))
    >>> npd = no_pooling_design(d)
    >>> npd.matrix.shape, [b.column for b in npd.blocks]
    ((180, 36), ['(Intercept)', 'Days'])
    """
    _check_size(design)
    X, names = design.X.values, list(design.X.names)
    term_columns = {c for term in design.terms for c in term.columns}
    in_terms = [j for j, name in enumerate(names) if name in term_columns]
    others = [j for j, name in enumerate(names) if name not in term_columns]
    columns = [X[:, j] for j in in_terms]
    basis = _Basis(np.column_stack(columns) if columns else np.empty((design.n_obs, 0)))
    blocks = []
    for t, term in enumerate(design.terms):
        for c, column in enumerate(term.columns):
            sum_coded = column in names
            values = _block_matrix(term.codes, term.n_levels, term.model_matrix.values[:, c],
                                   sum_coded)
            start = len(columns) if not basis.contains_all(values) else None
            if start is not None:
                columns.extend(values.T)
                basis.add(values)
            blocks.append(Block(t, term.group_name, column, sum_coded, start))
    kept, absorbed = [], []
    for j in others:
        if basis.contains_all(X[:, [j]]):
            absorbed.append(j)
        else:
            kept.append(j)
            basis.add(X[:, [j]])
    position = {names[j]: i for i, j in enumerate(in_terms)}
    position.update({names[j]: len(columns) + i for i, j in enumerate(kept)})
    matrix = np.column_stack(columns + [X[:, j] for j in kept])
    return NoPoolingDesign(
        matrix=matrix,
        fixed_position=position,
        absorbed=tuple(names[j] for j in absorbed),
        spoiled=_spoiled(design, [names[j] for j in in_terms], [X[:, j] for j in absorbed]),
        blocks=tuple(blocks),
        n_levels=tuple(term.n_levels for term in design.terms),
    )


def _check_size(design: Design) -> None:
    width = design.X.values.shape[1] + sum(t.n_random_effects for t in design.terms)
    if design.n_obs * width > MAX_CELLS:
        raise ValueError(
            f"the no-pooling design would be a dense {design.n_obs} × {width} matrix "
            f"(more than {MAX_CELLS:,} entries); the pooling comparison is meant for "
            "models with fewer groups"
        )


def _block_matrix(codes: np.ndarray, n_levels: int, values: np.ndarray,
                  sum_coded: bool) -> np.ndarray:
    """[m · 1{g = j}]_j, or its sum-coded version [m · (1{g = j} − 1{g = ℓ})]_{j<ℓ}."""
    block = np.zeros((len(codes), n_levels))
    block[np.arange(len(codes)), codes] = values
    return block[:, :-1] - block[:, [-1]] if sum_coded else block


def _spoiled(design: Design, in_terms: list[str], absorbed: list[np.ndarray]) -> tuple[str, ...]:
    """Term columns of X whose group mean would include an absorbed column's effect."""
    spoiled: set[str] = set()
    for values in absorbed:
        hits = {column for term in design.terms for c, column in enumerate(term.columns)
                if column in in_terms
                and _proportional_within_groups(values, term.model_matrix.values[:, c],
                                                term.codes)}
        spoiled |= hits or set(in_terms)
    return tuple(name for name in in_terms if name in spoiled)


def _proportional_within_groups(v: np.ndarray, m: np.ndarray, codes: np.ndarray) -> bool:
    """v = a_j m within every group j (for some a_j)."""
    n_levels = int(codes.max()) + 1
    a = np.bincount(codes, v * m, n_levels) / np.maximum(np.bincount(codes, m * m, n_levels),
                                                          np.finfo(float).tiny)
    residual = v - a[codes] * m
    return bool(np.linalg.norm(residual) <= RANK_TOLERANCE * max(np.linalg.norm(v), 1e-300))


class _Basis:
    """An orthonormal basis of a growing column span (for the aliasing checks)."""

    def __init__(self, columns: np.ndarray):
        self.Q = np.empty((columns.shape[0], 0))
        self.add(columns)

    def residual(self, columns: np.ndarray) -> np.ndarray:
        residual = columns - self.Q @ (self.Q.T @ columns)
        return residual - self.Q @ (self.Q.T @ residual)  # second pass for orthogonality

    def contains_all(self, columns: np.ndarray) -> bool:
        norms = np.linalg.norm(columns, axis=0)
        residual = np.linalg.norm(self.residual(columns), axis=0)
        return bool(np.all(residual <= RANK_TOLERANCE * np.maximum(norms, 1e-300)))

    def add(self, columns: np.ndarray) -> None:
        if columns.shape[1] == 0:
            return
        U, s, _ = np.linalg.svd(self.residual(columns), full_matrices=False)
        norms = np.linalg.norm(columns, axis=0)
        keep = s > RANK_TOLERANCE * max(norms.max(), 1e-300)
        self.Q = np.column_stack([self.Q, U[:, keep]])


def group_sizes(design: Design, term: int) -> np.ndarray:
    """Number of observations in each level of a term's grouping factor."""
    t = design.terms[term]
    return np.bincount(t.codes, minlength=t.n_levels)


def block_labels(blocks: list[Block]) -> list[str]:
    """Column labels of a factor's blocks, made unique as lme4's ranef does (``x``, ``x.1``)."""
    labels: list[str] = []
    for block in blocks:
        label = block.column
        while label in labels:
            label += ".1"
        labels.append(label)
    return labels


def level_index(design: Design, term: int) -> pd.Index:
    return pd.Index(design.terms[term].levels, name=design.terms[term].group_name)
