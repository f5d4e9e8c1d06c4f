"""Stage 4: minimise the profiled deviance over θ (lme4's ``optimizeLmer`` and ``checkConv``).

BOBYQA (Powell 2009), the bounded derivative-free quadratic-model method
lme4 (``nloptwrap``) and MixedModels.jl use, through NLopt, with lme4's
settings (``xtol_abs = ftol_abs = 1e-8``, at most 1e5 evaluations).  After the
optimizer stops we do what lme4 does:

* *boundary snap* (``boundary.tol = 1e-5``): a θ within 1e-5 of its bound is
  put on the bound when that does not raise the deviance;
* *edge restart* (``restart_edge``): a θ on its bound whose one-sided
  derivative points into the feasible region restarts the optimizer;
* *convergence checks* (``checkConv``): central finite-difference gradient
  and Hessian of the deviance at θ̂ (θ's on their bound excluded); the
  gradient scaled by the Hessian over 2e-3, or a Hessian with negative
  eigenvalues, gives a :class:`~lmmpy.ConvergenceWarning`.

One step beyond lme4: the derivatives computed for the checks also give a
Newton step θ̂ − H⁻¹g (clipped to the bounds), taken when it lowers the
deviance by more than ``NEWTON_MIN_GAIN`` (1e-6).  BOBYQA stops on
``ftol_abs`` while its quadratic model is still coarse; this step reaches an
optimum at least as good as lme4's at the cost of one evaluation.  Smaller
gains are not worth having: they only slide θ along a flat valley, away from
the point lme4 reports, for a log-likelihood change below 5e-7.  The
reported derivatives and checks are those of the point before the step
(conservative: the step only lowers the gradient).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass

import nlopt
import numpy as np

from lmmpy._warnings import ConvergenceWarning

BOUNDARY_TOL = 1e-5
GRADIENT_TOL = 2e-3
HESSIAN_TOL = 1e-6
NEWTON_MIN_GAIN = 1e-6
_DERIVATIVE_STEP = 1e-4

Objective = Callable[[np.ndarray], float]


@dataclass(frozen=True)
class OptSummary:
    """What the optimizer did (lme4's ``optinfo``, MixedModels.jl's ``OptSummary``).

    Attributes
    ----------
    optimizer : name of the method
    theta_start, lower : start and lower bounds
    theta : θ̂
    objective : deviance (or REML criterion) at θ̂
    n_evaluations : objective evaluations, restarts and checks included
    n_restarts : optimizer restarts from the boundary
    return_message : the optimizer's stopping reason
    gradient, hessian : finite-difference derivatives at θ̂ (free θ only; NaN-free)
    convergence_messages : lme4-style convergence warnings (empty when fine)
    """

    optimizer: str
    theta_start: np.ndarray
    lower: np.ndarray
    theta: np.ndarray
    objective: float
    n_evaluations: int
    n_restarts: int
    return_message: str
    gradient: np.ndarray
    hessian: np.ndarray
    convergence_messages: tuple[str, ...]

    @property
    def converged(self) -> bool:
        return not self.convergence_messages


class _CountingObjective:
    def __init__(self, objective: Objective):
        self.objective = objective
        self.count = 0

    def __call__(self, theta: np.ndarray, gradient: np.ndarray | None = None) -> float:
        self.count += 1
        value = float(self.objective(np.asarray(theta, dtype=float)))
        return value if np.isfinite(value) else np.finfo(float).max


def optimize_theta(
    objective: Objective,
    start: np.ndarray,
    lower: np.ndarray,
    *,
    xtol_abs: float = 1e-8,
    ftol_abs: float = 1e-8,
    max_evaluations: int = 100_000,
    check_convergence: bool = True,
) -> OptSummary:
    """Minimise ``objective`` over θ ≥ ``lower`` from ``start``.

    Examples
    --------
    >>> summary = optimize_theta(lambda t: float((t[0] - 2.0) ** 2), np.array([1.0]),
    ...                          np.array([0.0]))
    >>> round(float(summary.theta[0]), 5)
    2.0
    """
    counted = _CountingObjective(objective)
    start = np.asarray(start, dtype=float)
    lower = np.asarray(lower, dtype=float)
    tolerances = (xtol_abs, ftol_abs, max_evaluations)
    theta, value, message = _bobyqa(counted, start, lower, *tolerances)
    theta, value = _snap_to_boundary(counted, theta, value, lower)
    restarts = 0
    while restarts < 3 and _edge_restart_wanted(counted, theta, value, lower):
        restarts += 1
        theta, value, message = _bobyqa(counted, theta, lower, *tolerances)
        theta, value = _snap_to_boundary(counted, theta, value, lower)
    gradient, hessian, messages = np.zeros(0), np.zeros((0, 0)), ()
    if check_convergence:
        gradient, hessian = _derivatives(counted, theta, lower)
        messages = _convergence_messages(gradient, hessian)
        theta, value = _newton_polish(counted, theta, value, lower, gradient, hessian)
        for text in messages:
            warnings.warn(text, ConvergenceWarning, stacklevel=3)
    return OptSummary(
        optimizer="bobyqa (NLopt)",
        theta_start=start,
        lower=lower,
        theta=theta,
        objective=value,
        n_evaluations=counted.count,
        n_restarts=restarts,
        return_message=message,
        gradient=gradient,
        hessian=hessian,
        convergence_messages=messages,
    )


def _bobyqa(objective, start, lower, xtol_abs, ftol_abs, max_evaluations):
    optimizer = nlopt.opt(nlopt.LN_BOBYQA, len(start))
    optimizer.set_lower_bounds(lower)
    optimizer.set_min_objective(objective)
    optimizer.set_xtol_abs(xtol_abs)
    optimizer.set_ftol_abs(ftol_abs)
    optimizer.set_maxeval(max_evaluations)
    theta = optimizer.optimize(np.maximum(start, lower))
    message = _NLOPT_MESSAGES.get(optimizer.last_optimize_result(), "unknown")
    return theta, optimizer.last_optimum_value(), message


_NLOPT_MESSAGES = {
    nlopt.SUCCESS: "success",
    nlopt.STOPVAL_REACHED: "stopval reached",
    nlopt.FTOL_REACHED: "ftol_abs reached",
    nlopt.XTOL_REACHED: "xtol_abs reached",
    nlopt.MAXEVAL_REACHED: "maximum number of evaluations reached",
    nlopt.MAXTIME_REACHED: "maximum time reached",
}


def _on_boundary(theta: np.ndarray, lower: np.ndarray) -> np.ndarray:
    return np.isfinite(lower) & (theta <= lower)


def _snap_to_boundary(objective, theta, value, lower):
    near = np.isfinite(lower) & (theta - lower < BOUNDARY_TOL) & (theta > lower)
    if not near.any():
        return theta, value
    snapped = np.where(near, lower, theta)
    snapped_value = objective(snapped)
    return (snapped, snapped_value) if snapped_value <= value else (theta, value)


def _edge_restart_wanted(objective, theta, value, lower) -> bool:
    """lme4's restart_edge: does a step off the boundary lower the deviance?"""
    for i in np.flatnonzero(_on_boundary(theta, lower)):
        step = theta.copy()
        step[i] += _DERIVATIVE_STEP
        if objective(step) < value - 1e-10:
            return True
    return False


