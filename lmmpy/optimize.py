"""Stage 4: minimise the profiled deviance over θ (lme4's ``optimizeLmer`` and ``checkConv``).

Three methods, the first the objective supports:

* with the analytic Hessian (the dense path of small models): a projected
  Newton method (:func:`lmmpy._descent.projected_newton`), 3-44 evaluations
  (trial values and value-gradient-Hessian triples) on the reference cases,
  to a Newton decrement below 1e-10, leaving saddles along negative curvature;
* with the analytic gradient (:mod:`lmmpy.objective._gradient`, the blocked
  path): up to three EM steps from lme4's start (``_em_steps``), which find
  each term's scale at one gradient a step, then projected BFGS
  (:func:`lmmpy._descent.projected_bfgs`) from a curvature model there — for a
  diagonal Λ the one the gradient's trace terms give
  (:func:`lmmpy.objective._gradient.information_metric`, within ~5-20 % of the
  Hessian near θ̂), else the curvature EM assumes (:func:`_first_metric`) —
  4-18 evaluations in all where BOBYQA needs 9-321 and scipy's L-BFGS-B from
  lme4's start 2-32 (``benchmarks/bench_optimizers.py``); it stops when the
  projected gradient is below 1e-6 or a step gains less than 1e-11 of the
  objective;
* an estimated deviance (the stochastic factorization) from a start near θ̂
  (moments, ``em_steps=0``): projected Newton on the checks' finite differences
  (:func:`_difference_derivatives`), 2-3 steps of 1 + 2n + n(n − 1)/2 values;
* otherwise (the CHOLMOD path, or an objective of the caller's): BOBYQA
(Powell 2009), the bounded derivative-free quadratic-model method
lme4 (``nloptwrap``) and MixedModels.jl use, through NLopt, with lme4's
settings (``xtol_abs = ftol_abs = 1e-8``, at most 1e5 evaluations, and nloptr's
default ``xtol_rel = 1e-4``, which lme4's ``nloptwrap`` inherits).  After the
optimizer stops we do what lme4 does:

* *boundary snap* (``boundary.tol = 1e-5``): a θ within 1e-5 of its bound is
  put on the bound when that does not raise the deviance;
* *canonical form*: a vector-valued term whose T has a zero diagonal with
  entries below it (a redundant factor of a singular Σ, where a KKT point in
  θ need not be a minimum in Σ) is re-factored so that such a column is zero
  (:func:`lmmpy._boundary.canonical_theta`; the same Σ);
* *edge restart* (lme4's ``restart_edge``, generalised): for every column of
  T whose diagonal θ is on its bound, the curvature of the objective in that
  column's θ's — the diagonal and the correlation θ's below it; the objective
  is even in the column, so its first derivatives vanish — exactly from the
  Hessian (Newton), from gradient differences (BFGS) or value differences
  (BOBYQA); a negative eigenvalue is followed into the interior until the
  objective falls, and the optimizer restarts there (at most ``MAX_RESTARTS``
  times).  A scalar θ is a 1×1 column: lme4's rule.  If no restart is taken
  the canonical point is kept unless rounding made it higher than where the
  optimizer stopped;
* *convergence checks* (``checkConv``): the gradient and Hessian of the
  deviance at θ̂ (θ's on their bound excluded) — lme4's central finite
  differences of the deviance for BOBYQA, the analytic gradient and forward
  differences of it for BFGS (reusing the gradients BFGS left near θ̂), both
  analytic for Newton; the gradient
  scaled by the Hessian over 2e-3, or a Hessian with negative eigenvalues,
  fails the check;
* *confirmation* (beyond lme4): a failed check is confirmed by the steps the
  derivatives suggest (the Newton step and its halves; ± along negative
  curvature), one of which must lower the objective by more than
  ``NEWTON_MIN_GAIN`` = GRADIENT_TOL²/4, half what the Newton step promises
  where the check fails.  A confirmed point is left for the lower one and
  checked again (``CONFIRM_ROUNDS`` times); the messages of the last check
  give a :class:`~lmmpy.ConvergenceWarning`.  A failure no step confirms is
  reported in ``return_message`` but does not warn when it is marginal (a
  positive definite Hessian, scaled gradient at most ``MARGINAL`` = 10 times
  the tolerance: the derivatives are noise at a minimum of the objective's
  resolution, as on a 2M-row crossed model where every ±1e-3 step raised the
  criterion); a larger one warns even so.
* *an estimated deviance* (``LmerControl(factorization="stochastic")``): the
  checks are lme4's, on the estimate — with its probes fixed and its solves to a
  relative residual of 1e-10 it is a smooth function of θ (values repeat to ~1e-7
  whatever the path to θ), so they say that θ̂ is a minimum of the *estimated*
  deviance; how far that is from the exact one's is the estimate's business
  (its standard error, ``logdet_standard_error``), not the checks'.  Each mixed
  derivative is a forward difference (one value, not four: 5 evaluations for two
  θ's instead of 8), no Newton polish follows (gains of 1e-6 are far below the
  estimate's error), and a failed check's confirmed lower point is checked again
  as it is, without restarting the method.  From a moment start the method is
  Newton's on these same differences, whose last step leaves the check's
  derivatives: no evaluation is spent on the check itself.  (On a 2M-row model the
  check's tolerance is ~5e-6 in θ, its Hessian ~1e6: finer than BOBYQA's
  xtol_rel = 1e-4, so that after BOBYQA the check typically failed, and its Newton
  step confirmed a lower point, which passed.)

One step beyond lme4, for BOBYQA and BFGS: the derivatives computed for
the checks also give a Newton step θ̂ − H⁻¹g (clipped to the bounds), taken
when it lowers the deviance by more than ``NEWTON_MIN_GAIN`` (1e-6).  BOBYQA stops on
``ftol_abs`` while its quadratic model is still coarse; this step reaches an
optimum at least as good as lme4's at the cost of one evaluation.  Smaller
gains are not worth having: they only slide θ along a flat valley, away from
the point lme4 reports, for a log-likelihood change below 5e-7.  The
reported derivatives and checks are those of the point before the step
(conservative: the step only lowers the gradient).
"""

