"""The boundary of θ: canonical factors of singular covariances and the ways off the boundary.

A vector-valued term's covariance is Σ = σ²TT' with T lower triangular and
its diagonal θ's ≥ 0 (Bates et al. 2015, section 2.3).  Where Σ is singular
this parametrisation is redundant: a column j of T with T[j, j] = 0 but
entries below it describes the same Σ as one whose column j is zero and
whose trailing block carries those entries (T[j+1:, j:] T[j+1:, j:]' is all
that matters of them).  The two are not equally good starting points:

* in the redundant form the derivative in T[j, j] is 2(GT)[j, j] with
  G = ∂f/∂Σ, which can be positive — a KKT point in θ that is no minimum in
  Σ (issue 11: fits stopped 12 log-likelihood units below lme4's);
* in the canonical form (:func:`canonical_theta`) the objective is even in the
  whole column v = T[j:, j], as it depends on it through vv' only.  Its
  derivatives in v vanish and its second derivatives are exactly 2·G[j:, j:],
  uncoupled from the other θ's: the point is a minimum in the directions that
  add variance only if that block is positive semi-definite.

So a θ on the boundary is left along the eigenvector of the most negative
eigenvalue of that block, when there is one (:func:`escape_point`): lme4's
``restart_edge`` (one-sided steps of θ's on their bound) generalised to the
correlation parameters of the column, which is where the boundary trap is.
A scalar term's θ, or a diagonal term's, is a 1×1 block: lme4's rule.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence

import numpy as np

from lmmpy._descent import on_boundary, symmetric_eigen

TermShape = tuple[int, bool]   # (k, correlated) of one random-effects term, in θ's order
CURVATURE_STEP = 1e-4   # gradient differences for a column's curvature
VALUE_STEP = 1e-3       # value differences: larger, as they lose twice the digits
ESCAPE_LENGTHS = 0.25 ** np.arange(11)   # 1 down to 1e-6: trial lengths along the escape


@functools.cache
def theta_positions(k: int, correlated: bool) -> tuple[np.ndarray, np.ndarray]:
    """(rows, cols) in T of a term's θ, read-only and shared (asked for at every evaluation)."""
    if correlated:
        cols, rows = np.triu_indices(k)  # upper triangle of T' row-major = lower of T col-major
    else:
        rows = cols = np.arange(k)
    for positions in (rows, cols):
        positions.flags.writeable = False
    return rows, cols


def term_shapes_of(terms) -> tuple[TermShape, ...]:
    """(k, correlated) of each random-effects term."""
    return tuple((term.n_columns, term.correlated) for term in terms)


def boundary_columns(theta: np.ndarray, lower: np.ndarray,
                     shapes: Sequence[TermShape] | None) -> list[np.ndarray]:
    """The θ indices of every column of T whose diagonal θ is on its bound: the diagonal
    first, then the correlation θ's below it (a correlated term), else the diagonal alone.
    Without ``shapes`` every θ on its bound is a column of its own (lme4's rule)."""
    bound = on_boundary(theta, lower)
    if shapes is None:
        return [np.array([i]) for i in np.flatnonzero(bound)]
    columns = []
    for offset, (k, correlated) in zip(_offsets(shapes), shapes, strict=True):
        _, cols = theta_positions(k, correlated)
        for j in range(k):
            indices = offset + np.flatnonzero(cols == j)   # rows j, j+1, ... in order
            if bound[indices[0]]:
                columns.append(indices)
    return columns


def canonical_theta(theta: np.ndarray, lower: np.ndarray,
                    shapes: Sequence[TermShape] | None) -> np.ndarray:
    """θ with each correlated term's T in canonical form: a column whose diagonal is on its
    bound (0) has no entries below it, they are folded into the trailing block.

    The trailing block T[j+1:, j:] (m × (m+1)) is replaced by the m × m lower-triangular
    R' of the QR factorisation T[j+1:, j:]' = QR: R'R = T[j+1:, j:] T[j+1:, j:]', so Σ
    is unchanged (to rounding) and no product is squared.

    Examples
    --------
    >>> theta = np.array([0.0, -0.6, 0.8])            # T = [[0, 0], [-0.6, 0.8]]
    >>> canonical_theta(theta, np.array([0.0, -np.inf, 0.0]), [(2, True)]).round(12).tolist()
    [0.0, 0.0, 1.0]
    """
    theta = np.array(theta, dtype=float)
    if shapes is None:
        return theta
    for offset, (k, correlated) in zip(_offsets(shapes), shapes, strict=True):
        if correlated and k > 1:
            rows, cols = theta_positions(k, True)
            indices = offset + np.arange(len(rows))
            T = np.zeros((k, k))
            T[rows, cols] = theta[indices]
            T = _canonical_factor(T, lower[indices[rows == cols]])
            theta[indices] = T[rows, cols]
    return theta


