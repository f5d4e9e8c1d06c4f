"""glmer's two optimisation stages and the Hessian for the standard errors.

lme4's ``glmer`` (Bates et al. 2015, §3.6 of the lme4 vignettes):

1. nAGQ = 0: minimise the Laplace criterion over θ alone, PIRLS finding β
   with u (``vary_beta``) — cheap, the whole fit for ``nagq=0``, else a start for
2. the criterion over (θ, β) jointly, PIRLS finding u only (the Laplace
   criterion, or adaptive Gauss–Hermite for nAGQ > 1).

By default (``GlmerControl(optimizer="auto")``) both stages of a Laplace fit run
projected BFGS (:func:`lmmpy._descent.projected_bfgs`) on the analytic gradient
(:mod:`lmmpy.glmm._gradient`), then leave the boundary where the
criterion falls off it: a singular term's T in canonical form, the curvature of
each boundary column from gradient differences (:mod:`lmmpy._boundary`, as
``lmer``).  Stage 1 starts as ``lmer``'s optimizer does: EM steps read off the
gradient (:func:`lmmpy.objective._gradient.em_update`: a scalar term's
θ ← θ√(1 − θ ∂F/∂θ / 2ℓ), the Laplace criterion's log|A| + ‖u‖² having the profiled
deviance's form in θ) while each gains more than 10 deviance units, then BFGS from the
information the last gradient's trace terms give (``GlmmCriterion.information``: scalar
terms; else the curvature EM assumes, :func:`lmmpy._descent.em_metric`), which costs no
evaluation, and stops before a step it predicts to gain nothing (``STAGE1_PROMISE``):
the 38 sets, cbpp and VerbAgg at nAGQ = 0 from 367 evaluations to 308 with the far
tolerances below, no −2 logLik higher by more than 1.7e-8; the 1,000,000-row model 7 → 5
evaluations; stage
2 starts from forward differences of the gradient in θ and 2 R_X'R_X in β.  (The
difference metric in stage 1 took two evaluations, and on the 1,000,000-row model a first
step onto a bound: 11 evaluations and two line-search values there, 7 with EM; 1,124 → 886
on the 38 sets, cbpp and VerbAgg, every optimum the same.)  VerbAgg: 21 evaluations in
both stages where BOBYQA took 201; on the
38 simulated sets against lme4 (``tests/glmm/test_glmm_unseen.py``) the same
optimum to 1e-9 or a lower one.  ``"bobyqa"`` / ``"nelder_mead"`` (and the second
stage of nAGQ > 1, which has no gradient) use NLopt with tolerances tighter than
lme4's.  Standard errors follow lme4's default (``vcov`` with ``use.hessian``):
the inverse of half the Hessian of the criterion over (θ, β), by central
differences of the gradient (2k gradients; of the values, lme4's ``deriv12``,
for nAGQ > 1), restricted to β; one Newton step on that Hessian polishes the
optimum (an nAGQ = 0 fit has no Hessian: its ``vcov`` is lme4's (R_X'R_X)⁻¹ of
the last PIRLS step).

Each evaluation starts PIRLS from the previous evaluation's b = Λu (u rescaled to the new
θ, :func:`carried_modes`) and β, and from q ≥ 1,000 with chord steps on its system
(:mod:`lmmpy.glmm._pirls`) — in stage 1 from the last gradient's (û, β̂) moved by their
slopes in θ when that start has the lower pdev: the
criterion is the converged one (PIRLS's tolerance, ``GlmerControl.pirls_tolerance``,
1e-10; the Hessian's evaluations to ``HESSIAN_PIRLS_TOLERANCE``, 1e-12, in every fit:
glmer, glmer_nb, refits), so the start only saves iterations.  Only stage 1's cold first
evaluation and those while its last gradient is above ``FAR_GRADIENT`` stop PIRLS at a
looser tolerance (``GlmmCriterion._far_tolerance``).  A step's first trial costs a
value, its gradient only once the step is taken.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import nlopt
import numpy as np

from lmmpy._boundary import (
    boundary_columns,
    canonical_theta,
    escape_point,
    gradient_curvature,
    term_shapes_of,
)
from lmmpy._control import GlmerControl
from lmmpy._descent import em_metric, projected_bfgs
from lmmpy._nlopt import run as run_nlopt
from lmmpy.glmm._gradient import laplace_gradient, mode_derivatives
from lmmpy.glmm._laplace import agq_deviance, laplace_deviance
from lmmpy.glmm._pirls import (
    PirlsError,
    PirlsResult,
    ReweightedSystem,
    pirls,
    predicted_or_last,
)
from lmmpy.objective._gradient import em_update
from lmmpy.optimize import _em_steps

HESSIAN_STEP = 1e-4      # lme4's deriv12 delta
EDGE_ALLOWANCE = 1e-10    # an escape off the boundary must gain this much (relative)
MAX_EDGE_RESTARTS = 3
HELD_SLOPE = 1e-10        # a zero derivative on the bound, made this (the bound then holds)
METRIC_STEP = 1e-3       # forward differences of the gradient for BFGS's first curvature
CARRY_SHRINK = 0.1       # a term's b is carried to a new θ unless its T shrinks below this
_LARGEST = 1e300         # an infinite criterion, for the descent's comparisons
# PIRLS's tolerance for the Hessian's evaluations, whatever the fit's: the central
# differences divide the criterion's error by HESSIAN_STEP² = 1e-8, and the Laplace
# criterion's log-determinant moves to first order with u, so PIRLS stopped at 1e-10
# moves non-canonical links' SEs by ~1e-4 relative (probit, cloglog, Gamma log, Poisson
# sqrt: tests/glmm/test_hessian_tolerance.py against lme4's criterion's Richardson Hessian)
HESSIAN_PIRLS_TOLERANCE = 1e-12
DEFAULT_CONTROL = GlmerControl()
# Stage 1 (the descent with EM steps) stops before a step that BFGS predicts to gain less
# than the relative decrease that would stop it once taken (BFGS_FTOL, 1e-11), after a step
# that gained under 1e-6: its metric, the trace terms' information updated by BFGS, has
# learnt the curvature by then. The 38 sets, cbpp and VerbAgg at nAGQ = 0: 325 → 294
# gradients, no −2 logLik up by more than 1.7e-8; the 1M-row model 6 → 5 evaluations
STAGE1_PROMISE = dict(stop_on_promise=True, promise_tol=1e-11, promise_last=1e-6)
# Stage 1's evaluations while the descent is far from the optimum (the last gradient above
# FAR_GRADIENT in some θ: its steps still gain ~0.1 or more), and its first one from a cold
# start (lme4's θ = 1, R's mustart), stop PIRLS at this tolerance for a canonical link
# (binomial logit, Poisson log; ``GlmmCriterion._far_tolerance``): Newton's quadratic
# bound then leaves the criterion 5e-7 or less off (VerbAgg and a 200,000-row crossed
# binary model at the first three points of the descent), against 2e-6 at 1e-3, which
# moved three of the 38 simulated sets' optima by 3e-6 to 1e-4; lme4's tolPwrss 1e-7 on
# pdev leaves far more.
# The evaluations near the optimum, and the states kept, take the fit's own tolerance
FAR_GRADIENT = 1.0
FAR_PIRLS_TOLERANCE = 1e-4
FAR_SCORING_TOLERANCE = 1e-5   # the same for links whose PIRLS steps are Fisher scoring


class GlmmCriterion:
    """−2 log-likelihood (Laplace or AGQ) as a function of θ (stage 1) or (θ, β) (stage 2)."""

    def __init__(self, system: ReweightedSystem, n_theta: int, nagq: int = 1,
                 pirls_tolerance: float = GlmerControl.pirls_tolerance,
                 with_shape: bool = False):
        self.system = system
        self.n_theta = n_theta
        self.nagq = nagq
        self.pirls_tolerance = pirls_tolerance
        self.with_shape = with_shape   # gradients end with d/d log k (negative binomial)
        self.n_evaluations = 0
        self._beta: np.ndarray | None = None
        self._u: np.ndarray | None = None
        self._u_theta: np.ndarray | None = None   # θ of the last û (None: u is for the next θ)
        self._previous: PirlsResult | None = None   # the last solution (its system: chord steps)
        # (_key, result, whether PIRLS ran to its tolerance rather than ``quick``, whether
        # at the fit's tolerance rather than a far one)
        self._last_result: tuple[tuple, PirlsResult, bool, bool] | None = None
        self._last_gradient: tuple | None = None   # (result, vary_beta, value, gradient)
        self._slopes: tuple | None = None   # (family, result, dû/dθ, dβ̂/dθ): stage 1's last gradient
        self._far = False   # stage 1's last gradient above FAR_GRADIENT
        self._information: tuple | None = None   # (θ, stage 1's information metric there)

    def information(self, theta: np.ndarray) -> np.ndarray | None:
        """The curvature model of stage 1's criterion at θ (:meth:`_RowEffects.information`
        in :mod:`lmmpy.glmm._gradient`) if the last stage-1 gradient was at θ and had one."""
        kept = self._information
        if kept is None or kept[0] != np.asarray(theta, dtype=float).tobytes():
            return None
        return kept[1]

    def on(self, system: ReweightedSystem) -> GlmmCriterion:
        """The same criterion (quadrature, PIRLS tolerance) for another system."""
        return GlmmCriterion(system, self.n_theta, self.nagq, self.pirls_tolerance,
                             self.with_shape)

    def start_from(self, other: GlmmCriterion, fixed_map: np.ndarray | None = None) -> None:
        """Start the next PIRLS from ``other``'s last û (and β, mapped by ``fixed_map``):
        the same model on conditioned columns has the same u (ZΛ is unchanged)."""
        self._u, self._u_theta, self._slopes, self._far = other._u, None, None, False
        beta = other._beta
        self._beta = beta if beta is None or fixed_map is None else fixed_map @ beta

    def warm_start(self, u: np.ndarray) -> None:
        """Start the next PIRLS from this u (a prediction of û there)."""
        self._u, self._u_theta, self._slopes, self._far = u, None, None, False

    def at_theta(self, theta: np.ndarray, quick: bool = False) -> PirlsResult:
        """Stage 1's state: β and u from PIRLS at θ (``quick``: an optimizer's evaluation,
        PIRLS stopped by Newton's quadratic bound where it applies; else, for a model's
        state, run until a step is below the tolerance)."""
        return self._solve(theta, None, vary_beta=True, quick=quick)

    def solution_at_theta(self, theta: np.ndarray) -> PirlsResult:
        """Stage 1's last PIRLS solution if it was at θ and at the fit's tolerance (an
        optimizer's evaluation near the optimum: β̂ to ~1e-12, PIRLS's quadratic bound), else
        the state at θ (:meth:`at_theta`): the descent's β̂ without another solve where it
        can; the model's state takes its own."""
        kept = self._last_result
        theta = np.asarray(theta, dtype=float)
        if kept is not None and kept[0] == self._key(theta, True) and kept[3]:
            return kept[1]
        return self.at_theta(theta)

    def at(self, parameters: np.ndarray, quick: bool = False) -> PirlsResult:
        """Stage 2's state: u from PIRLS at (θ, β) (``quick`` as :meth:`at_theta`)."""
        parameters = np.asarray(parameters, dtype=float)
        return self._solve(parameters[: self.n_theta], parameters[self.n_theta:],
                           vary_beta=False, quick=quick)

    def value(self, result: PirlsResult, nagq: int | None = None) -> float:
        nagq = self.nagq if nagq is None else nagq
        if nagq <= 1:
            return laplace_deviance(self.system, result)
        return agq_deviance(self.system, result, nagq)

    def stage1(self, theta: np.ndarray) -> float:
        return self._value_or_inf(lambda: self.value(self.at_theta(theta, True), nagq=1))

    @property
    def has_gradient(self) -> bool:
        """Whether the criterion has its analytic gradient (Laplace, not quadrature)."""
        return self.nagq <= 1

    def value_and_gradient(self, parameters: np.ndarray) -> tuple[float, np.ndarray]:
        """Stage 2's criterion and its gradient over (θ, β) (:mod:`lmmpy.glmm._gradient`)."""
        parameters = np.asarray(parameters, dtype=float)
        return self._with_gradient(parameters, lambda: self.at(parameters, True),
                                   vary_beta=False)

    def stage1_value_and_gradient(self, theta: np.ndarray) -> tuple[float, np.ndarray]:
        """Stage 1's criterion (nAGQ = 0: β inside PIRLS) and its gradient over θ."""
        theta = np.asarray(theta, dtype=float)
        return self._with_gradient(theta, lambda: self.at_theta(theta, True), vary_beta=True)

    def _with_gradient(self, x, solve, vary_beta: bool) -> tuple[float, np.ndarray]:
        kept = self._last_result
        failed = np.full(len(x) + self.with_shape, np.nan)
        if kept is not None and kept[0] == self._key(x, vary_beta):   # a value just asked
            result = kept[1]
        else:
            self.n_evaluations += 1
            try:
                result = solve()
            except (PirlsError, np.linalg.LinAlgError, FloatingPointError):
                self._beta = self._u = self._slopes = self._previous = None
                self._far = False
                return np.inf, failed
        done = self._last_gradient
        if done is not None and done[0] is result and done[1] == vary_beta:
            return done[2], done[3].copy()   # asked again (BFGS: the trial, then its step)
        value = self.value(result, nagq=1)
        if not np.isfinite(value):
            return np.inf, failed
        slopes = [] if vary_beta else None
        information = [] if vary_beta else None
        try:
            gradient = laplace_gradient(self.system, result, vary_beta, self.with_shape,
                                        slopes, information)
        except (np.linalg.LinAlgError, FloatingPointError):
            return value, failed
        if slopes:
            self._slopes = (self.system.response.family, result, *slopes)
        if information:
            self._information = (x.tobytes(), information[0])
        if vary_beta:
            self._far = bool(np.max(np.abs(gradient[: self.n_theta])) > FAR_GRADIENT)
        self._last_gradient = (result, vary_beta, value, gradient.copy())
        return value, gradient

    def _key(self, x: np.ndarray, vary_beta: bool) -> tuple:
        """Where a PIRLS solution was found: the point, the stage and the family (whose
        shape glmer_nb changes between evaluations)."""
        return (vary_beta, x.tobytes(), self.system.response.family)

    def __call__(self, parameters: np.ndarray) -> float:
        return self._value_or_inf(lambda: self.value(self.at(parameters, True)))

    def _value_or_inf(self, evaluate) -> float:
        self.n_evaluations += 1
        try:
            value = evaluate()
        except (PirlsError, np.linalg.LinAlgError, FloatingPointError):
            self._beta = self._u = self._slopes = self._previous = None
            self._far = False
            return np.inf
        return value if np.isfinite(value) else np.inf

    def _predicted_start(self, theta: np.ndarray, beta: np.ndarray, u: np.ndarray):
        """Stage 1's PIRLS start at θ: (β̂, û) of the last point with a gradient moved by
        their slopes there (first order in the change of θ: a PIRLS step or two fewer in
        the descent), or the last solution ``(β, u)`` when that has the lower pdev; with
        the start's (η, pdev) when it was a choice (else None)."""
        kept = self._slopes
        if kept is None or kept[0] is not self.system.response.family:
            return (beta, u), None
        _, base, du, dbeta = kept
        change = theta - base.theta
        predicted = (base.beta + dbeta @ change, base.u + du @ change)
        return predicted_or_last(self.system, theta, predicted, (beta, u))

    def start_far(self) -> None:
        """Stage 1 starts cold (lme4's θ = 1, R's mustart): its first evaluation is a far one."""
        if self._u is None:
            self._far = True

    def _far_tolerance(self) -> float:
        """PIRLS's tolerance far from the optimum: ``FAR_PIRLS_TOLERANCE`` where Newton's
        quadratic bound stops PIRLS (canonical links), else ``FAR_SCORING_TOLERANCE``: a
        Fisher-scoring step's error is the size of the last step (a probit set's criterion
        was 2.6e-4 off at 1e-4)."""
        return FAR_PIRLS_TOLERANCE if self.system.response.newton else FAR_SCORING_TOLERANCE

    def _carried_u(self, theta: np.ndarray) -> np.ndarray | None:
        """The last û as a start at θ: b = Λu kept (u_j ← T_θ⁻¹T_old u_j per level) in
        each term whose T stays well inside (a level's mode moves with θ by
        ~1/(1 + θ²Σw) of θ's relative change, so b moves far less than u does)."""
        u, old = self._u, self._u_theta
        if u is None or old is None or np.array_equal(old, theta):
            return u
        return carried_modes(self.system.design.terms, u, old, theta)

    def _solve(self, theta, beta, vary_beta: bool, quick: bool = False) -> PirlsResult:
        theta = np.asarray(theta, dtype=float)
        x = theta if vary_beta else np.concatenate([theta, beta])
        kept = self._last_result
        if not quick and kept is not None and kept[0] == self._key(x, vary_beta) and kept[2]:
            return kept[1]   # a model's state just found there (nAGQ = 0: fit, then state)
        self._last_result = None
        start_beta = self._beta if vary_beta else beta
        start_u = self._carried_u(theta)
        tolerance = self.pirls_tolerance
        start_value = None
        if vary_beta and start_u is not None:
            (start_beta, start_u), start_value = self._predicted_start(theta, start_beta,
                                                                       start_u)
        if vary_beta and quick and self._far:
            tolerance = max(tolerance, self._far_tolerance())
        try:
            result = pirls(self.system, theta, start_beta, start_u, vary_beta, tolerance,
                           quick=quick, previous=self._previous, start_value=start_value)
        except (PirlsError, np.linalg.LinAlgError):
            result = pirls(self.system, theta, None if vary_beta else beta, None, vary_beta,
                           tolerance, quick=quick)
        self._beta, self._u, self._u_theta = result.beta, result.u, theta.copy()
        self._previous = result
        # a gradient there reuses it, and a model's state a full solve
        self._last_result = (self._key(x, vary_beta), result, not quick,
                             tolerance <= self.pirls_tolerance)
        return result


