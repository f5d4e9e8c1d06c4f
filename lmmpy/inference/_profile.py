"""Profile likelihood of a linear mixed model (lme4's ``profile.merMod``).

For each parameter φ — a random-effect standard deviation or correlation,
the residual σ, or a fixed effect β_j — the profile is the signed square root
of the likelihood-ratio statistic

    ζ(φ) = sign(φ − φ̂) √( d̃(φ) − d(φ̂) ),

where d̃(φ) is the ML deviance minimised over all other parameters with φ held
fixed and d(φ̂) the deviance at the ML estimates (Bates et al. 2015, section 5.1;
Bates & Watts 1988, ch. 6).  ζ is approximately standard normal, so the
profile-likelihood interval at level 1 − α is {φ : |ζ(φ)| ≤ z_{1−α/2}}.
lme4 profiles the ML deviance: a REML fit is first refitted by ML, and its
profile intervals are those of the ML fit.

Two deviance functions, as in lme4:

* variance parameters (``devfun2``): with θ = chol(Σ/σ²) rebuilt from the SDs,
  correlations and σ of each term (see ``_varpar``), the deviance profiled over
  β only,

      d(s, ρ, σ) = log|L_θ|² + r²(θ)/σ² + n log(2πσ²) − Σ log w_i,

  minimised over the other SDs (≥ 0), correlations ([−1, 1]) and σ (> 0) with
  BOBYQA;
* fixed effects: β_j = b is held by moving b·x_j into the offset, and the ML
  deviance of the model without column j is minimised over θ as in a fit.
  Only cross-products change: [X₋ⱼ, y − b x_j] = [X y] T for a (p+1)×p matrix
  T, so ``Z'W[X y]`` and ``[X y]'W[X y]`` are multiplied by T; n is not touched
  and the analysed sparse factor is reused.

The profile is traced as lme4 traces it: from the estimate, steps aimed at
increments of Δζ = δ = cutoff/8 (cutoff = √χ²_{0.99, npar}), each step at most
ten times the previous one, until |ζ| passes the cutoff or the parameter its
bound (SDs and σ at 0, correlations at ±1).  Interval ends are then the exact
roots of ζ(φ) = ±z, found by Brent's method between the two traced points that
bracket them (lme4 interpolates a spline through the traced points instead; the
two agree to about 1e-5 relative).  Where the profile stays below z up to a
bound — a standard deviation whose ζ at 0 is below z, a singular fit — the
interval end is the bound, as in lme4.

Prior weights enter both deviances (log|L_θ|² and r² are weighted, −Σ log w_i
is included); lme4's ``devfun2`` leaves them out (lme4 issue #192).

References
----------
Bates, D., Mächler, M., Bolker, B. & Walker, S. (2015). Fitting linear
mixed-effects models using lme4. J. Stat. Softw. 67(1), section 5.
Bates, D. M. & Watts, D. G. (1988). Nonlinear Regression Analysis and Its
Applications. Wiley, section 6.1.
"""

from __future__ import annotations

import contextlib
import itertools
import warnings
from dataclasses import dataclass, replace
from functools import cached_property
from typing import TYPE_CHECKING

import nlopt
import numpy as np
import pandas as pd
import scipy.linalg as la
from scipy.optimize import brentq
from scipy.stats import chi2

from lmmpy._fitting import minimize_with_control
from lmmpy._warnings import ProfileWarning
from lmmpy.inference._bootstrap import user_stacklevel
from lmmpy.inference._lrt import refit_ml
from lmmpy.inference._varpar import (
    ProfileCoordinates,
    is_correlation,
    sdcor_from_theta,
    term_shapes,
    theta_from_sdcor,
    variance_parameter_names,
)
from lmmpy.objective._factorization import require_exact

if TYPE_CHECKING:
    from lmmpy.results import LinearMixedModel

ALPHA_MAX = 0.01      # the profile is traced to √χ²_{1−ALPHA_MAX, npar}
DELTA_CUTOFF = 1 / 8  # target Δζ per step, as a fraction of that cutoff
MAX_POINTS = 100      # per direction
MAX_MULT = 10         # a step is at most this multiple of the previous one
AIM_PAST = 0.25      # interval search: aim this many δ past z, to bracket the root
INITIAL_STEP = 0.01  # BOBYQA's initial step, relative to the parameter's size
ROOT_TOL = 1e-7      # relative tolerance of an interval end
LOWER_DEVIANCE_TOL = 1e-6  # deviance below the fit's by more than this: warn


