"""A well-conditioned parametrisation of the random effects for the optimizer.

θ is the Cholesky factor of each term's relative covariance in the units of
the term's columns.  When a column is far from centred or on a scale far from
1 (``(x | g)`` with x = 500 ± 100, a timestamp, a dose in mg) the deviance
is a long, curved valley in θ: the intercept's and the slope's variances are
nearly confounded (corr(1, x) ≈ 0.98), the θ's differ by orders of magnitude,
and every optimizer stops early or on a false boundary (issue 11: lmmpy and
lme4 alike ended up to 12.8 log-likelihood units below the optimum there).

The model does not depend on how a term's columns are written: with a k×k
invertible C, the columns X C and the covariance C⁻¹ Σ C⁻ᵀ give the same
Z Σ Z' and so the same likelihood (Bates et al. 2015, eq. 4: only ZΛ enters
through ZΛΛ'Z').  So the optimizer works on the term's columns centred (when
the term has an intercept and its T is full) and scaled to unit standard
deviation — where the parameters are of one size and nearly uncoupled — and
its θ̃ is mapped back: T is the lower-triangular factor of (C T̃)(C T̃)'
(:func:`original_theta`).  A diagonal T (``||``) is only scaled, which keeps
it diagonal.  Singular fits stay singular: C is invertible, so rank is kept; the diagonals
the mapping leaves at rounding level where rank is lost are put on the bound
and the factor put in canonical form (:func:`lmmpy._boundary.canonical_theta`).
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from lmmpy._boundary import canonical_theta, term_shapes_of
from lmmpy.design._build import Design
from lmmpy.design._fixed import INTERCEPT
from lmmpy.design._random import RandomEffectsTerm

# a column this close to centred and unit scale is left alone: conditioning gains nothing
CENTRED = 0.1      # |mean| / sd
UNIT_SCALE = 2.0   # sd within [1/2, 2]

ConditioningMap = tuple[np.ndarray | None, ...]   # each term's C, or None where C = I


def conditioning_map(design: Design) -> ConditioningMap:
    """Each random-effects term's column map C (``None`` where the columns are fine as
    they are).

    Examples
    --------
    >>> from lmmpy.datasets import load
    >>> from lmmpy.design import build_design
    >>> from lmmpy.formula import parse_formula
    >>> sleep = load("sleepstudy")
    >>> design = build_design(parse_formula("Reaction ~ Days + (Days | Subject)"), sleep)
    >>> conditioning_map(design)[0].round(3).tolist()   # Days: mean 4.5, sd 2.87
    [[1.0, -1.567], [0.0, 0.348]]
    """
    return tuple(_term_map(term, moments)
                 for term, moments in zip(design.terms, design.term_moments(), strict=True))


def _term_map(term: RandomEffectsTerm,
              moments: tuple[np.ndarray, np.ndarray] | None = None) -> np.ndarray | None:
    """C of one term, from its rows or from ``moments`` (the columns' means and variances,
    for a design whose rows are not in memory)."""
    return column_map(term.model_matrix.values, term.columns, centre=term.correlated,
                      moments=moments)


def column_map(values: np.ndarray | None, names: tuple[str, ...], *, centre: bool = True,
               centred: float = CENTRED, unit_scale: float = UNIT_SCALE,
               moments: tuple[np.ndarray, np.ndarray] | None = None) -> np.ndarray | None:
    """The k×k map C taking columns X to X C: each column centred (when ``centre`` and
    there is an intercept column to absorb its mean) and scaled to unit sd where its
    |mean| is over ``centred`` sds or its sd outside [1/``unit_scale``, ``unit_scale``];
    None where no column needs it.  The columns' ``moments`` (means, variances) stand
    for ``values`` when the rows are not in memory."""
    k = len(names)
    centre_to = names.index(INTERCEPT) if INTERCEPT in names and centre else None
    C = np.eye(k)
    for j in range(k):
        if j == centre_to:
            continue
        mean, spread = _column_moments(values, moments, j, centre_to is not None)
        if not spread > 0 or not np.isfinite(spread):
            continue   # a constant column: nothing to scale it by
        far = centre_to is not None and abs(mean) > centred * spread
        if far or not 1 / unit_scale <= spread <= unit_scale:
            C[j, j] = 1.0 / spread        # the column (x - mean) / sd, or x / sd
            if far:
                C[centre_to, j] = -mean / spread
    return None if np.array_equal(C, np.eye(k)) else C


def _column_moments(values: np.ndarray | None,
                    moments: tuple[np.ndarray, np.ndarray] | None,
                    j: int, centred: bool) -> tuple[float, float]:
    """The mean (0 when not centring) and the root mean square about it of column j."""
    if moments is None:
        column = values[:, j]
        mean = float(np.mean(column)) if centred else 0.0
        return mean, float(np.sqrt(np.mean((column - mean) ** 2)))
    means, variances = moments
    if centred:
        return float(means[j]), float(np.sqrt(max(variances[j], 0.0)))
    return 0.0, float(np.sqrt(max(variances[j], 0.0) + means[j] ** 2))


def conditioned_design(design: Design, matrices: ConditioningMap) -> Design:
    """``design`` with each term's columns X replaced by X C."""
    terms = tuple(
        term if C is None or not design.in_memory else replace(   # no rows: the terms as they are
            term, model_matrix=replace(term.model_matrix, values=term.model_matrix.values @ C))
        for term, C in zip(design.terms, matrices, strict=True))
    return replace(design, terms=terms)