def carried_modes(terms, u: np.ndarray, old: np.ndarray, theta: np.ndarray) -> np.ndarray:
    """u at θ with the same b = Λu as ``u`` at ``old``, term by term (a term whose new T
    is singular, or shrinks below a tenth of the old one, keeps its u)."""
    u = u.copy()
    start, offset = 0, 0
    for term in terms:
        T_old = term.template(old[start:start + term.n_theta])
        T_new = term.template(theta[start:start + term.n_theta])
        size, k = term.n_random_effects, term.n_columns
        if np.all(np.diag(T_new) >= CARRY_SHRINK * np.diag(T_old)) and \
                np.all(np.diag(T_new) > 0):
            M = np.linalg.solve(T_new, T_old)
            block = u[offset:offset + size].reshape(-1, k)
            u[offset:offset + size] = (block @ M.T).ravel()
        start += term.n_theta
        offset += size
    return u


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
    theta, value, code = _stage1(criterion, theta_start, theta_lower, control)
    beta = criterion.solution_at_theta(theta).beta
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
            theta1, _, code = _stage1(criterion, theta_start, theta_lower, control)
            codes.append(code)
        stage1 = criterion.at_theta(theta1)
        start = np.concatenate([theta1, stage1.beta])
        beta_steps = _beta_scale(stage1)
        beta_information = _beta_information(stage1)
    else:
        theta1 = start[: criterion.n_theta]
        beta_steps = np.full(len(start) - criterion.n_theta, 0.1)
        beta_information = None
    lower = np.concatenate([theta_lower, np.full(len(start) - len(theta_lower), -np.inf)])
    steps = np.concatenate([np.full(len(theta_lower), 0.1), beta_steps])
    if _uses_gradient(criterion, control):
        metric = _DifferenceMetric(criterion.value_and_gradient, criterion.n_theta,
                                   beta_information) if beta_information is not None else None
        parameters, value, code = _descend(criterion, criterion, criterion.value_and_gradient,
                                           start, lower, metric,
                                           max_evaluations=control.max_evaluations,
                                           gradient_first=False)
    else:
        parameters, value, code = _minimize(criterion, start, lower, steps, control)
    codes.append(code)
    return GlmmOptimization(parameters, value, criterion.n_evaluations, theta1, tuple(codes))


