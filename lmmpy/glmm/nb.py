"""``glmer_nb()``: a negative binomial GLMM with its shape estimated (lme4's ``glmer.nb``).

Model: y_i | b ~ NB(μ_i, k) with Var(y_i | b) = μ_i + μ_i²/k, g(μ) = Xβ + ZΛ_θu + o,
u ~ N(0, I).  lme4 calls the shape k ``glmer.nb.theta``; here it is ``nb_theta``
(θ stays the random-effects parameter).

lme4's ``glmer.nb`` (lme4/R/glmer.nb.R; Venables & Ripley 2002, §7.4 for the
negative binomial GLM) fits a Poisson GLMM, starts k from MASS's ``theta.ml`` on
its fitted means, and minimises the profile

    d(k) = min over (θ, β) of the Laplace criterion −2ℓ(θ, β; k)

by Brent's method (R's ``optimize``) over log k in log k₀ ± 3 (tolerance 5e-5),
each evaluation a complete ``glmer`` refit with k held fixed.  The minimum of the
profile is the minimum of −2ℓ(θ, β, k) over all three, so ``method="joint"`` (the
default) finds it in one search over (θ, β, log k) on the same interval, from
the Poisson fit's (θ, β): projected BFGS on the analytic gradient, its log k
entry from :func:`lmmpy.glmm._gradient.shape_derivative` (BOBYQA for nAGQ > 1,
on request, or when the descent reaches the interval's end);
``method="alternating"`` is lme4's profile, each refit started from the previous
one's estimates (lme4's ``refit``).  The joint search needs a tenth of the
profile's criterion evaluations (epil: 19 against 201; BOBYQA over the same
parameters 171; ``benchmarks/bench_glmer_nb.py``); all give lme4's optimum or a
better one.

For nAGQ > 1 the quadrature criterion leaves out the saturated log-likelihood
(lme4's convention for ``logLik``), which depends on k; the search over k adds
it back, so k maximises the likelihood (lme4's glmer.nb searches without it and
can run off to a wrong k with θ = 0).  The reported ``loglik`` keeps lme4's
convention.

The fitted model is the GLMM at k̂ held fixed, as lme4's last refit: its
standard errors come from the Hessian of the criterion over (θ, β) only, and
do not allow for the uncertainty of k̂ (lme4's ``vcov``); the log-likelihood
counts k among its parameters (lme4's ``npar``).
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, replace

import nlopt
import numpy as np
import pandas as pd
from scipy import optimize, special

from lmmpy._control import GlmerControl, check_control
from lmmpy._families import NegativeBinomial, Poisson
from lmmpy._nlopt import run as run_nlopt
from lmmpy._warnings import ConvergenceWarning
from lmmpy.design._build import ArrayOrColumn
from lmmpy.glmm._conditioned import (
    conditioned_start,
    fitting_criterion,
    original_hessian,
    original_optimization,
)
from lmmpy.glmm._model import GeneralizedLinearMixedModel
from lmmpy.glmm._optimize import (
    GlmmCriterion,
    GlmmOptimization,
    beta_information,
    criterion_hessian,
    descend_with_gradient,
    difference_metric,
    optimize_glmm,
    optimize_theta,
)
from lmmpy.glmm._pirls import ReweightedSystem
from lmmpy.glmm._separation import check_separation, fit_looks_separated
from lmmpy.glmm.fit import (
    _check_quadrature_applies,
    _checked_nagq,
    _row_index,
    _warn_about,
    glmm_setup,
)

__all__ = ["NbThetaSearch", "NegativeBinomialMixedModel", "glmer_nb", "theta_ml"]

METHODS = ("joint", "alternating")
HALF_WIDTH = 3.0          # glmer.nb's interval: log k₀ ± 3
BRENT_TOLERANCE = 5e-5    # glmer.nb's tol on log k
THETA_ML_LIMIT = 20       # glmer.nb's initCtrl: limit 20, eps 2 tol
THETA_ML_EPS = 2 * BRENT_TOLERANCE
WALL_MARGIN = 1e-3        # a descent ending this close to the interval's end hands over
CONVERGED = ("projected gradient below gtol", "relative reduction below ftol",
             "predicted reduction below ftol", "no step lowers the objective")


@dataclass(frozen=True)
class NbThetaSearch:
    """How the negative binomial shape was estimated.

    Attributes
    ----------
    method : ``"joint"`` or ``"alternating"``
    start : k₀ (``theta.ml`` on the Poisson fit, or the given start)
    interval : the bounds of the search over k
    n_evaluations : criterion evaluations, the Poisson start's included
    n_refits : GLMM fits at fixed k (alternating; lme4's ``nevals``), 0 for joint
    """

    method: str
    start: float
    interval: tuple[float, float]
    n_evaluations: int
    n_refits: int


@dataclass(frozen=True, eq=False)
class NegativeBinomialMixedModel(GeneralizedLinearMixedModel):
    """A negative binomial GLMM fitted by :func:`lmmpy.glmer_nb` (lme4's ``glmer.nb``).

    Examples
    --------
    >>> import lmmpy
    >>> m = lmmpy.glmer_nb("y ~ trt + lbase + lage + V4 + (1 | subject)",
    ...                    lmmpy.datasets.load("epil"))  # doctest: +SKIP
    >>> round(m.nb_theta, 2)  # doctest: +SKIP
    7.42
    """

    nb_search: NbThetaSearch | None = None

    @property
    def nb_theta(self) -> float:
        """The negative binomial shape k (Var = μ + μ²/k; lme4's ``glmer.nb.theta``)."""
        return self.family.theta

    def __repr__(self) -> str:
        return (f"<NegativeBinomialMixedModel {self.formula!r} (nb_theta={self.nb_theta:.4f}, "
                f"{self.family.link.name} link, nAGQ={self.nagq}), nobs={self.nobs}, "
                f"logLik={self.loglik:.4f}>")


def glmer_nb(
    formula: str,
    data: pd.DataFrame,
    *,
    link: str = "log",
    weights: ArrayOrColumn = None,
    offset: ArrayOrColumn = None,
    nagq: int = 1,
    method: str = "joint",
    nb_theta_start: float | None = None,
    control: GlmerControl | None = None,
    data_name: str | None = None,
) -> NegativeBinomialMixedModel:
    """Fit a negative binomial GLMM, its shape estimated with the model (lme4's ``glmer.nb``).

    Parameters
    ----------
    formula : str
        ``count ~ fixed + (lhs | group) + ...``, lme4's syntax, ``offset(...)`` allowed.
    data : pandas.DataFrame
        Rows with a missing value in a column the model uses are dropped.
    link : str, default "log"
        ``"log"``, ``"sqrt"`` or ``"identity"``.
    weights, offset : str or array-like, optional
        Prior weights and an offset (link scale): a column of ``data`` or one value per row.
    nagq : int, default 1
        1: Laplace; more: adaptive Gauss–Hermite (one scalar random effect); 0: lme4's
        ``nAGQ = 0``, β estimated with the conditional modes.
    method : {"joint", "alternating"}
        ``"joint"``: one optimisation over (θ, β, log k); ``"alternating"``: lme4's
        profile over k, a GLMM refit at each k.  Both reach the same optimum.
    nb_theta_start : float, optional
        k₀, lme4's ``initCtrl$theta`` (default: MASS's ``theta.ml`` on a Poisson fit);
        k is searched within k₀ e^{±3}, as lme4.
    control : GlmerControl, optional
        Optimizer, tolerances, factorization and PIRLS tolerance, as for :func:`lmmpy.glmer`.
    data_name : str, optional
        Name of the data shown in the summary.

    Returns
    -------
    NegativeBinomialMixedModel
        A :class:`GeneralizedLinearMixedModel` at k̂ with ``nb_theta`` and ``nb_search``.

    Warns
    -----
    ConvergenceWarning
        When k̂ ends at the end of its search interval.
    SingularFitWarning
        When the estimated random-effects covariance is singular.

    Raises
    ------
    ValueError
        For negative counts, and for separation (a fixed effect whose estimate is
        infinite, e.g. a factor level with only zero counts), named.

    Examples
    --------
    >>> import lmmpy
    >>> epil = lmmpy.datasets.load("epil")
    >>> m = lmmpy.glmer_nb("y ~ trt + lbase + lage + V4 + (1 | subject)", epil)
    >>> round(m.nb_theta, 2), round(m.loglik, 2)
    (7.42, -626.26)
    """
    nagq = _checked_nagq(nagq)
    if method not in METHODS:
        raise ValueError(f"method must be 'joint' or 'alternating', not {method!r}")
    control = check_control(control, GlmerControl, "glmer_nb")
    system = glmm_setup(formula, data, NegativeBinomial(1.0, link), weights=weights,
                        offset=offset, path=control.path)
    if nagq > 1:
        _check_quadrature_applies(system)
    start, k0, evaluations = _start(system, nagq, nb_theta_start, control)
    interval = (k0 * math.exp(-HALF_WIDTH), k0 * math.exp(HALF_WIDTH))
    search = _joint if method == "joint" else _alternating
    parameters, k, counts, code = search(system, nagq, start, interval, control)
    search_record = NbThetaSearch(method, k0, interval, evaluations + counts[0], counts[1])
    model = _model_at(system, nagq, parameters, k, (data, data_name), search_record, control,
                      code)
    if fit_looks_separated(system, model.state.mu):
        check_separation(system)
    _warn_about(model, control)
    _warn_at_bound(k, interval)
    return model


# ---- the problem on the optimiser's columns -------------------------------------------------
class _Problem:
    """The criterion on the design's columns and the one the optimiser works on (centred,
    scaled columns, as glmer's: :mod:`lmmpy.glmm._conditioned`), the family set on both."""

    def __init__(self, system: ReweightedSystem, nagq: int, control: GlmerControl):
        n_theta = len(system.design.theta_start())
        self.criterion = GlmmCriterion(system, n_theta, nagq, control.pirls_tolerance)
        self.fitting, self.matrices = fitting_criterion(self.criterion)
        self.n_theta, self.nagq = n_theta, nagq
        self._searching: list[GlmmCriterion] = []

    @property
    def n_evaluations(self) -> int:
        """Criterion evaluations on either columns."""
        distinct = {id(c): c for c in (self.criterion, self.fitting, *self._searching)}
        return sum(c.n_evaluations for c in distinct.values())

    def searching(self) -> GlmmCriterion:
        """The criterion on the optimiser's columns whose gradients end with d/d log k."""
        fitting = self.fitting
        self._searching.append(GlmmCriterion(fitting.system, self.n_theta, self.nagq,
                                             fitting.pirls_tolerance, with_shape=True))
        return self._searching[-1]

    def set_family(self, family) -> None:
        for system in {id(c.system): c.system for c in (self.criterion, self.fitting)}.values():
            _set_family(system, family)

    def set_nb_theta(self, k: float) -> None:
        self.set_family(NegativeBinomial(k, self.criterion.system.response.family.link.name))

    def deviance(self, x: np.ndarray) -> float:
        """−2ℓ at the optimiser's (θ̃[, β̃]) (the saturated part added for nAGQ > 1)."""
        if self.nagq == 0:
            return self.fitting.stage1(x)
        return self.fitting(x) + _saturated(self.criterion.system, self.nagq)

    def to_fitting(self, parameters: np.ndarray) -> np.ndarray:
        return conditioned_start(parameters, self.criterion, self.matrices)

    def to_original(self, x: np.ndarray) -> np.ndarray:
        """(θ, β) on the design's columns from the optimiser's θ̃ (β by PIRLS) or (θ̃, β̃)."""
        if len(x) == self.n_theta:
            x = np.concatenate([x, self.fitting.at_theta(x).beta])
        record = GlmmOptimization(x, 0.0, 0, x[:self.n_theta], ())
        return original_optimization(record, self.criterion, self.matrices).parameters

    def hessian(self, parameters: np.ndarray) -> np.ndarray:
        """The criterion's Hessian over (θ, β) (glmer's: on the optimiser's columns, mapped)."""
        x = self.to_fitting(parameters)
        return original_hessian(criterion_hessian(self.fitting, x), self.n_theta, self.matrices)


# ---- the start: a Poisson fit and theta.ml --------------------------------------------------
def _start(system: ReweightedSystem, nagq: int, k0: float | None,
           control: GlmerControl) -> tuple[np.ndarray, float, int]:
    """(θ, β) of a Poisson fit (at k₀ when given), k₀, and the evaluations spent."""
    problem = _Problem(system, min(nagq, 1), control)
    if k0 is None:
        problem.set_family(Poisson(system.response.family.link.name))
    else:
        k0 = _checked_start(k0)
        problem.set_nb_theta(k0)
    fit = optimize_theta(problem.fitting, problem.to_fitting(system.design.theta_start()),
                         system.design.theta_lower_bounds(), control)
    parameters = problem.to_original(fit.parameters[:problem.n_theta])
    if k0 is None:
        response = system.response
        mu = problem.criterion.at_theta(parameters[:problem.n_theta]).mu
        k0 = theta_ml(response.y, mu, response.weights)
    return parameters, k0, problem.n_evaluations


def theta_ml(y: np.ndarray, mu: np.ndarray, weights: np.ndarray | None = None,
             limit: int = THETA_ML_LIMIT, eps: float = THETA_ML_EPS) -> float:
    """The maximum-likelihood negative binomial shape given the means (MASS's ``theta.ml``):
    Fisher scoring from the moment estimate n / Σ w (y/μ − 1)².

    Examples
    --------
    >>> rng = np.random.default_rng(1)
    >>> y = rng.negative_binomial(2.0, 2.0 / (2.0 + 5.0), size=4000)   # k = 2, μ = 5
    >>> abs(theta_ml(y, np.full(4000, 5.0)) - 2.0) < 0.15
    True
    """
    y, mu = np.asarray(y, dtype=float), np.asarray(mu, dtype=float)
    w = np.ones_like(y) if weights is None else np.asarray(weights, dtype=float)
    k = np.sum(w) / np.sum(w * (y / mu - 1) ** 2)
    for _ in range(limit - 1):
        k = abs(k)
        score = np.sum(w * (special.digamma(k + y) - special.digamma(k) + np.log(k) + 1
                            - np.log(k + mu) - (y + k) / (mu + k)))
        information = np.sum(w * (-special.polygamma(1, k + y) + special.polygamma(1, k)
                                  - 1 / k + 2 / (mu + k) - (y + k) / (mu + k) ** 2))
        step = score / information
        k += step
        if not np.isfinite(k) or abs(step) <= eps:
            break
    return float(k) if np.isfinite(k) and k > 0 else 1.0


# ---- the two searches ---------------------------------------------------------------------
def _joint(system: ReweightedSystem, nagq: int, start: np.ndarray, interval: tuple[float, float],
           control: GlmerControl) -> tuple[np.ndarray, float, tuple[int, int], str]:
    """One search over (θ, β, log k) (over (θ, log k) for nAGQ = 0, β by PIRLS): projected
    BFGS on the analytic gradient for the Laplace criterion (BOBYQA when the control asks
    for it, for nAGQ > 1, or when the descent leaves the interval)."""
    problem = _Problem(system, nagq, control)
    n_theta = problem.n_theta
    free = problem.to_fitting(start if nagq > 0 else start[:n_theta])
    bounds = (math.log(interval[0]), math.log(interval[1]))
    x = None
    if nagq <= 1 and control.optimizer in ("auto", "bfgs"):
        x, code = _joint_descent(problem, free, bounds, control)
    if x is None:
        x, code = _joint_bobyqa(problem, free, bounds, control)
    k = math.exp(x[-1])
    problem.set_nb_theta(k)
    parameters = problem.to_original(x[:-1])
    return parameters, k, (problem.n_evaluations, 0), code


def _joint_bobyqa(problem: _Problem, free: np.ndarray, bounds: tuple[float, float],
                  control: GlmerControl, log_k: float | None = None) -> tuple[np.ndarray, str]:
    """The control's NLopt method over (free, log k) within the interval."""
    def deviance(x: np.ndarray) -> float:
        problem.set_nb_theta(math.exp(x[-1]))
        return problem.deviance(x[:-1])

    n_theta = problem.n_theta
    lower = np.concatenate([problem.criterion.system.design.theta_lower_bounds(),
                            np.full(len(free) - n_theta, -np.inf), [bounds[0]]])
    upper = np.concatenate([np.full(len(free), np.inf), [bounds[1]]])
    log_k = sum(bounds) / 2 if log_k is None else log_k
    return _minimize(deviance, np.append(free, log_k), lower, upper, control)


def _joint_descent(problem: _Problem, free: np.ndarray, bounds: tuple[float, float],
                   control: GlmerControl) -> tuple[np.ndarray | None, str]:
    """Projected BFGS over (θ, log k, β) with dF/d log k from
    :func:`lmmpy.glmm._gradient.shape_derivative`; the upper end of the interval a wall
    (an infinite criterion).  (free, log k) and how it stopped; None when it ends at the
    wall or short of a minimum (then BOBYQA takes over from there)."""
    n_theta = problem.n_theta
    searching = problem.searching()
    stage1 = problem.nagq == 0

    def split(z: np.ndarray) -> tuple[np.ndarray, float]:
        return np.concatenate([z[:n_theta], z[n_theta + 1:]]), float(z[n_theta])

    def value(z: np.ndarray) -> float:
        x, log_k = split(z)
        if log_k > bounds[1]:
            return np.inf
        problem.set_nb_theta(math.exp(log_k))
        return searching.stage1(x) if stage1 else searching(x)

    def value_and_gradient(z: np.ndarray) -> tuple[float, np.ndarray]:
        x, log_k = split(z)
        if log_k > bounds[1]:
            return np.inf, np.full(len(z), np.nan)
        problem.set_nb_theta(math.exp(log_k))
        f, g = (searching.stage1_value_and_gradient(x) if stage1
                else searching.value_and_gradient(x))
        return f, np.concatenate([g[:n_theta], g[-1:], g[n_theta:-1]])

    log_k0 = sum(bounds) / 2
    problem.set_nb_theta(math.exp(log_k0))
    known = None if stage1 else beta_information(searching, free[:n_theta])
    start = np.concatenate([free[:n_theta], [log_k0], free[n_theta:]])
    lower = np.concatenate([problem.criterion.system.design.theta_lower_bounds(), [bounds[0]],
                            np.full(len(free) - n_theta, -np.inf)])
    metric = difference_metric(value_and_gradient, n_theta + 1, known)
    z, _, message = descend_with_gradient(searching, value, value_and_gradient, start, lower,
                                          metric, control)
    x, log_k = split(z)
    if log_k >= bounds[1] - WALL_MARGIN or message not in CONVERGED:
        x, code = _joint_bobyqa(problem, x, bounds, control, min(log_k, bounds[1]))
        return x, code
    return np.append(x, log_k), message


def _alternating(system: ReweightedSystem, nagq: int, start: np.ndarray,
                 interval: tuple[float, float],
                 control: GlmerControl) -> tuple[np.ndarray, float, tuple[int, int], str]:
    """lme4's profile: Brent over log k, a GLMM fit at each k from the last one's estimates."""
    lower = system.design.theta_lower_bounds()
    fits: dict[float, tuple[np.ndarray, float]] = {}
    totals = {"evaluations": 0, "last": start}

    def profile(log_k: float) -> float:
        if log_k not in fits:
            problem = _Problem(system, nagq, control)
            problem.set_nb_theta(math.exp(log_k))
            n_theta, last = problem.n_theta, problem.to_fitting(totals["last"])
            fit = (optimize_theta(problem.fitting, last[:n_theta], lower, control) if nagq == 0
                   else optimize_glmm(problem.fitting, last[:n_theta], lower, last, control))
            totals["last"] = problem.to_original(fit.parameters[:n_theta] if nagq == 0
                                                 else fit.parameters)
            totals["evaluations"] += problem.n_evaluations
            totals["code"] = fit.return_codes[-1]
            fits[log_k] = (totals["last"], fit.deviance + _saturated(system, nagq))
        return fits[log_k][1]

    k0 = math.sqrt(interval[0] * interval[1])
    profile(math.log(k0))   # lme4's first NB fit, at k₀, before the search
    result = optimize.minimize_scalar(profile, bounds=tuple(map(math.log, interval)),
                                      method="bounded", options={"xatol": BRENT_TOLERANCE})
    profile(result.x)
    _set_nb_theta(system, math.exp(result.x))
    return (fits[result.x][0], math.exp(result.x), (totals["evaluations"], len(fits)),
            totals["code"])


def _saturated(system: ReweightedSystem, nagq: int) -> float:
    """−2 log-likelihood of the saturated model (μ = y) when the criterion leaves it out
    (nAGQ > 1), else 0.  It depends on k: without it the quadrature criterion is not a
    likelihood in k (lme4's glmer.nb with nAGQ > 1 optimises it without, and runs off to
    a wrong k)."""
    if nagq <= 1:
        return 0.0
    response = system.response
    return response.family.aic(response.y, response.trials, response.y, response.weights, 0.0)


def _minimize(function, start: np.ndarray, lower: np.ndarray, upper: np.ndarray,
              control: GlmerControl) -> tuple[np.ndarray, str]:
    """The control's NLopt method within [lower, upper], from ``start``; and how it stopped."""
    algorithm = nlopt.LN_NELDERMEAD if control.optimizer == "nelder_mead" else nlopt.LN_BOBYQA
    optimizer = nlopt.opt(algorithm, len(start))
    optimizer.set_lower_bounds(lower)
    optimizer.set_upper_bounds(upper)
    optimizer.set_initial_step(np.full(len(start), 0.1))
    optimizer.set_ftol_abs(control.ftol_abs)
    optimizer.set_xtol_rel(control.xtol_rel)
    optimizer.set_maxeval(control.max_evaluations)
    x, _, message = run_nlopt(optimizer, function, np.clip(start, lower, upper))
    return x, message


# ---- the fitted model ---------------------------------------------------------------------
def _model_at(system: ReweightedSystem, nagq: int, parameters: np.ndarray, k: float,
              data: tuple[pd.DataFrame, str | None], search: NbThetaSearch,
              control: GlmerControl, code: str) -> NegativeBinomialMixedModel:
    """The GLMM at k held fixed (lme4's last refit): state, criterion and Hessian there."""
    # the Hessian (glmer's: PIRLS to HESSIAN_PIRLS_TOLERANCE in its evaluations)
    problem = _Problem(system, nagq, control)
    problem.set_nb_theta(k)
    criterion, n_theta = problem.criterion, problem.n_theta
    parameters = np.asarray(parameters, dtype=float)
    if nagq == 0:
        state, hessian = criterion.at_theta(parameters[:n_theta]), None
    else:
        hessian = problem.hessian(parameters)
        state = criterion.at(parameters)
    value = criterion.value(state, nagq=max(nagq, 1))
    optimization = GlmmOptimization(np.asarray(parameters, dtype=float), value,
                                    search.n_evaluations, parameters[:n_theta], (code,))
    return NegativeBinomialMixedModel(
        system=system, state=state, deviance_value=value, nagq=nagq, hessian=hessian,
        optimization=optimization, row_index=_row_index(data[0], system), data_name=data[1],
        control=control, nb_search=search)


def _set_nb_theta(system: ReweightedSystem, k: float) -> None:
    _set_family(system, NegativeBinomial(k, system.response.family.link.name))


def _set_family(system: ReweightedSystem, family) -> None:
    system.response = replace(system.response, family=family)


def _checked_start(k0) -> float:
    if isinstance(k0, bool) or not isinstance(k0, int | float | np.number) or not (
            np.isfinite(k0) and k0 > 0):
        raise ValueError(f"nb_theta_start must be a positive number, not {k0!r}")
    return float(k0)


def _warn_at_bound(k: float, interval: tuple[float, float]) -> None:
    if min(abs(math.log(k / interval[0])), abs(math.log(k / interval[1]))) < 1e-3:
        warnings.warn(f"nb_theta = {k:.6g} is at the end of its search interval "
                      f"[{interval[0]:.6g}, {interval[1]:.6g}] (the start times e^±3, as "
                      "lme4's glmer.nb): give nb_theta_start nearer the estimate; a very "
                      "large nb_theta means no overdispersion (a Poisson GLMM)",
                      ConvergenceWarning, stacklevel=3)
