"""glmer's two optimisation stages and the Hessian for the standard errors.

lme4's ``glmer`` (Bates et al. 2015, §3.6 of the lme4 vignettes):

1. nAGQ = 0: minimise the Laplace criterion over θ alone, PIRLS finding β
   with u (``vary_beta``) — cheap, the whole fit for ``nagq=0``, else a start for
2. the criterion over (θ, β) jointly, PIRLS finding u only (the Laplace
   criterion, or adaptive Gauss–Hermite for nAGQ > 1).

Both stages use BOBYQA (Powell 2009; or Nelder–Mead, ``GlmerControl``) through
NLopt, with tolerances tighter than lme4's (its stage 2 is Nelder–Mead with a
relative tolerance of 1e-7 on a criterion whose PIRLS stopped at 1e-7), so the
optimum reached is the criterion's own.  Standard errors follow lme4's default (``vcov`` with
``use.hessian``): the inverse of half the Hessian of the criterion over
(θ, β), by central finite differences, restricted to β (an nAGQ = 0 fit has
no Hessian: its ``vcov`` is lme4's (R_X'R_X)⁻¹ of the last PIRLS step).

Each evaluation starts PIRLS from the previous evaluation's u (and β): the
criterion is the converged one (PIRLS's tolerance, ``GlmerControl.pirls_tolerance``,
1e-10; the Hessian's evaluations to ``HESSIAN_PIRLS_TOLERANCE``, 1e-12, in every fit:
glmer, glmer_nb, refits), so the start only saves iterations.
"""

from __future__ import annotations

from dataclasses import dataclass

import nlopt
import numpy as np

from lmmpy._control import GlmerControl
from lmmpy._nlopt import run as run_nlopt
from lmmpy.glmm._laplace import agq_deviance, laplace_deviance
from lmmpy.glmm._pirls import PirlsError, PirlsResult, ReweightedSystem, pirls

HESSIAN_STEP = 1e-4      # lme4's deriv12 delta
# PIRLS's tolerance for the Hessian's evaluations, whatever the fit's: the central
# differences divide the criterion's error by HESSIAN_STEP² = 1e-8, and the Laplace
# criterion's log-determinant moves to first order with u, so PIRLS stopped at 1e-10
# moves non-canonical links' SEs by ~1e-4 relative (probit, cloglog, Gamma log, Poisson
# sqrt: tests/glmm/test_hessian_tolerance.py against lme4's criterion's Richardson Hessian)
HESSIAN_PIRLS_TOLERANCE = 1e-12
DEFAULT_CONTROL = GlmerControl()


class GlmmCriterion:
    """−2 log-likelihood (Laplace or AGQ) as a function of θ (stage 1) or (θ, β) (stage 2)."""

    def __init__(self, system: ReweightedSystem, n_theta: int, nagq: int = 1,
                 pirls_tolerance: float = GlmerControl.pirls_tolerance):
        self.system = system
        self.n_theta = n_theta
        self.nagq = nagq
        self.pirls_tolerance = pirls_tolerance
        self.n_evaluations = 0
        self._beta: np.ndarray | None = None
        self._u: np.ndarray | None = None

    def on(self, system: ReweightedSystem) -> GlmmCriterion:
        """The same criterion (quadrature, PIRLS tolerance) for another system."""
        return GlmmCriterion(system, self.n_theta, self.nagq, self.pirls_tolerance)

    def at_theta(self, theta: np.ndarray) -> PirlsResult:
        """Stage 1's state: β and u from PIRLS at θ."""
        return self._solve(theta, None, vary_beta=True)

    def at(self, parameters: np.ndarray) -> PirlsResult:
        """Stage 2's state: u from PIRLS at (θ, β)."""
        parameters = np.asarray(parameters, dtype=float)
        return self._solve(parameters[: self.n_theta], parameters[self.n_theta:], vary_beta=False)

    def value(self, result: PirlsResult, nagq: int | None = None) -> float:
        nagq = self.nagq if nagq is None else nagq
        if nagq <= 1:
            return laplace_deviance(self.system, result)
        return agq_deviance(self.system, result, nagq)

    def stage1(self, theta: np.ndarray) -> float:
        return self._value_or_inf(lambda: self.value(self.at_theta(theta), nagq=1))

    def __call__(self, parameters: np.ndarray) -> float:
        return self._value_or_inf(lambda: self.value(self.at(parameters)))

    def _value_or_inf(self, evaluate) -> float:
        self.n_evaluations += 1
        try:
            value = evaluate()
        except (PirlsError, np.linalg.LinAlgError, FloatingPointError):
            self._beta = self._u = None
            return np.inf
        return value if np.isfinite(value) else np.inf

    def _solve(self, theta, beta, vary_beta: bool) -> PirlsResult:
        start_beta = self._beta if vary_beta else beta
        try:
            result = pirls(self.system, theta, start_beta, self._u, vary_beta,
                           self.pirls_tolerance)
        except (PirlsError, np.linalg.LinAlgError):
            result = pirls(self.system, theta, None if vary_beta else beta, None, vary_beta,
                           self.pirls_tolerance)
        self._beta, self._u = result.beta, result.u
        return result