def _uses_gradient(criterion: GlmmCriterion, control: GlmerControl) -> bool:
    return control.optimizer in ("auto", "bfgs") and criterion.has_gradient


def _stage1(criterion: GlmmCriterion, theta_start, theta_lower, control: GlmerControl):
    """θ of the nAGQ = 0 criterion: by projected BFGS on its gradient, or by NLopt."""
    if control.optimizer in ("auto", "bfgs"):
        terms = criterion.system.design.terms

        def em(theta: np.ndarray, gradient: np.ndarray) -> np.ndarray:
            return em_update(terms, theta, gradient)

        criterion.start_far()

        def metric(theta: np.ndarray) -> np.ndarray | None:
            information = criterion.information(theta)
            return em_metric(em, theta) if information is None else information

        return _descend(criterion, criterion.stage1, criterion.stage1_value_and_gradient,
                        theta_start, theta_lower, metric,
                        max_evaluations=control.max_evaluations, em=em, gradient_first=False,
                        promise=STAGE1_PROMISE)
    return _minimize(criterion.stage1, theta_start, theta_lower,
                     np.full(len(theta_start), 0.1), control)


class _EvaluationLimitError(Exception):
    """The descent has used ``max_evaluations``."""


class _DescentObjective:
    """What :func:`lmmpy._descent.projected_bfgs` calls: a value (inf: a large number) and
    ``with_gradient`` (after a value at the same point, its PIRLS solution is reused); it
    keeps the lowest point seen and stops the descent at ``max_evaluations``."""

    def __init__(self, value, value_and_gradient, lower: np.ndarray, max_evaluations: int):
        self.value, self.value_and_gradient = value, value_and_gradient
        self.lower, self.max_evaluations = lower, max_evaluations
        self.count = 0
        self.best: tuple[np.ndarray, float] | None = None
        self._valued: bytes | None = None   # the last value's point (its gradient: no count)

    def __call__(self, x: np.ndarray) -> float:
        self._count()
        x = np.asarray(x, dtype=float)
        value = self.value(x)
        self._valued = x.tobytes()
        return self._seen(x, value if np.isfinite(value) else _LARGEST)

    def with_gradient(self, x: np.ndarray) -> tuple[float, np.ndarray]:
        x = np.asarray(x, dtype=float)
        if x.tobytes() != self._valued:
            self._count()
        self._valued = None
        value, gradient = self.value_and_gradient(np.asarray(x, dtype=float))
        if not np.isfinite(value) or not np.all(np.isfinite(gradient)):
            return self._seen(x, _LARGEST), np.zeros(len(x))
        # on a diagonal θ's bound the criterion is even in it: its derivative is 0 and the
        # descent would move it out and back; held there (the interior is tried after)
        held = np.isfinite(self.lower) & (x <= self.lower) & (np.abs(gradient) <= HELD_SLOPE)
        gradient[held] = HELD_SLOPE
        return self._seen(x, float(value)), gradient

    def _count(self) -> None:
        if self.count >= self.max_evaluations:
            raise _EvaluationLimitError
        self.count += 1

    def _seen(self, x: np.ndarray, value: float) -> float:
        if self.best is None or value < self.best[1]:
            self.best = (np.array(x, dtype=float), value)
        return value