@dataclass(frozen=True)
class ProfilePoint:
    """One point of a profile: the parameter's value, ζ there, and all parameters."""

    value: float
    zeta: float
    params: np.ndarray


class Profiler:
    """ζ of any parameter of a model; traces profiles and finds interval ends.

    Parameters are indexed as in :attr:`names`: the SDs and correlations in θ's
    order, ``sigma``, then the fixed effects.

    Examples
    --------
    >>> import lmmpy
    >>> m = lmmpy.lmer("Yield ~ 1 + (1 | Batch)", lmmpy.datasets.load("Dyestuff"), reml=False)
    >>> p = Profiler(m)
    >>> p.names
    ['sd_(Intercept)|Batch', 'sigma', '(Intercept)']
    >>> round(p.interval_end(2, -1, 1.959964), 2)
    1486.45
    """

    def __init__(self, model: LinearMixedModel):
        require_exact(model.objective, "The likelihood profile (confint's 'profile' method)",
                      "confint(method='wald') or 'boot' does not")
        self.ml = refit_ml(model)  # lme4's refitML: ML from the REML θ̂
        terms = self.ml.design.terms
        self.terms = term_shapes(terms)
        self.n_variance = sum(term.n_theta for term in terms) + 1
        self.names = [*variance_parameter_names(terms), *self.ml.fixef.index]
        self.estimate = np.concatenate([
            sdcor_from_theta(self.terms, self.ml.theta, self.ml.sigma), self.ml.solution.beta])
        self.base = self.ml.solution.deviance
        self.lower, self.upper = _bounds(self.terms, len(self.ml.solution.beta))
        self._objective = self.ml.objective.with_crossprods(self.ml.objective.crossprods,
                                                            reml=False)
        self._first: dict[int, ProfilePoint] = {}
        self._coordinate_cache: dict[int, ProfileCoordinates] = {}
        self._ends: dict[tuple[int, int, float], float] = {}   # interval ends found
        self._frames: dict[int, pd.DataFrame] = {}             # profiles traced

    @cached_property
    def cutoff(self) -> float:
        return float(np.sqrt(chi2.ppf(1 - ALPHA_MAX, len(self.names))))

    @property
    def delta(self) -> float:
        return self.cutoff * DELTA_CUTOFF

    # ---- ζ at one value ----------------------------------------------------------------
    def zeta(self, index: int, value: float, start: np.ndarray) -> ProfilePoint:
        """ζ with parameter ``index`` held at ``value``; the others start at ``start``."""
        if index < self.n_variance:
            deviance, params = self._variance_point(index, value, start)
        else:
            deviance, params = self._fixed_point(index - self.n_variance, value, start)
        difference = deviance - self.base
        if difference < -LOWER_DEVIANCE_TOL:
            warnings.warn(
                f"profiling {self.names[index]} found a deviance {-difference:.3g} below the "
                "ML fit's: the fit did not reach the optimum", ProfileWarning,
                stacklevel=user_stacklevel())
        signed = np.sign(value - self.estimate[index]) * np.sqrt(max(difference, 0.0))
        return ProfilePoint(float(value), float(signed), params)

    def sdcor_deviance(self, values: np.ndarray) -> float:
        """lme4's ``devfun2``: ML deviance at (SDs, correlations, σ), profiled over β."""
        if not values[-1] > 0:
            return np.inf
        theta = theta_from_sdcor(self.terms, values)
        sigma = values[-1]
        if theta is None:
            return np.inf
        try:
            s = self._objective.solve(theta)
        except la.LinAlgError:
            return np.inf
        n = self.ml.nobs
        return float(s.logdet_L + s.pwrss / sigma**2 + n * np.log(2 * np.pi * sigma**2)
                     - self._objective.crossprods.sum_log_weights)

    def _variance_point(self, index: int, value: float, start: np.ndarray):
        coordinates = self._coordinates(index)

        def deviance(x: np.ndarray, grad=None) -> float:
            result = self.sdcor_deviance(coordinates.decode(x, value))
            return result if np.isfinite(result) else np.finfo(float).max

        x0 = coordinates.encode(start[:self.n_variance])
        x, best = _bobyqa(deviance, x0, coordinates.lower, coordinates.upper,
                          self._step(index, x0))
        values = coordinates.decode(x, value)
        beta = self._objective.solve(theta_from_sdcor(self.terms, values)).beta
        return best, np.concatenate([values, beta])

    def _coordinates(self, index: int) -> ProfileCoordinates:
        if index not in self._coordinate_cache:
            self._coordinate_cache[index] = ProfileCoordinates(self.terms, index)
        return self._coordinate_cache[index]

    def _step(self, index: int, x0: np.ndarray) -> np.ndarray:
        """Initial BOBYQA step: 1% of each coordinate's size (angles: of 1 radian)."""
        coordinates = self._coordinates(index)
        size = np.maximum(np.abs(x0), np.abs(coordinates.encode(self.estimate[:self.n_variance])))
        size = np.where(coordinates.upper == np.pi, 1.0, size)
        return INITIAL_STEP * np.where(size > 0, size, 1.0)

    def _fixed_point(self, j: int, value: float, start: np.ndarray):
        objective = self.ml.objective.with_crossprods(
            _offset_crossprods(self.ml.objective.crossprods, j, value), reml=False)
        theta_start = theta_from_sdcor(self.terms, start[:self.n_variance])
        if theta_start is None:
            theta_start = self.ml.theta
        # the fit's optimizer (by default with the objective's derivatives, as lmer's fit:
        # BOBYQA's ftol_abs could stop 4e-6 above this fit's optimum, depending on
        # rounding in the products)
        summary = minimize_with_control(
            objective, theta_start, self.ml.design.theta_lower_bounds(), em_start=False,
            control=replace(self.ml.control, check_convergence=False))
        s = objective.solve(summary.theta)
        sigma = float(np.sqrt(s.pwrss / self.ml.nobs))
        params = np.concatenate([sdcor_from_theta(self.terms, summary.theta, sigma),
                                 np.insert(s.beta, j, value)])
        return summary.objective, params

    # ---- tracing -------------------------------------------------------------------------
    def first_point(self, index: int) -> ProfilePoint:
        """The point a small shift from the estimate that starts both traces (lme4's shiftpar)."""
        if index not in self._first:
            self._first[index] = self.zeta(index, self._shifted(index), self.estimate)
        return self._first[index]

    def _shifted(self, index: int) -> float:
        estimate = self.estimate[index]
        if index >= self.n_variance:
            j = index - self.n_variance
            return float(estimate + self.delta * self.ml.fixef_se.iloc[j])
        shifted = 1e-3 if estimate == 0 else estimate * 1.01
        if not self.lower[index] <= shifted <= self.upper[index]:
            shifted = estimate * 0.99
        return float(shifted)

    def trace(self, index: int, toward_first: bool, stop: float,
              aim: float | None = None) -> list[ProfilePoint]:
        """Points from the estimate in one direction until d·ζ passes ``stop`` or a bound.

        The direction is that of the first (shifted) point, or the opposite one.
        Steps aim at Δζ = δ (lme4's trace), or straight at d·ζ = ``aim`` when given.
        """
        center = ProfilePoint(float(self.estimate[index]), 0.0, self.estimate)
        first = self.first_point(index)
        d = np.sign(first.value - center.value) * (1 if toward_first else -1)
        points = [center, first] if toward_first else [first, center]
        low, high = self.lower[index], self.upper[index]
        while (len(points) < MAX_POINTS and low < points[-1].value < high
               and d * points[-1].zeta <= stop):
            rise = self.delta if aim is None else max(aim - d * points[-1].zeta, self.delta / 4)
            value = _next_value(points[-2], points[-1], d, rise, low, high)
            points.append(self.zeta(index, value, points[-1].params))
        return points if toward_first else points[1:]

    def interval_end(self, index: int, direction: int, z: float) -> float:
        """The root of ζ = direction·z on that side of the estimate (or the bound there);
        found once per (parameter, side, z)."""
        key = (index, int(direction), float(z))
        if key not in self._ends:
            self._ends[key] = self._find_interval_end(index, direction, z)
        return self._ends[key]

    def _find_interval_end(self, index: int, direction: int, z: float) -> float:
        first = self.first_point(index)
        toward_first = np.sign(first.value - self.estimate[index]) == direction
        points = self.trace(index, bool(toward_first), z, aim=z + AIM_PAST * self.delta)
        for before, after in itertools.pairwise(points):
            if direction * after.zeta >= z:
                return self._root(index, direction * z, before, after)
        last = points[-1].value
        if last in (self.lower[index], self.upper[index]):
            return last
        warnings.warn(f"the profile of {self.names[index]} did not reach ζ = {direction * z:.3g}"
                      f" in {MAX_POINTS} points", ProfileWarning, stacklevel=user_stacklevel())
        return np.nan

    def _root(self, index: int, target: float, before: ProfilePoint,
              after: ProfilePoint) -> float:
        if after.zeta == target:
            return after.value

        def gap(value: float) -> float:
            weight = (value - before.value) / (after.value - before.value)
            start = before.params + weight * (after.params - before.params)
            return self.zeta(index, value, start).zeta - target

        a, b = sorted((before.value, after.value))
        # relative to the bracket, not to the value: an intercept at 1e9 (a shifted
        # response) needs its end to the same digits as at 0
        tolerance = ROOT_TOL * min(max(abs(a), abs(b), 1e-3), b - a)
        return float(brentq(gap, a, b, xtol=tolerance, rtol=4 * np.finfo(float).eps))

    def profile_frame(self, indices: list[int]) -> pd.DataFrame:
        """Long table of traced profiles: ``parameter, value, zeta`` and every parameter."""
        for index in indices:
            if index not in self._frames:
                self._frames[index] = self._traced_frame(index)
        return pd.concat([self._frames[index] for index in indices], ignore_index=True)

    def _traced_frame(self, index: int) -> pd.DataFrame:
        points = self.trace(index, False, self.cutoff)[::-1]
        points += self.trace(index, True, self.cutoff)[1:]
        frame = pd.DataFrame([p.params for p in points], columns=self.names)
        frame.insert(0, "zeta", [p.zeta for p in points])
        frame.insert(0, "value", [p.value for p in points])
        frame.insert(0, "parameter", self.names[index])
        return frame.sort_values("value", kind="stable")