def _canonical_factor(T: np.ndarray, diagonal_lower: np.ndarray) -> np.ndarray:
    T = T.copy()
    for j in range(len(T) - 1):
        if T[j, j] <= diagonal_lower[j] and np.any(T[j + 1:, j] != 0):
            _, R = np.linalg.qr(T[j + 1:, j:].T)
            trailing = R.T * np.where(np.diag(R) < 0, -1.0, 1.0)   # diagonal ≥ 0
            T[j + 1:, j] = 0.0
            T[j + 1:, j + 1:] = np.tril(trailing)
    return T


Curvature = Callable[[np.ndarray, float, np.ndarray], tuple[np.ndarray | None, np.ndarray | None]]


def escape_point(objective, curvature: Curvature, theta: np.ndarray, value: float,
                 columns: Sequence[np.ndarray], allowance: float) -> np.ndarray | None:
    """A point off the boundary below ``value - allowance``, or None.

    For each boundary column (θ indices, diagonal first) ``curvature`` gives the
    second derivatives C of the objective in the column's θ's at θ (canonical: its
    first derivatives there are 0), or directly a lower point it met on the way;
    the escape is along the eigenvector of C's most negative eigenvalue, pointing
    into the interior, at the first of ``ESCAPE_LENGTHS`` (max-norm) that lowers
    the objective.
    """
    for indices in columns:
        C, lower_point = curvature(theta, value, indices)
        if lower_point is not None:
            return lower_point
        eigenvalues, vectors = symmetric_eigen((C + C.T) / 2)
        if not eigenvalues[0] < -1e-8 * max(float(np.max(np.abs(eigenvalues))), 1e-300):
            continue
        direction = vectors[:, 0] / np.max(np.abs(vectors[:, 0]))
        direction = -direction if direction[0] < 0 else direction
        for length in ESCAPE_LENGTHS:
            candidate = theta.copy()
            candidate[indices] += length * direction
            if objective(candidate) < value - allowance:
                return candidate
    return None


def hessian_curvature(objective) -> Curvature:
    """A column's curvature from the analytic Hessian (the dense path)."""
    def curvature(theta, value, indices):
        hessian = objective.with_hessian(theta)[2]
        return hessian[np.ix_(indices, indices)], None
    return curvature


def gradient_curvature(objective) -> Curvature:
    """A column's curvature from forward differences of the analytic gradient, one gradient
    a θ (the objective's gradient in the column is 0 at a canonical point)."""
    def curvature(theta, value, indices):
        gradient = objective.with_gradient(theta)[1]
        C = np.empty((len(indices), len(indices)))
        for a, i in enumerate(indices):
            step = theta.copy()
            step[i] += CURVATURE_STEP
            C[:, a] = (objective.with_gradient(step)[1] - gradient)[indices] / CURVATURE_STEP
        return C, None
    return curvature


def value_curvature(objective, allowance: float) -> Curvature:
    """A column's curvature from values, using that the objective is even in the column:
    f(v) − f(0) ≈ v'Cv/2 at steps h·eᵢ and h·(eᵢ + eⱼ); any of them that is lower than θ
    is returned at once (for a 1×1 column this is lme4's ``restart_edge``)."""
    def curvature(theta, value, indices):
        h, m = VALUE_STEP, len(indices)
        rise = np.empty((m, m))
        for a, b in zip(*np.tril_indices(m), strict=True):
            step = theta.copy()
            step[indices[a]] += h
            if b != a:
                step[indices[b]] += h
            rise[a, b] = rise[b, a] = objective(step) - value
            if rise[a, b] < -allowance:
                return None, step
        diagonal = np.diag(rise).copy()
        C = (rise - diagonal[:, None] - diagonal[None, :]) / h**2   # v = h(eᵢ + eⱼ)
        np.fill_diagonal(C, 2 * diagonal / h**2)                      # v = h eᵢ
        return C, None
    return curvature


def _offsets(shapes: Sequence[TermShape]) -> list[int]:
    sizes = [k * (k + 1) // 2 if correlated else k for k, correlated in shapes]
    return list(np.cumsum([0, *sizes[:-1]]))