def _descend(criterion: GlmmCriterion, value, value_and_gradient, start, lower,
             metric=None, max_evaluations: int = DEFAULT_CONTROL.max_evaluations,
             em=None, gradient_first: bool = True,
             promise: dict | None = None) -> tuple[np.ndarray, float, str]:
    """Projected BFGS, then off the boundary where the criterion falls there: a singular
    term's T put in canonical form (the same Σ; a KKT point in θ need not be one in Σ,
    :mod:`lmmpy._boundary`) and each θ on its bound tried inside, restarting from a lower
    point.  Without ``gradient_first`` (the criterion's own value and gradient, which
    reuses the value's PIRLS solution) a step's first trial costs a value, its gradient
    only once the step is taken (a rejected trial then costs no gradient).  ``promise``:
    :func:`~lmmpy._descent.projected_bfgs`'s stop on a predicted gain, for the first descent
    (a restart off the boundary stops on its gains)."""
    objective = _DescentObjective(value, value_and_gradient, lower, max_evaluations)
    try:
        if em is not None:   # EM steps first, as lmer's (lmmpy.optimize._em_steps)
            start = _em_steps(objective, np.maximum(start, lower), lower, em)
        x, fx, message = projected_bfgs(objective, np.asarray(start, dtype=float), lower,
                                        metric, gradient_first=gradient_first,
                                        **(promise or {}))
        n_theta = criterion.n_theta
        shapes = term_shapes_of(criterion.system.design.terms)
        for _ in range(MAX_EDGE_RESTARTS):
            x, fx = _canonical(criterion, objective, x, fx, lower)
            columns = boundary_columns(x[:n_theta], lower[:n_theta], shapes)
            moved = escape_point(objective, gradient_curvature(objective), x, fx, columns,
                                 EDGE_ALLOWANCE * max(abs(fx), 1.0)) if columns else None
            if moved is None:
                break
            x, fx, message = projected_bfgs(objective, moved, lower, metric,
                                            gradient_first=gradient_first)
    except _EvaluationLimitError:
        (x, fx), message = objective.best, "maximum number of evaluations reached"
        value(x)   # the criterion's state at the point returned
    return x, fx, message