def _bounds(terms, n_fixed: int) -> tuple[np.ndarray, np.ndarray]:
    correlation = is_correlation(terms)
    lower = np.concatenate([np.where(correlation, -1.0, 0.0), np.full(n_fixed, -np.inf)])
    upper = np.concatenate([np.where(correlation, 1.0, np.inf), np.full(n_fixed, np.inf)])
    return lower, upper


def _next_value(prev: ProfilePoint, last: ProfilePoint, d: float, delta: float,
                low: float, high: float) -> float:
    """lme4's ``nextpar``: aim for Δζ = delta by the last secant, at most MAX_MULT × last step.

    On a flat stretch (no rise in ζ) the step is MAX_MULT × the last one; lme4
    takes a step of 1e-6 there and can run out of points before the bound.
    """
    step = abs(last.value - prev.value)
    rise = d * (last.zeta - prev.zeta)
    cap = MAX_MULT * step
    step = min(delta * step / rise, cap) if rise > 0 else cap
    return float(np.clip(last.value + d * step, low, high))


def _offset_crossprods(crossprods, j: int, value: float):
    """Cross-products of [X₋ⱼ, y − value·x_j], conditioned as the model's are."""
    return crossprods.fixing(j, value)


def _bobyqa(f, start: np.ndarray, lower: np.ndarray, upper: np.ndarray, step: np.ndarray):
    """Minimise f within bounds from start (BOBYQA, as lme4's profile uses its optimizer).

    Starts are close to the optimum (the previous point of the profile), so the
    initial trust region is small (``step``): a quarter of the evaluations of
    NLopt's default.  The best point evaluated is returned also when NLopt
    stops on round-off.
    """
    best = {"x": np.clip(start, lower, upper), "f": np.inf}

    def recorded(x: np.ndarray, grad=None) -> float:
        value = f(x)
        if value < best["f"]:
            best["x"], best["f"] = x.copy(), value
        return value

    optimizer = nlopt.opt(nlopt.LN_BOBYQA, len(start))
    optimizer.set_lower_bounds(lower)
    optimizer.set_upper_bounds(upper)
    optimizer.set_min_objective(recorded)
    optimizer.set_ftol_abs(1e-9)
    optimizer.set_xtol_rel(1e-8)
    optimizer.set_maxeval(10_000)
    optimizer.set_initial_step(step)
    with contextlib.suppress(nlopt.RoundoffLimited):
        optimizer.optimize(best["x"])
    return best["x"], best["f"]
