"""Projected Newton and quasi-Newton descent on θ ≥ lower: the derivative methods of stage 4.

Both methods step from θ by −B⁻¹g on the θ's that are free (a θ on its bound
whose derivative points outward stays there), project the step onto the
bounds, and shorten it until the objective falls by 1e-4 of what the projected
step promises (Armijo; Bertsekas 1982, projected Newton methods).  They
differ in B:

* :func:`projected_newton`: the analytic Hessian (the dense path), its
  eigenvalues made positive, with an escape from saddles along negative
  curvature;
* :func:`projected_bfgs`: a BFGS approximation built from gradient
  differences (Powell's damping keeps it positive definite), started from a
  metric when the caller has one (:func:`em_metric`: the curvature an EM step
  assumes) — the blocked path, where a gradient costs a second dense inverse.

Neither sees the structure of θ: a stop on a singular term's boundary is
followed up in :mod:`lmmpy.optimize` (the canonical form and the escape along
negative curvature of :mod:`lmmpy._boundary`).

The objective is a counting wrapper of :mod:`lmmpy.optimize`: callable for a
value, ``with_gradient`` and ``with_hessian`` for derivatives.  Trial points
after the first cost a value only; the deviance keeps the factor of the last
point, from which the accepted point's derivatives come.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from scipy.linalg import lapack

NEWTON_DECREMENT_TOL = 1e-10   # stop when g'H⁻¹g, twice the predicted gain, is below it
NEWTON_MAX_ITERATIONS = 100
BFGS_FTOL = 1e-11              # stop when the relative decrease of a step is below it
BFGS_GTOL = 1e-6               # ... or the largest free derivative
BFGS_MAX_ITERATIONS = 500
PROMISE_TOL = 1e-12            # stop_on_promise: a predicted decrease below this (relative)
PROMISE_LAST = 1e-9            # ... after a step that gained less than this (relative)
ARMIJO = 1e-4
ROUNDING = 1e-14   # BFGS: a promised decrease below this much of the objective is noise


def on_boundary(theta: np.ndarray, lower: np.ndarray) -> np.ndarray:
    """Which θ sit on their (finite) lower bound."""
    return np.isfinite(lower) & (theta <= lower)


def symmetric_eigen(matrix: np.ndarray,
                    vectors: bool = True) -> tuple[np.ndarray, np.ndarray] | np.ndarray:
    """Eigenvalues (ascending) and, if asked, eigenvectors of a symmetric matrix.

    LAPACK's ``dsyevd`` called directly: on the few-by-few matrices of θ
    numpy's ``eigh`` spends most of its time on argument checks.

    Examples
    --------
    >>> symmetric_eigen(np.array([[2.0, 1.0], [1.0, 2.0]]), vectors=False).tolist()
    [1.0, 3.0]
    """
    if not matrix.size:
        return (np.zeros(0), np.zeros((0, 0))) if vectors else np.zeros(0)
    eigenvalues, eigenvectors, info = lapack.dsyevd(matrix, compute_v=int(vectors))
    if info != 0:
        raise np.linalg.LinAlgError(f"eigenvalues did not converge ({info})")
    return (eigenvalues, eigenvectors) if vectors else eigenvalues


def projected_newton(objective, start: np.ndarray, lower: np.ndarray,
                     decrement_tol: float = NEWTON_DECREMENT_TOL, noise: float = 0.0):
    """Newton's method on the analytic Hessian, projected onto θ ≥ lower.

    The Hessian's eigenvalues are replaced by their absolute values (and at
    least 1e-8 of the largest) where it is not positive definite.  Stops
    when the Newton decrement g'H⁻¹g is below ``decrement_tol`` — unless
    the point is a saddle, which it leaves along negative curvature — or no
    step lowers the objective (a step promising less than ``noise`` times the
    objective is not tried: derivatives from finite differences of an estimate).
    Returns (θ, value, message).

    Examples
    --------
    >>> from lmmpy.optimize import _CountingObjective
    >>> def f(t):
    ...     return float((t[0] - 2) ** 2 + 10 * (t[1] + 0.5) ** 2)
    >>> def derivatives(t):
    ...     return f(t), np.array([2 * (t[0] - 2), 20 * (t[1] + 0.5)]), np.diag([2.0, 20.0])
    >>> objective = _CountingObjective(f, value_gradient_hessian=derivatives)
    >>> theta, value, message = projected_newton(objective, np.ones(2), np.zeros(2))
    >>> theta.tolist(), message
    ([2.0, 0.0], 'newton decrement below tolerance')
    """
    theta = np.maximum(start, lower)
    value, gradient, hessian = objective.with_hessian(theta)
    for _ in range(NEWTON_MAX_ITERATIONS):
        free = ~(on_boundary(theta, lower) & (gradient > 0))
        # one eigendecomposition of the free Hessian serves the step and the saddle test
        eigen = symmetric_eigen(hessian if free.all() else hessian[np.ix_(free, free)])
        step = np.zeros_like(theta)
        step[free] = _positive_definite_solve(eigen, gradient[free])
        if -float(gradient @ step) < decrement_tol:
            # a saddle, typically a diagonal θ projected onto 0 where the objective
            # is even in it: leave along the negative curvature, if there is any
            step = _negative_curvature_step(eigen, free, theta, lower)
            if step is None:
                return theta, value, "newton decrement below tolerance"
        # noise 0 (analytic derivatives): every step is tried, as _armijo_search's
        # default; a floor of 0 would refuse the negative-curvature steps, which
        # promise nothing to first order and leave saddles
        floor = noise * max(abs(value), 1.0) if noise > 0 else -np.inf
        candidate, _ = _armijo_search(objective, theta, value, gradient, step, lower, objective,
                                      give_up_below=floor)
        if candidate is None:
            return theta, value, "no step lowers the objective"
        theta = candidate
        value, gradient, hessian = objective.with_hessian(theta)
    return theta, value, "maximum number of Newton iterations reached"


def projected_bfgs(objective, start: np.ndarray, lower: np.ndarray,
                   metric: Callable[[np.ndarray], np.ndarray | None] | None = None,
                   stop_on_promise: bool = False, gradient_first: bool = True,
                   promise_tol: float = PROMISE_TOL, promise_last: float = PROMISE_LAST):
    """A projected quasi-Newton method: damped BFGS (Powell 1978) on the free θ's.

    B starts as ``metric(start)`` when given, else as (y'y / s'y)·I after a
    first step of unit length along −g (Nocedal & Wright 2006, eq. 6.20).
    The first trial of a step is evaluated with its gradient (a full step is
    nearly always taken; without ``gradient_first``, for an objective whose gradient
    costs as much after its value as with it, a value); shorter trials cost a value.
    Stops when the largest free derivative is below ``BFGS_GTOL``, a step lowers
    the objective by less than ``BFGS_FTOL`` of it (relative), or no step lowers it; with
    ``stop_on_promise`` (expensive evaluations) also before a step whose
    predicted decrease ½g'B⁻¹g is below ``PROMISE_TOL`` of the objective, once
    the step that led there gained less than ``PROMISE_LAST`` of it (B has
    learnt the curvature by then).  Returns (θ, value, message).

    Examples
    --------
    >>> from lmmpy.optimize import _CountingObjective
    >>> def f(t):
    ...     return float((t[0] - 2) ** 2 + 10 * (t[1] + 0.5) ** 2)
    >>> def value_and_gradient(t):
    ...     return f(t), np.array([2 * (t[0] - 2), 20 * (t[1] + 0.5)])
    >>> objective = _CountingObjective(f, value_and_gradient)
    >>> theta, value, message = projected_bfgs(objective, np.ones(2), np.zeros(2))
    >>> np.round(theta, 8).tolist()
    [2.0, 0.0]
    """
    theta = np.maximum(start, lower)
    value, gradient = objective.with_gradient(theta)
    B = metric(theta) if metric is not None else None
    scale_first = B is None
    if B is None:
        B = max(float(np.linalg.norm(gradient)), 1e-300) * np.eye(len(theta))

    def value_with_gradient(point):
        return objective.with_gradient(point)[0]

    for _ in range(BFGS_MAX_ITERATIONS):
        free = ~(on_boundary(theta, lower) & (gradient > 0))
        if np.max(np.abs(gradient[free]), initial=0.0) <= BFGS_GTOL:
            return theta, value, "projected gradient below gtol"
        step = np.zeros_like(theta)
        step[free] = -np.linalg.solve(B[np.ix_(free, free)], gradient[free])
        candidate, candidate_value = _armijo_search(
            objective, theta, value, gradient, step, lower,
            value_with_gradient if gradient_first else objective,
            give_up_below=ROUNDING * max(abs(value), 1.0))
        if candidate is None:
            return theta, value, "no step lowers the objective"
        _, candidate_gradient = objective.with_gradient(candidate)
        s, y = candidate - theta, candidate_gradient - gradient
        if scale_first and float(s @ y) > 0:
            B = (float(y @ y) / float(s @ y)) * np.eye(len(theta))
        scale_first = False
        B = _damped_bfgs_update(B, s, y)
        decrease = value - candidate_value
        previous = value
        theta, value, gradient = candidate, candidate_value, candidate_gradient
        scale = max(abs(previous), abs(value), 1.0)
        if decrease <= BFGS_FTOL * scale:
            return theta, value, "relative reduction below ftol"
        if stop_on_promise and decrease <= promise_last * scale:
            free = ~(on_boundary(theta, lower) & (gradient > 0))
            g = gradient[free]
            if 0.5 * float(g @ np.linalg.solve(B[np.ix_(free, free)], g)) <= promise_tol * scale:
                return theta, value, "predicted reduction below ftol"
    return theta, value, "maximum number of BFGS iterations reached"


def em_metric(em_update: Callable[[np.ndarray, np.ndarray], np.ndarray],
              theta: np.ndarray) -> np.ndarray | None:
    """The Hessian an EM step assumes at θ, as a start for BFGS (None if EM cannot move).

    To first order an EM step is a preconditioned gradient step,
    θ_EM − θ ≈ J g (:func:`lmmpy.objective._gradient.em_update`; a scalar
    term's J is −θ²/4ℓ), i.e. Newton's step for the Hessian −J⁻¹.  J comes
    from central differences of ``em_update`` in the gradient; −J is
    symmetrised and its eigenvalues floored at 1e-6 of the largest, as a θ
    near 0 is where EM stalls (J → 0) but the objective does not.
    """
    n = len(theta)
    J = np.empty((n, n))
    h = 1e-6
    for j in range(n):
        unit = np.zeros(n)
        unit[j] = h
        J[:, j] = (em_update(theta, unit) - em_update(theta, -unit)) / (2 * h)
    eigenvalues, vectors = np.linalg.eigh(-(J + J.T) / 2)
    largest = float(np.max(eigenvalues))
    if not np.isfinite(largest) or largest <= 0:
        return None
    return (vectors / np.maximum(eigenvalues, 1e-6 * largest)) @ vectors.T


def _armijo_search(objective, theta, value, gradient, step, lower, evaluate_first,
                   give_up_below: float = -np.inf):
    """The first of :func:`_step_lengths` that lowers the objective by 1e-4 of what the
    projected step promises: (θ, value), or (None, None) — also once the promise falls
    below ``give_up_below`` (BFGS: where rounding hides any decrease, and halving on would
    spend dozens of evaluations on a flat optimum; Newton's steps along negative
    curvature promise nothing to first order and must still be tried)."""
    for trial, length in enumerate(_step_lengths(theta, step, lower)):
        candidate = np.maximum(theta + length * step, lower)
        promised = float(gradient @ (candidate - theta))
        if -promised < give_up_below:
            return None, None
        candidate_value = (evaluate_first if trial == 0 else objective)(candidate)
        if candidate_value <= value + ARMIJO * min(promised, -1e-12):
            return candidate, candidate_value
    return None, None


def _step_lengths(theta, step, lower):
    """The whole projected step first (it may put θ's on their bounds, as singular fits
    need); then, if it crossed a bound, halves of the step cut where it first reaches a
    bound, else halves of the whole step."""
    yield 1.0
    crossing = (step < 0) & np.isfinite(lower) & (theta > lower)
    to_bound = (lower[crossing] - theta[crossing]) / step[crossing]
    longest = min(1.0, float(np.min(to_bound))) if to_bound.size else 1.0
    for halving in range(1, 40):
        yield longest * 0.5**halving


def _damped_bfgs_update(B: np.ndarray, s: np.ndarray, y: np.ndarray) -> np.ndarray:
    """BFGS with Powell's damping: y is blended with Bs until s'y ≥ 0.2 s'Bs, so B stays
    positive definite without a Wolfe line search."""
    Bs = B @ s
    sBs, sy = float(s @ Bs), float(s @ y)
    if sBs <= 0:
        return B
    weight = 1.0 if sy >= 0.2 * sBs else 0.8 * sBs / (sBs - sy)
    r = weight * y + (1 - weight) * Bs
    return B - np.outer(Bs, Bs) / sBs + np.outer(r, r) / float(s @ r)


def _negative_curvature_step(eigen, free, theta, lower) -> np.ndarray | None:
    """The eigenvector of the free Hessian's most negative eigenvalue (``eigen``: its
    eigendecomposition), pointing off the bounds (None when the free Hessian is positive
    semi-definite)."""
    eigenvalues, vectors = eigen
    if not len(eigenvalues) or \
            eigenvalues[0] >= -1e-8 * max(float(np.max(np.abs(eigenvalues))), 1e-300):
        return None
    direction = np.zeros_like(theta)
    direction[free] = vectors[:, 0]
    if np.sum(direction[on_boundary(theta, lower)]) < 0:
        direction = -direction
    return direction / max(float(np.max(np.abs(direction))), 1e-300)


def _positive_definite_solve(eigen, gradient: np.ndarray) -> np.ndarray:
    """−H⁻¹g with H's eigenvalues (``eigen``: H's eigendecomposition) made positive
    (|λ|, at least 1e-8 of the largest)."""
    if not len(gradient):
        return gradient
    eigenvalues, vectors = eigen
    magnitudes = np.abs(eigenvalues)
    floor = 1e-8 * max(float(magnitudes.max()), 1e-300)
    return -vectors @ ((vectors.T @ gradient) / np.maximum(magnitudes, floor))
