"""Random-effects terms: grouping factors, term model matrices, Z and the θ ↔ Λ map.

For a term ``(x1 + ... + xk | g)`` with ℓ levels, Z is the row-wise Kronecker
(Khatri-Rao) product of the n×ℓ indicator matrix of ``g`` and the n×k term
model matrix, columns level-major (Bates et al. 2015, eq. 6-7).  The relative
covariance factor of the term is ``I_ℓ ⊗ T`` with T a k×k lower-triangular
template whose free entries are θ, in column-major order of the lower triangle
(lme4's order); diagonal entries are bounded below by 0.

Terms are ordered as lme4's ``mkReTrms`` orders them: by decreasing number of
levels, and left as written when already in that order.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np
import pandas as pd
import scipy.sparse as sp

from lmmpy._boundary import theta_positions
from lmmpy.design._fixed import ModelMatrix


@dataclass(frozen=True)
class RandomEffectsTerm:
    """One random-effects term after expansion, ``(lhs | group)``.

    Attributes
    ----------
    group_name : the grouping factor as lme4 prints it (``Subject``, ``cask:batch``)
    group_columns : the data columns whose combination defines the groups
    levels : level labels (pandas Index of str); combinations joined by ``:``
    codes : level index of each row (int array, length n)
    model_matrix : the term's n×k model matrix (``columns`` are its names)
    correlated : False for diagonal T (kept for generality; ``||`` is expanded
        into separate terms, as lme4 does, so terms from formulas are correlated)
    """

    group_name: str
    group_columns: tuple[str, ...]
    levels: pd.Index
    codes: np.ndarray
    model_matrix: ModelMatrix
    correlated: bool = True

    @property
    def columns(self) -> tuple[str, ...]:
        return self.model_matrix.names

    @property
    def n_levels(self) -> int:
        return len(self.levels)

    @property
    def n_columns(self) -> int:
        return len(self.columns)

    @property
    def n_random_effects(self) -> int:
        return self.n_levels * self.n_columns

    @property
    def theta_rows(self) -> np.ndarray:
        """Row in T of each θ of this term (column-major lower triangle)."""
        rows, _ = self._theta_positions()
        return rows

    @property
    def theta_cols(self) -> np.ndarray:
        _, cols = self._theta_positions()
        return cols

    def _theta_positions(self) -> tuple[np.ndarray, np.ndarray]:
        return theta_positions(self.n_columns, self.correlated)

    @property
    def n_theta(self) -> int:
        return len(self.theta_rows)

    def theta_lower_bounds(self) -> np.ndarray:
        return np.where(self.theta_rows == self.theta_cols, 0.0, -np.inf)

    def theta_start(self) -> np.ndarray:
        return np.where(self.theta_rows == self.theta_cols, 1.0, 0.0)

    def theta_names(self) -> list[str]:
        """lme4's names: ``Subject.(Intercept)``, ``Subject.Days.(Intercept)``."""
        names = []
        for row, col in zip(self.theta_rows, self.theta_cols, strict=True):
            name = self.columns[row] if row == col else f"{self.columns[row]}.{self.columns[col]}"
            names.append(f"{self.group_name}.{name}")
        return names

    def template(self, theta: np.ndarray) -> np.ndarray:
        """The k×k lower-triangular factor T for this term's part of θ."""
        T = np.zeros((self.n_columns, self.n_columns))
        T[self.theta_rows, self.theta_cols] = theta
        return T

    def Z(self) -> sp.csc_matrix:
        """Sparse n × (ℓ k) model matrix, level-major columns."""
        n, k = self.model_matrix.values.shape
        rows = np.repeat(np.arange(n), k)
        cols = (self.codes[:, None] * k + np.arange(k)[None, :]).ravel()
        return sp.csc_matrix(
            (self.model_matrix.values.ravel(), (rows, cols)), shape=(n, self.n_random_effects)
        )


def group_codes(data: pd.DataFrame, columns: tuple[str, ...]) -> tuple[pd.Index, np.ndarray]:
    """Levels (observed combinations, labels joined by ``:``) and the code of each row.

    Levels follow the order of the first column's categories (then the next
    column's), as R's ``interaction(..., drop = TRUE)`` with lexicographic
    ordering does for a single factor; unused levels are dropped.

    Examples
    --------
    >>> df = pd.DataFrame({"a": ["x", "y", "x"], "b": ["1", "1", "2"]})
    >>> levels, codes = group_codes(df, ("a", "b"))
    >>> list(levels), codes.tolist()
    (['x:1', 'x:2', 'y:1'], [0, 2, 1])
    """
    per_column = [_factor_codes(data[column]) for column in columns]
    if len(per_column) == 1:
        labels, codes = per_column[0]
        if np.all(np.bincount(codes, minlength=len(labels)) > 0):  # every level used
            return pd.Index(labels, dtype=object), codes.astype(np.intp)
    sizes = [len(labels) for labels, _ in per_column]
    combined = np.ravel_multi_index([codes for _, codes in per_column], sizes) if sizes else None
    used, codes = np.unique(combined, return_inverse=True)
    label_codes = np.unravel_index(used, sizes)
    parts = [np.asarray(labels, dtype=object)[code]   # one take per column, no loop by level
             for (labels, _), code in zip(per_column, label_codes, strict=True)]
    labels = (parts[0] if len(parts) == 1
              else [":".join(level) for level in zip(*parts, strict=True)])
    return pd.Index(labels, dtype=object), codes.astype(np.intp)


def _factor_codes(values: pd.Series) -> tuple[pd.Index, np.ndarray]:
    if isinstance(values.dtype, pd.CategoricalDtype):
        return values.cat.categories.astype(str), values.array.codes
    codes, labels = pd.factorize(values, sort=True)
    return pd.Index(labels).astype(str), codes


def lme4_term_order(terms: list[RandomEffectsTerm]) -> list[RandomEffectsTerm]:
    """Order terms by decreasing number of levels as lme4 does (``rev(order(nl))``).

    lme4 reorders only when the levels are not already non-increasing, and its
    reversal of a stable ascending sort puts tied terms in reverse order.
    """
    n_levels = [term.n_levels for term in terms]
    if all(a >= b for a, b in itertools.pairwise(n_levels)):
        return list(terms)
    ascending = sorted(range(len(terms)), key=lambda i: n_levels[i])
    return [terms[i] for i in reversed(ascending)]