def _derivatives(objective, theta, lower) -> tuple[np.ndarray, np.ndarray]:
    """Central-difference gradient and Hessian over the θ's off their bound (lme4's deriv12)."""
    free = np.flatnonzero(~_on_boundary(theta, lower))
    h = _DERIVATIVE_STEP
    f0 = objective(theta)
    gradient = np.zeros(len(free))
    hessian = np.zeros((len(free), len(free)))
    for a, i in enumerate(free):
        f_plus, f_minus = objective(_shift(theta, i, h)), objective(_shift(theta, i, -h))
        gradient[a] = (f_plus - f_minus) / (2 * h)
        hessian[a, a] = (f_plus - 2 * f0 + f_minus) / h**2
        for c, j in enumerate(free[:a]):
            pp = objective(_shift(_shift(theta, i, h), j, h))
            mm = objective(_shift(_shift(theta, i, -h), j, -h))
            pm = objective(_shift(_shift(theta, i, h), j, -h))
            mp = objective(_shift(_shift(theta, i, -h), j, h))
            hessian[a, c] = hessian[c, a] = (pp - pm - mp + mm) / (4 * h**2)
    return gradient, hessian


def _newton_polish(objective, theta, value, lower, gradient, hessian):
    free = np.flatnonzero(~_on_boundary(theta, lower))
    try:
        step = np.linalg.solve(np.linalg.cholesky(hessian).T,
                               np.linalg.solve(np.linalg.cholesky(hessian), gradient))
    except np.linalg.LinAlgError:
        return theta, value
    candidate = theta.copy()
    candidate[free] = np.maximum(theta[free] - step, lower[free])
    candidate_value = objective(candidate)
    if candidate_value < value - NEWTON_MIN_GAIN:
        return candidate, candidate_value
    return theta, value


def _shift(theta: np.ndarray, i: int, h: float) -> np.ndarray:
    shifted = theta.copy()
    shifted[i] += h
    return shifted


def _convergence_messages(gradient: np.ndarray, hessian: np.ndarray) -> tuple[str, ...]:
    if len(gradient) == 0:
        return ()
    messages = []
    try:
        scaled = np.linalg.solve(np.linalg.cholesky(hessian), gradient)
        largest = float(np.max(np.minimum(np.abs(scaled), np.abs(gradient))))
    except np.linalg.LinAlgError:
        scaled, largest = None, float(np.max(np.abs(gradient)))
        messages.append("unable to evaluate scaled gradient")
    if largest > GRADIENT_TOL:
        messages.append(
            f"Model failed to converge with max|grad| = {largest:.6g} (tol = {GRADIENT_TOL})"
        )
    negative = int(np.sum(np.linalg.eigvalsh(hessian) < -HESSIAN_TOL))
    if negative:
        messages.append(
            f"Model failed to converge: degenerate Hessian with {negative} negative eigenvalues"
        )
    return tuple(messages)