def descend_with_gradient(criterion: GlmmCriterion, value, value_and_gradient,
                          start: np.ndarray, lower: np.ndarray, metric=None,
                          control: GlmerControl = DEFAULT_CONTROL) -> tuple[np.ndarray, float, str]:
    """The descent of both glmer stages (projected BFGS, then off the boundary) on a
    caller's own coordinates, whose first ``criterion.n_theta`` are θ (glmer_nb's joint
    search over (θ, log k, β), a profile's points): ``metric(x)``, BFGS's first curvature
    (:func:`difference_metric`, :func:`positive_metric`)."""
    return _descend(criterion, value, value_and_gradient, start, lower, metric,
                    max_evaluations=control.max_evaluations)


def difference_metric(value_and_gradient, n_differenced: int, known: np.ndarray | None = None):
    """A first curvature from gradient differences in the first ``n_differenced``
    coordinates, ``known`` the block of the rest."""
    return _DifferenceMetric(value_and_gradient, n_differenced, known)


def positive_metric(B: np.ndarray) -> np.ndarray | None:
    """B symmetrised, its eigenvalues made positive (None: no usable curvature)."""
    eigenvalues, vectors = np.linalg.eigh((B + B.T) / 2)
    largest = float(np.max(np.abs(eigenvalues)))
    if not np.isfinite(largest) or largest <= 0:
        return None
    return (vectors * np.maximum(np.abs(eigenvalues), 1e-8 * largest)) @ vectors.T