def original_theta(theta: np.ndarray, design: Design, matrices: ConditioningMap) -> np.ndarray:
    """θ on the design's own columns from θ̃ on the conditioned ones.

    T̃ gives Σ̃ = T̃T̃' on the columns X C, so Σ = C Σ̃ C' on X: T is the
    lower-triangular R' of the QR factorisation (C T̃)' = QR (R'R = Σ, no product
    squared), its columns' signs set so its diagonal is ≥ 0.
    """
    return _mapped_theta(theta, design, matrices, inverse=False)


def conditioned_theta(theta: np.ndarray, design: Design, matrices: ConditioningMap) -> np.ndarray:
    """θ̃ on the conditioned columns from θ on the design's own (a start given by the user)."""
    return _mapped_theta(theta, design, matrices, inverse=True)


def _mapped_theta(theta, design, matrices, inverse):
    lower, shapes = design.theta_lower_bounds(), term_shapes_of(design.terms)
    theta = canonical_theta(np.array(theta, dtype=float), lower, shapes)
    offset = 0
    for term, C in zip(design.terms, matrices, strict=True):
        indices = offset + np.arange(term.n_theta)
        offset += term.n_theta
        if C is None:
            continue
        T = term.template(theta[indices])
        M = np.linalg.solve(C, T) if inverse else C @ T
        rank = int(np.count_nonzero(np.diag(T)))   # canonical T: a zero diagonal, a zero column
        theta[indices] = _lower_factor(M, term, rank)[term.theta_rows, term.theta_cols]
    return canonical_theta(theta, lower, shapes)


def _lower_factor(M: np.ndarray, term: RandomEffectsTerm, rank: int) -> np.ndarray:
    """The lower-triangular L with LL' = MM' and a diagonal ≥ 0.

    M has the rank of the T it came from (C is invertible): where that is below k,
    the k − rank diagonals of L that are smallest against their column of M' are
    rounding, and become exact zeros (a singular Σ stays on the boundary).  A
    small diagonal of a full-rank M is not rounding: with x = 1e6 ± 1 the slope's
    θ given the intercept at x = 0 is 1e-12 of the intercept's, and real.
    """
    if not term.correlated:
        return np.diag(np.abs(np.diag(M)))   # C and T̃ diagonal: so is M
    _, R = np.linalg.qr(M.T)
    L = R.T * np.where(np.diag(R) < 0, -1.0, 1.0)
    deficiency = len(M) - rank
    if deficiency > 0:
        column_norms = np.maximum(np.linalg.norm(M.T, axis=0), np.finfo(float).tiny)
        smallest = np.argsort(np.abs(np.diag(L)) / column_norms)[:deficiency]
        L[smallest, smallest] = 0.0
    return np.tril(L)


# relative disagreement of a criterion on the columns as given and on the conditioned ones
# at the optimum that is more than rounding
PRECISION = 1e-7


def digits_lost(value: float, exact: float) -> bool:
    """Whether ``value`` (the criterion on the columns as given) has lost digits against
    ``exact`` (the same criterion on the conditioned columns)."""
    return abs(value - exact) > PRECISION * max(1.0, abs(exact))


def conditioned_columns(design: Design, matrices: ConditioningMap,
                        fixed: np.ndarray | None = None) -> list[str]:
    """The columns the maps rescale, named for a message: each random-effects term's
    (``'x' (term for 'g')``) and, with ``fixed``, the fixed effects' (``'x' (fixed
    effects)``)."""
    columns = [f"'{column}' (term for '{term.group_name}')"
               for term, C in zip(design.terms, matrices, strict=True) if C is not None
               for j, column in enumerate(term.columns) if C[j, j] != 1.0]
    if fixed is not None:
        columns += [f"'{name}' (fixed effects)" for j, name in enumerate(design.X.names)
                    if fixed[j, j] != 1.0]
    return columns