@dataclass(frozen=True)
class GlmmOptimization:
    """Where the optimiser stopped.

    Attributes
    ----------
    parameters : (θ̂, β̂)
    deviance : the criterion there (−2 log-likelihood)
    n_evaluations : criterion evaluations in both stages
    stage1_theta : θ from the nAGQ = 0 stage
    return_codes : NLopt's result of each stage
    """

    parameters: np.ndarray
    deviance: float
    n_evaluations: int
    stage1_theta: np.ndarray
    return_codes: tuple[str, ...]


def optimize_theta(criterion: GlmmCriterion, theta_start: np.ndarray, theta_lower: np.ndarray,
                   control: GlmerControl = DEFAULT_CONTROL) -> GlmmOptimization:
    """Stage 1 alone (lme4's ``nAGQ = 0`` fit): θ by BOBYQA, β with u by PIRLS."""
    theta, value, code = _minimize(criterion.stage1, theta_start, theta_lower,
                                   np.full(len(theta_start), 0.1), control)
    beta = criterion.at_theta(theta).beta
    return GlmmOptimization(np.concatenate([theta, beta]), value, criterion.n_evaluations,
                            theta, (code,))


def optimize_glmm(criterion: GlmmCriterion, theta_start: np.ndarray, theta_lower: np.ndarray,
                  start: np.ndarray | None = None,
                  control: GlmerControl = DEFAULT_CONTROL) -> GlmmOptimization:
    """Stage 1 over θ from ``theta_start`` (skipped when ``start`` gives (θ, β), or with
    ``control.nagq0_init`` False: then from ``theta_start`` and PIRLS's β there), then
    stage 2."""
    codes = []
    if start is None:
        theta1 = theta_start
        if control.nagq0_init:
            theta1, _, code = _minimize(criterion.stage1, theta_start, theta_lower,
                                        np.full(len(theta_start), 0.1), control)
            codes.append(code)
        stage1 = criterion.at_theta(theta1)
        start = np.concatenate([theta1, stage1.beta])
        beta_steps = _beta_scale(stage1)
    else:
        theta1 = start[: criterion.n_theta]
        beta_steps = np.full(len(start) - criterion.n_theta, 0.1)
    lower = np.concatenate([theta_lower, np.full(len(start) - len(theta_lower), -np.inf)])
    steps = np.concatenate([np.full(len(theta_lower), 0.1), beta_steps])
    parameters, value, code = _minimize(criterion, start, lower, steps, control)
    codes.append(code)
    return GlmmOptimization(parameters, value, criterion.n_evaluations, theta1, tuple(codes))


def _beta_scale(result: PirlsResult) -> np.ndarray:
    """A fifth of β's approximate standard errors, (R_X'R_X)⁻¹ of the PLS at stage 1's end."""
    solution = result.objective.solve(result.theta)
    R_inverse = np.linalg.inv(solution.R_X)
    return np.maximum(0.2 * np.sqrt(np.sum(R_inverse**2, axis=1)), 1e-4)


def _minimize(function, start, lower, steps,
              control: GlmerControl) -> tuple[np.ndarray, float, str]:
    algorithm = nlopt.LN_BOBYQA if control.optimizer == "bobyqa" else nlopt.LN_NELDERMEAD
    optimizer = nlopt.opt(algorithm, len(start))
    optimizer.set_lower_bounds(lower)
    start = np.maximum(np.asarray(start, dtype=float), lower)
    optimizer.set_initial_step(np.asarray(steps, dtype=float))
    optimizer.set_ftol_abs(control.ftol_abs)
    optimizer.set_xtol_rel(control.xtol_rel)
    optimizer.set_maxeval(control.max_evaluations)
    return run_nlopt(optimizer, function, start)


def criterion_hessian(criterion: GlmmCriterion, parameters: np.ndarray,
                      step: float = HESSIAN_STEP) -> np.ndarray:
    """The Hessian of the criterion over (θ, β) by central differences (lme4's ``deriv12``),
    each evaluation's PIRLS to :data:`HESSIAN_PIRLS_TOLERANCE` at least."""
    if criterion.pirls_tolerance > HESSIAN_PIRLS_TOLERANCE:
        criterion = GlmmCriterion(criterion.system, criterion.n_theta, criterion.nagq,
                                  HESSIAN_PIRLS_TOLERANCE)
    parameters = np.asarray(parameters, dtype=float)
    k = len(parameters)
    center = criterion(parameters)
    shifted = {}

    def value(*moves):
        key = tuple(sorted(moves))
        if key not in shifted:
            x = parameters.copy()
            for index, sign in moves:
                x[index] += sign * step
            shifted[key] = criterion(x)
        return shifted[key]

    hessian = np.empty((k, k))
    for i in range(k):
        hessian[i, i] = (value((i, 1)) - 2 * center + value((i, -1))) / step**2
        for j in range(i):
            hessian[i, j] = hessian[j, i] = (
                value((i, 1), (j, 1)) - value((i, 1), (j, -1))
                - value((i, -1), (j, 1)) + value((i, -1), (j, -1))) / (4 * step**2)
    return hessian