from __future__ import annotations

import collections
import functools
import math
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import nlopt
import numpy as np
from scipy.linalg import lapack

from lmmpy._boundary import (
    TermShape,
    boundary_columns,
    canonical_theta,
    escape_point,
    gradient_curvature,
    hessian_curvature,
    term_shapes_of,
    value_curvature,
)
from lmmpy._descent import em_metric, on_boundary, projected_bfgs, projected_newton, symmetric_eigen
from lmmpy._nlopt import run as run_nlopt
from lmmpy._warnings import ConvergenceWarning

BOUNDARY_TOL = 1e-5
GRADIENT_TOL = 2e-3
HESSIAN_TOL = 1e-6
NEWTON_MIN_GAIN = 1e-6  # GRADIENT_TOL²/4: half what a Newton step promises where the check fails
MAX_RESTARTS = 5        # restarts off the boundary
CONFIRM_ROUNDS = 3      # steps taken to confirm a failed check, each followed by a new check
MARGINAL = 10.0         # a failed gradient check this close to the tolerance needs confirming
ROUNDING = 1e-11        # relative change of the objective that is rounding
_DERIVATIVE_STEP = 1e-4
DIFFERENCE_DECREMENT_TOL = 1e-8   # Newton on finite differences of an estimated deviance:
DIFFERENCE_NOISE = 1e-15          # its stop, and the smallest relative promise it tries
RESTART_STEP = 0.1      # BOBYQA's first steps (relative to θ, at least 0.1) from a restart
NEAR_START_STEP = 0.05  # ... and from a start near θ̂ (moments): 27 → 20 evaluations on a
                        # 300,000-rating stochastic fit (benchmarks/README.md, session 9)
_NEARBY = 2e-4          # gradients evaluated this close to θ̂ are its finite differences too,
_NEARBY_RELATIVE = 5e-3  # ... or this close relative to each θ: first-order errors of
                         # ~0.5 % of the Hessian, which the checks' tolerances do not feel
_GRADIENT_MEMORY = 16   # the last gradients a _CountingObjective keeps for that
_LARGEST = float(np.finfo(float).max)  # an optimizer's stand-in for inf