def beta_information(criterion: GlmmCriterion, theta: np.ndarray) -> np.ndarray:
    """2 R_X'R_X of stage 1's PIRLS at θ: the criterion's curvature in β."""
    return _beta_information(criterion.at_theta(theta))


def _canonical(criterion: GlmmCriterion, objective, x, fx, lower) -> tuple[np.ndarray, float]:
    n_theta = criterion.n_theta
    shapes = term_shapes_of(criterion.system.design.terms)
    theta = canonical_theta(x[:n_theta], lower[:n_theta], shapes)
    if np.array_equal(theta, x[:n_theta]):
        return x, fx
    moved = np.concatenate([theta, x[n_theta:]])
    value = objective(moved)
    return (moved, value) if value <= fx + 1e-10 * max(abs(fx), 1.0) else (x, fx)


def _beta_information(result: PirlsResult) -> np.ndarray:
    """2 R_X'R_X at stage 1's end: the criterion's curvature in β for fixed u's weights."""
    R_X = result.objective.solve(result.theta).R_X
    return 2 * R_X.T @ R_X


class _DifferenceMetric:
    """The start of BFGS's curvature: forward differences of the gradient in the first
    ``n_differenced`` coordinates (θ), and a known block for the rest (β: stage 1's
    2 R_X'R_X), its eigenvalues made positive."""

    def __init__(self, value_and_gradient, n_differenced: int,
                 known: np.ndarray | None = None):
        self.value_and_gradient = value_and_gradient
        self.n_differenced, self.known = n_differenced, known

    def __call__(self, x: np.ndarray) -> np.ndarray | None:
        gradient = self.value_and_gradient(x)[1]
        B = np.zeros((len(x), len(x)))
        if self.known is not None:
            B[self.n_differenced:, self.n_differenced:] = self.known
        for j in range(self.n_differenced):
            moved = np.array(x, dtype=float)
            moved[j] += METRIC_STEP
            other = self.value_and_gradient(moved)[1]
            if not np.all(np.isfinite(other)):
                return None
            B[:, j] = B[j, :] = (other - gradient) / METRIC_STEP
        return positive_metric(B)


def _beta_scale(result: PirlsResult) -> np.ndarray:
    """A fifth of β's approximate standard errors, (R_X'R_X)⁻¹ of the PLS at stage 1's end."""
    solution = result.objective.solve(result.theta)
    R_inverse = np.linalg.inv(solution.R_X)
    return np.maximum(0.2 * np.sqrt(np.sum(R_inverse**2, axis=1)), 1e-4)


def _minimize(function, start, lower, steps,
              control: GlmerControl) -> tuple[np.ndarray, float, str]:
    algorithm = nlopt.LN_NELDERMEAD if control.optimizer == "nelder_mead" else nlopt.LN_BOBYQA
    optimizer = nlopt.opt(algorithm, len(start))
    optimizer.set_lower_bounds(lower)
    start = np.maximum(np.asarray(start, dtype=float), lower)
    optimizer.set_initial_step(np.asarray(steps, dtype=float))
    optimizer.set_ftol_abs(control.ftol_abs)
    optimizer.set_xtol_rel(control.xtol_rel)
    optimizer.set_maxeval(control.max_evaluations)
    return run_nlopt(optimizer, function, start)


def newton_polish(criterion: GlmmCriterion, optimization: GlmmOptimization,
                  hessian: np.ndarray, lower: np.ndarray) -> GlmmOptimization:
    """One Newton step from the descent's optimum on the Hessian computed there for the
    standard errors, kept if it lowers the criterion: the descent stops on a relative
    gain of 1e-11, the step then leaves ~1e-18 (θ's on their bound stay)."""
    x = optimization.parameters
    value, gradient = criterion.value_and_gradient(x)
    if not (np.isfinite(value) and np.all(np.isfinite(gradient))):
        return optimization
    free = ~(np.isfinite(lower) & (x <= lower) & (gradient >= 0))
    try:
        step = np.zeros_like(x)
        factor = np.linalg.cholesky(hessian[np.ix_(free, free)])
        step[free] = -np.linalg.solve(factor.T, np.linalg.solve(factor, gradient[free]))
    except np.linalg.LinAlgError:
        return optimization
    candidate = np.maximum(x + step, lower)
    polished = criterion(candidate)
    if not polished < min(value, optimization.deviance):
        criterion(x)   # the criterion's state back at the optimum
        return optimization
    return replace(optimization, parameters=candidate, deviance=polished,
                   n_evaluations=optimization.n_evaluations + 2)