Objective = Callable[[np.ndarray], float]
ValueAndGradient = Callable[[np.ndarray], tuple[float, np.ndarray]]
ValueGradientHessian = Callable[[np.ndarray], tuple[float, np.ndarray, np.ndarray]]
EM_MAX_STEPS = 3       # EM steps before BFGS, while each gains more than EM_MIN_GAIN
EM_MIN_GAIN = 10.0     # deviance units: a likelihood-ratio statistic no χ² quantile reaches
EmUpdate = Callable[[np.ndarray, np.ndarray], np.ndarray]


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
    def __init__(self, objective: Objective, value_and_gradient: ValueAndGradient | None = None,
                 value_gradient_hessian: ValueGradientHessian | None = None):
        self.objective = objective
        self.value_and_gradient = value_and_gradient
        self.value_gradient_hessian = value_gradient_hessian
        self.count = 0
        self._last = (b"", 0.0, None)  # the optimizer's last point is where the checks start
        self._last_hessian = (b"", None)
        self.last_value = (b"", 0.0)
        self.gradients = collections.deque(maxlen=_GRADIENT_MEMORY)  # (θ, gradient), latest last

    def __call__(self, theta: np.ndarray, gradient: np.ndarray | None = None) -> float:
        self.count += 1
        theta = np.asarray(theta, dtype=float)
        value = float(self.objective(theta))
        value = value if math.isfinite(value) else _LARGEST
        self.last_value = (theta.tobytes(), value)
        return value

    def with_hessian(self, theta: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
        theta = np.asarray(theta, dtype=float)
        key = theta.tobytes()
        if key == self._last_hessian[0]:
            return self._last_hessian[1]
        if not getattr(self.value_gradient_hessian, "counts_itself", False):
            self.count += 1
        value, gradient, hessian = self.value_gradient_hessian(theta)
        if not math.isfinite(value):
            value, gradient, hessian = _LARGEST, np.zeros(len(theta)), np.eye(len(theta))
        result = (float(value), np.asarray(gradient, dtype=float), np.asarray(hessian, dtype=float))
        self._last_hessian = (key, result)
        return result

    def with_gradient(self, theta: np.ndarray) -> tuple[float, np.ndarray]:
        theta = np.asarray(theta, dtype=float)
        key = theta.tobytes()
        if key == self._last[0]:
            return self._last[1], self._last[2].copy()
        self.count += 1
        value, gradient = self.value_and_gradient(theta)
        if not math.isfinite(value):
            value, gradient = _LARGEST, np.zeros(len(theta))
        self._last = (key, float(value), np.asarray(gradient, dtype=float))
        self.gradients.append((theta.copy(), self._last[2]))
        return float(value), self._last[2].copy()


def optimize_theta(
    objective: Objective,
    start: np.ndarray,
    lower: np.ndarray,
    *,
    xtol_abs: float = 1e-8,
    ftol_abs: float = 1e-8,
    xtol_rel: float = 1e-4,
    max_evaluations: int = 100_000,
    check_convergence: bool = True,
    value_and_gradient: ValueAndGradient | None = None,
    value_gradient_hessian: ValueGradientHessian | None = None,
    em_update: EmUpdate | None = None,
    term_shapes: Sequence[TermShape] | None = None,
    em_steps: int = EM_MAX_STEPS,
) -> OptSummary:
    """Minimise ``objective`` over θ ≥ ``lower`` from ``start``.

    ``value_gradient_hessian`` (θ → (value, gradient, Hessian)), when given,
    selects a projected Newton method; else ``value_and_gradient``
    (θ → (value, gradient)) selects projected BFGS; else BOBYQA, whose
    tolerances these are.  ``em_update`` ((θ, gradient) → θ, an EM step) lets
    BFGS start after up to ``em_steps`` EM steps from ``start`` (see
    :func:`_em_steps`; 0 for a start already near θ̂ where evaluations are
    expensive, from which BFGS also stops when its model promises too little,
    :func:`~lmmpy._descent.projected_bfgs`), from the curvature EM assumes there.  ``term_shapes``
    ((k, correlated) of each random-effects term, in θ's order; taken from
    ``objective.terms`` when it has them) lets a singular vector-valued term
    be put in canonical form and left through its correlation θ's
    (:mod:`lmmpy._boundary`); without them every θ on its bound is a term of
    its own (lme4's ``restart_edge``).

    Examples
    --------
    >>> summary = optimize_theta(lambda t: float((t[0] - 2.0) ** 2), np.array([1.0]),
    ...                          np.array([0.0]))
    >>> round(float(summary.theta[0]), 5)
    2.0
    """
    counted = _CountingObjective(objective, value_and_gradient, value_gradient_hessian)
    method = ("newton" if value_gradient_hessian is not None
              else "bfgs" if value_and_gradient is not None else "bobyqa")
    name = _OPTIMIZER_NAMES[method]
    if method == "bobyqa" and em_steps == 0 and _estimated(objective):
        counted.value_gradient_hessian = _difference_derivatives(counted)
        method, name = "newton", "projected Newton (finite differences)"
    start = np.asarray(start, dtype=float)
    lower = np.asarray(lower, dtype=float)
    if term_shapes is None and hasattr(objective, "terms"):
        term_shapes = term_shapes_of(objective.terms)   # a ProfiledDeviance knows its terms
    tolerances = (xtol_abs, ftol_abs, xtol_rel, max_evaluations)
    first, metric = start, None
    if em_update is not None and method == "bfgs":
        first = _em_steps(counted, np.maximum(start, lower), lower, em_update, em_steps)
        metric = functools.partial(_first_metric, objective, em_update)
    theta, value, message = _minimize(method, counted, first, lower, tolerances, metric,
                                      near_start=em_steps == 0)
    restarts = 0
    while True:
        theta, value = _snap_to_boundary(counted, theta, value, lower)
        stopped = theta, value
        theta, value = _canonical(counted, theta, value, lower, term_shapes)
        columns = boundary_columns(theta, lower, term_shapes)
        inside = None
        if restarts < MAX_RESTARTS and columns:
            inside = escape_point(counted, _curvature(method, counted, value), theta, value,
                                  columns, _allowance(value))
        if inside is None:
            # the canonical form, unless rounding made it higher than where the method stopped
            theta, value = (theta, value) if value <= stopped[1] else stopped
            break
        restarts += 1
        theta, value, message = _minimize(method, counted, inside, lower, tolerances, metric,
                                          restart=True)
    gradient, hessian, messages = np.zeros(0), np.zeros((0, 0)), ()
    if check_convergence:
        theta, value, gradient, hessian, messages, note = _checked_optimum(
            method, counted, theta, value, lower,
            functools.partial(_minimize, method, counted, lower=lower, tolerances=tolerances,
                              metric=metric, restart=True))
        message = f"{message}; {note}" if note else message
        for text in messages:
            warnings.warn(text, ConvergenceWarning, stacklevel=3)
    return OptSummary(
        optimizer=name,
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


_OPTIMIZER_NAMES = {"bobyqa": "bobyqa (NLopt)", "bfgs": "projected BFGS (analytic gradient)",
                    "newton": "projected Newton (analytic Hessian)"}


def _minimize(method, counted, start, lower, tolerances, metric, restart=False,
              near_start=False):
    """(θ, value, message) where ``method`` stops from ``start`` (``near_start``: a start
    near θ̂ where evaluations are expensive, from which BFGS stops on its model's promise)."""
    if method == "bobyqa":
        # just off the boundary NLopt's first steps scale with θ, tiny there and it stops
        # at once on ftol_abs: steps of a tenth of θ, at least 0.01, let it move; from a
        # start near θ̂ (moments) NLopt's default first steps (3/4 of θ) go far astray
        step = (RESTART_STEP if restart else NEAR_START_STEP if near_start else None)
        step = None if step is None else step * np.maximum(np.abs(start), 0.1)
        return _bobyqa(counted, start, lower, *tolerances, initial_step=step)
    if method == "bfgs":
        # a restart leaves a point where the metric's curvature misled BFGS: it starts
        # afresh, with a line search along the gradient
        return projected_bfgs(counted, start, lower, None if restart else metric,
                              stop_on_promise=near_start)
    if getattr(counted.value_gradient_hessian, "counts_itself", False):
        # finite differences of an estimate: stop well inside the check's tolerance
        # (a scaled gradient of 1e-4, where the check's is 2e-3) but above their noise
        return projected_newton(counted, start, lower, decrement_tol=DIFFERENCE_DECREMENT_TOL,
                                noise=DIFFERENCE_NOISE)
    return projected_newton(counted, start, lower)


def _derivatives_for(method, counted, theta, value, lower):
    if method == "bobyqa" and _estimated(counted.objective):
        return _derivatives(counted, theta, value, lower, cross="forward")
    if method == "bobyqa":
        return _derivatives(counted, theta, value, lower)
    if method == "bfgs":
        return _derivatives_from_gradient(counted, theta, lower)
    free = np.flatnonzero(~on_boundary(theta, lower))
    _, gradient, hessian = counted.with_hessian(theta)
    return gradient[free], hessian[np.ix_(free, free)]


def _first_metric(objective, em_update: EmUpdate, theta: np.ndarray) -> np.ndarray | None:
    """BFGS's first metric at θ: the deviance's curvature model from its gradient there
    (:func:`lmmpy.objective._gradient.information_metric`: a diagonal Λ), its eigenvalues
    floored at 1e-6 of the largest; else the curvature an EM step assumes
    (:func:`~lmmpy._descent.em_metric`)."""
    information = getattr(objective, "information", None)
    metric = information(theta) if information is not None else None
    if metric is not None:
        eigenvalues, vectors = symmetric_eigen(metric)
        largest = float(eigenvalues[-1]) if len(eigenvalues) else 0.0
        if np.isfinite(largest) and largest > 0:
            return (vectors * np.maximum(eigenvalues, 1e-6 * largest)) @ vectors.T
    return em_metric(em_update, theta)


def _em_steps(objective: _CountingObjective, theta, lower, em_update: EmUpdate,
              max_steps: int = EM_MAX_STEPS) -> np.ndarray:
    """Where BFGS starts: EM steps from θ while each lowers the objective by more
    than ``EM_MIN_GAIN`` (at most ``EM_MAX_STEPS``).

    From lme4's start (θ = 1, each random effect as variable as the noise) a
    quasi-Newton method has no curvature and the terms' scales differ by
    orders of magnitude: scipy's L-BFGS-B spent most of its evaluations finding them
    (InstEval: 20 of them).  An EM step rescales every term at once at the
    price of a gradient (:func:`lmmpy.objective._gradient.em_update`), and far
    from the optimum it gains more than a quasi-Newton step; near it EM
    converges linearly, so it hands over as soon as its gain is small.
    A step that does not lower the objective is not taken.
    """
    value, gradient = objective.with_gradient(theta)
    for _ in range(max_steps):
        candidate = np.maximum(em_update(theta, gradient), lower)
        candidate_value, candidate_gradient = objective.with_gradient(candidate)
        if not candidate_value < value:
            break
        gain = value - candidate_value
        theta, value, gradient = candidate, candidate_value, candidate_gradient
        if gain <= EM_MIN_GAIN:
            break
    return theta


def _bobyqa(objective, start, lower, xtol_abs, ftol_abs, xtol_rel, max_evaluations,
            initial_step=None):
    optimizer = nlopt.opt(nlopt.LN_BOBYQA, len(start))
    if initial_step is not None:
        optimizer.set_initial_step(initial_step)
    optimizer.set_lower_bounds(lower)
    optimizer.set_xtol_abs(xtol_abs)
    optimizer.set_ftol_abs(ftol_abs)
    optimizer.set_xtol_rel(xtol_rel)
    optimizer.set_maxeval(max_evaluations)
    return run_nlopt(optimizer, objective, np.maximum(start, lower))


def minimize_deviance(deviance, start: np.ndarray, lower: np.ndarray, *,
                      em_start: bool = True, em_steps: int = EM_MAX_STEPS) -> OptSummary:
    """:func:`optimize_theta` on a ``ProfiledDeviance``, with its analytic gradient when it has one.

    With the gradient but no Hessian (BFGS), EM steps from ``start`` (at most
    ``em_steps``: 0 keeps only EM's curvature as BFGS's first metric) come first
    unless ``em_start`` is False (a start the caller chose).

    Examples
    --------
    >>> from lmmpy.datasets import load
    >>> from lmmpy.design import build_design
    >>> from lmmpy.formula import parse_formula
    >>> from lmmpy.objective import ProfiledDeviance, cross_products
    >>> d = build_design(parse_formula("Yield ~ 1 + (1 | Batch)"), load("Dyestuff"))
    >>> f = ProfiledDeviance(cross_products(d), d.terms, reml=True)
    >>> summary = minimize_deviance(f, d.theta_start(), d.theta_lower_bounds())
    >>> summary.optimizer, round(float(summary.theta[0]), 4)   # lme4's REML θ̂ 0.8483
    ('projected Newton (analytic Hessian)', 0.8483)
    """
    gradient = deviance.value_and_gradient if deviance.has_gradient else None
    hessian = deviance.value_gradient_hessian if deviance.has_hessian else None
    em_update = deviance.em_update if em_start and gradient is not None and hessian is None \
        else None  # only BFGS starts with EM steps
    return optimize_theta(deviance, start, lower, value_and_gradient=gradient,
                          value_gradient_hessian=hessian, em_update=em_update,
                          em_steps=em_steps)




def _snap_to_boundary(objective, theta, value, lower):
    near = np.isfinite(lower) & (theta - lower < BOUNDARY_TOL) & (theta > lower)
    if not near.any():
        return theta, value
    snapped = np.where(near, lower, theta)
    snapped_value = objective(snapped)
    return (snapped, snapped_value) if snapped_value <= value else (theta, value)


def _canonical(objective, theta, value, lower, shapes):
    """θ with its singular terms' factors in canonical form (:func:`canonical_theta`) and
    the objective there (the same Σ: the same value but for rounding, which a badly scaled
    term can make 1e-11 of it)."""
    candidate = canonical_theta(theta, lower, shapes)
    if np.array_equal(candidate, theta):
        return theta, value
    return candidate, objective(candidate)


def _allowance(value: float) -> float:
    """A change of the objective this small is rounding, not a step up or down."""
    return ROUNDING * max(1.0, abs(value))


def _curvature(method, counted, value):
    """How the curvature of a boundary column is found: exactly with the Hessian,
    by differences of the gradient or, with values only, of the (even) objective."""
    if method == "newton":
        return hessian_curvature(counted)
    if method == "bfgs":
        return gradient_curvature(counted)
    return value_curvature(counted, _allowance(value))


def _derivatives_from_gradient(objective: _CountingObjective, theta,
                               lower) -> tuple[np.ndarray, np.ndarray]:
    """The analytic gradient at θ̂ and forward differences of it over the free θ's.

    A difference needs a gradient near θ̂; each g_k evaluated within
    ``_NEARBY`` of it (or within ``_NEARBY_RELATIVE`` of each θ: a relative error
    of the Hessian of ~0.5 %, as the curvature changes on the scale of θ — the
    scaled gradient then moves by ~0.25 % of itself)
    already gives H(θ_k − θ̂) ≈ g_k − ĝ, a forward difference along its own
    direction.  The optimizer's last steps usually left some (near convergence a
    BFGS step is ~1e-5; the one before it, on a large model where every gradient
    counts, ~1e-4 of θ).  Those along new directions (at least 30° from the span of the
    others) are kept; coordinate steps of 1e-4 cover the rest, the coordinates
    the kept steps cover least first.  H solves H S = Y over all of them,
    symmetrised.
    """
    free = np.flatnonzero(~on_boundary(theta, lower))
    gradient = objective.with_gradient(theta)[1]
    steps, differences, basis = _nearby_differences(objective.gradients, theta, gradient, free)
    while len(steps) < len(free):
        i = int(np.argmax(1.0 - np.sum(basis**2, axis=1)))  # least covered coordinate
        step = np.zeros(len(free))
        step[i] = _DERIVATIVE_STEP
        shifted = objective.with_gradient(_shift(theta, free[i], _DERIVATIVE_STEP))[1]
        steps.append(step)
        differences.append((shifted - gradient)[free])
        basis = _extended(basis, _residual(basis, step))
    if not steps:
        return gradient[free], np.zeros((0, 0))
    hessian = np.linalg.solve(np.array(steps), np.array(differences)).T   # rows: S H' = Y
    return gradient[free], (hessian + hessian.T) / 2


def _nearby_differences(recorded, theta, gradient, free):
    """Steps θ_k − θ̂ (free part) and gradient differences of the recorded gradients near
    θ̂ (``_NEARBY``, ``_NEARBY_RELATIVE``) that differ only in free θ's, latest first,
    each at least 30° from the span of those before it (so the steps stay well
    conditioned); and an orthonormal basis of that span."""
    fixed = np.ones(len(theta), dtype=bool)
    fixed[free] = False
    radius = np.maximum(_NEARBY, _NEARBY_RELATIVE * np.abs(theta))
    steps, differences = [], []
    basis = np.zeros((len(free), 0))
    for point, point_gradient in reversed(recorded):
        step = point - theta
        if not np.any(step) or np.any(np.abs(step) > radius) or np.any(step[fixed] != 0):
            continue
        step = step[free]
        residual = _residual(basis, step)
        if np.linalg.norm(residual) < 0.5 * np.linalg.norm(step):
            continue
        basis = _extended(basis, residual)
        steps.append(step)
        differences.append((point_gradient - gradient)[free])
        if len(steps) == len(free):
            break
    return steps, differences, basis


def _residual(basis: np.ndarray, vector: np.ndarray) -> np.ndarray:
    """``vector`` minus its projection on the span of the orthonormal ``basis``."""
    return vector - basis @ (basis.T @ vector)


def _extended(basis: np.ndarray, residual: np.ndarray) -> np.ndarray:
    """The orthonormal ``basis`` with the normalised ``residual`` as one more column."""
    return np.column_stack([basis, residual / np.linalg.norm(residual)])


def _difference_derivatives(counted: _CountingObjective) -> ValueGradientHessian:
    """θ → (value, gradient, Hessian) by the checks' finite differences
    (:func:`_derivatives`, forward mixed differences: 2n + n(n − 1)/2 values, and the value
    at θ when it was the last one asked for), counting its own evaluations.

    Newton's method on these from a start near θ̂ is what an estimated deviance is
    minimised with (moment starts of the stochastic factorization): from within ~10⁻³ it
    converges in two or three steps of 1 + 2n + n(n − 1)/2 values (18 for two θ's), where
    BOBYQA took ~20 values to stop and the check 5 more, or 11 more when BOBYQA's
    xtol_rel left θ outside the check's tolerance (a 2M-row model's ~5·10⁻⁶); and the
    last step's derivatives are the check's.
    """
    def derivatives(theta: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
        key, value = counted.last_value
        value = value if key == theta.tobytes() else counted(theta)
        gradient, hessian = _derivatives(counted, theta, value, np.full(len(theta), -np.inf),
                                         cross="forward")
        return value, gradient, hessian

    derivatives.counts_itself = True
    return derivatives


def _estimated(objective) -> bool:
    """Whether ``objective`` is a deviance whose value is an estimate (the stochastic
    factorization: :attr:`~lmmpy.objective._factorization.Capabilities.exact` False)."""
    factor = getattr(objective, "factor", None)
    return factor is not None and not factor.capabilities.exact


def _derivatives(objective, theta, f0, lower,
                 cross: str = "central") -> tuple[np.ndarray, np.ndarray]:
    """Central-difference gradient and Hessian over the θ's off their bound (lme4's deriv12).

    ``cross="forward"`` (an estimated deviance, where an evaluation takes seconds): each
    mixed derivative from one more value, f(θ + he_i + he_j), and the values at θ + he_i,
    θ + he_j, θ already made (first order in h where deriv12's four values are second
    order: 2n + n(n − 1)/2 evaluations instead of 2n²; 5 instead of 8 for two θ's).
    """
    free = np.flatnonzero(~on_boundary(theta, lower))
    h = _DERIVATIVE_STEP
    gradient = np.zeros(len(free))
    hessian = np.zeros((len(free), len(free)))
    plus = np.zeros(len(free))
    for a, i in enumerate(free):
        f_plus, f_minus = objective(_shift(theta, i, h)), objective(_shift(theta, i, -h))
        plus[a] = f_plus
        gradient[a] = (f_plus - f_minus) / (2 * h)
        hessian[a, a] = (f_plus - 2 * f0 + f_minus) / h**2
        for c, j in enumerate(free[:a]):
            if cross == "forward":
                pp = objective(_shift(_shift(theta, i, h), j, h))
                hessian[a, c] = hessian[c, a] = (pp - f_plus - plus[c] + f0) / h**2
                continue
            pp = objective(_shift(_shift(theta, i, h), j, h))
            mm = objective(_shift(_shift(theta, i, -h), j, -h))
            pm = objective(_shift(_shift(theta, i, h), j, -h))
            mp = objective(_shift(_shift(theta, i, -h), j, h))
            hessian[a, c] = hessian[c, a] = (pp - pm - mp + mm) / (4 * h**2)
    return gradient, hessian


def _checked_optimum(method, counted, theta, value, lower, restart):
    """lme4's convergence checks at θ̂, a failed one confirmed before it warns.

    Returns (θ, value, gradient, Hessian, messages, note).  A passed check is
    followed by the Newton polish of BOBYQA and BFGS (the module docstring).  A
    failed one is confirmed by :func:`_descent_probe`: steps the derivatives
    suggest, which must lower the objective by more than ``NEWTON_MIN_GAIN``
    (half the gain a Newton step promises where the check fails).  A lower point
    is taken and checked again (``CONFIRM_ROUNDS`` times); where no step lowers the
    objective the derivatives are noise — θ̂ is a minimum at the resolution of the
    objective — and, if the check failed only marginally (a positive definite
    Hessian and a scaled gradient below ``MARGINAL`` times the tolerance), the
    messages go into ``note``, not into warnings.  A larger failure warns even so:
    on a badly scaled surface the steps can miss a real descent.

    A confirmed descent means the method stopped short (BFGS near a saddle, where
    its curvature model is positive definite and its steps vanish): it is
    restarted from the lower point (``restart``: θ → (θ, value, message)) and
    its new stopping point checked.
    """
    gradient, hessian = _derivatives_for(method, counted, theta, value, lower)
    messages = _convergence_messages(gradient, hessian)
    if not messages:
        if method != "newton" and not _estimated(counted.objective):
            theta, value = _newton_polish(counted, theta, value, lower, gradient, hessian)
        return theta, value, gradient, hessian, (), ""
    for _ in range(CONFIRM_ROUNDS):
        lower_point = _descent_probe(counted, theta, value, lower, gradient, hessian)
        if lower_point is None and _marginal(gradient, hessian):
            note = "not confirmed (no step lowers the objective): " + "; ".join(messages)
            return theta, value, gradient, hessian, (), note
        if lower_point is None:
            break
        # an estimate's lower point is checked as it is: a restarted BOBYQA would spend
        # its 2n + 1 first values around it (15 on the 2M ratings) to move ~1e-7
        theta, value = (lower_point if _estimated(counted.objective)
                        else _restarted(restart, *lower_point))
        gradient, hessian = _derivatives_for(method, counted, theta, value, lower)
        messages = _convergence_messages(gradient, hessian)
        if not messages:
            return theta, value, gradient, hessian, (), ""
    return theta, value, gradient, hessian, messages, ""


def _restarted(restart, theta, value):
    """Where the method stops when restarted from θ, unless that is higher than θ."""
    restarted, restarted_value, _ = restart(theta)
    return (restarted, restarted_value) if restarted_value <= value else (theta, value)


def _newton_polish(objective, theta, value, lower, gradient, hessian):
    free = np.flatnonzero(~on_boundary(theta, lower))
    try:
        step = np.linalg.solve(np.linalg.cholesky(hessian).T,
                               np.linalg.solve(np.linalg.cholesky(hessian), gradient))
    except np.linalg.LinAlgError:
        return theta, value
    if 0.5 * float(gradient @ step) < 0.1 * NEWTON_MIN_GAIN:
        return theta, value  # the quadratic model's predicted gain: not worth an evaluation
    candidate = theta.copy()
    candidate[free] = np.maximum(theta[free] - step, lower[free])
    candidate_value = objective(candidate)
    if candidate_value < value - NEWTON_MIN_GAIN:
        return candidate, candidate_value
    return theta, value


def _descent_probe(objective, theta, value, lower, gradient, hessian):
    """The first of the steps the derivatives suggest that lowers the objective by more than
    ``NEWTON_MIN_GAIN``, as (θ, value), or None: the Newton step on the Hessian with its
    eigenvalues made positive, and its halves; along a negative eigenvalue's eigenvector,
    both ways, the step whose predicted gain is 8 and 32 times that threshold."""
    free = np.flatnonzero(~on_boundary(theta, lower))
    if not len(free):
        return None
    eigenvalues, vectors = symmetric_eigen(hessian)
    magnitudes = np.maximum(np.abs(eigenvalues), 1e-8 * max(float(np.max(np.abs(eigenvalues))),
                                                            1e-300))
    newton = -vectors @ ((vectors.T @ gradient) / magnitudes)
    steps = [newton * 0.5**halving for halving in range(4)]
    if eigenvalues[0] < 0:
        length = np.sqrt(16 * NEWTON_MIN_GAIN / -eigenvalues[0])
        steps += [sign * scale * length * vectors[:, 0] for scale in (1, 2) for sign in (1, -1)]
    for step in steps:
        candidate = theta.copy()
        candidate[free] = np.maximum(theta[free] + step, lower[free])
        candidate_value = objective(candidate)
        if candidate_value < value - NEWTON_MIN_GAIN:
            return candidate, candidate_value
    return None


def _shift(theta: np.ndarray, i: int, h: float) -> np.ndarray:
    shifted = theta.copy()
    shifted[i] += h
    return shifted


def _marginal(gradient: np.ndarray, hessian: np.ndarray) -> bool:
    """A failed gradient check by less than ``MARGINAL`` times the tolerance, at a positive
    definite Hessian."""
    factor, info = lapack.dpotrf(hessian, lower=1)
    if info != 0:
        return False
    scaled, _ = lapack.dtrtrs(factor, gradient, lower=1)
    return float(np.max(np.minimum(np.abs(scaled), np.abs(gradient)))) <= MARGINAL * GRADIENT_TOL


def _convergence_messages(gradient: np.ndarray, hessian: np.ndarray) -> tuple[str, ...]:
    """lme4's checkConv: the gradient scaled by the Hessian's Cholesky factor, and the
    Hessian's eigenvalues (LAPACK directly: these are few-by-few matrices)."""
    if len(gradient) == 0:
        return ()
    messages = []
    factor, info = lapack.dpotrf(hessian, lower=1)
    if info == 0:
        scaled, _ = lapack.dtrtrs(factor, gradient, lower=1)
        largest = float(np.max(np.minimum(np.abs(scaled), np.abs(gradient))))
    else:
        largest = float(np.max(np.abs(gradient)))
        messages.append("unable to evaluate scaled gradient")
    if largest > GRADIENT_TOL:
        messages.append(
            f"Model failed to converge with max|grad| = {largest:.6g} (tol = {GRADIENT_TOL})"
        )
    negative = int(np.sum(symmetric_eigen(hessian, vectors=False) < -HESSIAN_TOL))
    if negative:
        messages.append(
            f"Model failed to converge: degenerate Hessian with {negative} negative eigenvalues"
        )
    return tuple(messages)