def criterion_hessian(criterion: GlmmCriterion, parameters: np.ndarray,
                      step: float = HESSIAN_STEP) -> np.ndarray:
    """The Hessian of the criterion over (θ, β): central differences of its analytic gradient
    (Laplace: 2k gradients), else of its values (lme4's ``deriv12``: 2k² + 1 values); each
    evaluation's PIRLS to :data:`HESSIAN_PIRLS_TOLERANCE` at least."""
    if criterion.pirls_tolerance > HESSIAN_PIRLS_TOLERANCE:
        fitted = criterion
        criterion = GlmmCriterion(criterion.system, criterion.n_theta, criterion.nagq,
                                  HESSIAN_PIRLS_TOLERANCE)
        criterion.start_from(fitted)
    parameters = np.asarray(parameters, dtype=float)
    if criterion.has_gradient:
        hessian = _gradient_differences(criterion, parameters, step)
        if hessian is not None:
            return hessian
    return _value_differences(criterion, parameters, step)


def _predicted_modes(criterion: GlmmCriterion, parameters: np.ndarray):
    """û at ``parameters`` and dû/d(θ, β) there (None when PIRLS or the solve fails): the
    gradient differences start PIRLS at û ± h dû/dx_j, O(h²) from their û."""
    try:
        center = criterion.at(parameters)
        return center.u, mode_derivatives(criterion.system, center)
    except (PirlsError, np.linalg.LinAlgError, FloatingPointError, ValueError):
        return None


def _gradient_differences(criterion: GlmmCriterion, parameters: np.ndarray,
                          step: float) -> np.ndarray | None:
    """H[:, j] = (g(x + h e_j) − g(x − h e_j)) / 2h, symmetrised (None: a gradient failed)."""
    k = len(parameters)
    hessian = np.empty((k, k))
    predicted = _predicted_modes(criterion, parameters)
    for j in range(k):
        columns = []
        for sign in (1, -1):
            x = np.array(parameters, dtype=float)
            x[j] += sign * step
            if predicted is not None:
                criterion.warm_start(predicted[0] + sign * step * predicted[1][:, j])
            value, gradient = criterion.value_and_gradient(x)
            if not (np.isfinite(value) and np.all(np.isfinite(gradient))):
                return None
            columns.append(gradient)
        hessian[:, j] = (columns[0] - columns[1]) / (2 * step)
    return (hessian + hessian.T) / 2


def _value_differences(criterion: GlmmCriterion, parameters: np.ndarray,
                       step: float) -> np.ndarray:
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
