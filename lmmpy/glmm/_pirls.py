"""PIRLS: the conditional modes û (and β̂) of a GLMM at fixed θ.

Penalized iteratively reweighted least squares (Bates et al. 2015, JSS 67(1),
§3.6 of lme4's ``vignette("PIRLS")``; Bates, "Computational methods for mixed
models", 2014) minimises the penalized deviance

    pdev(u, β) = Σ_i d_i(y_i, μ_i) + ‖u‖²,   μ = g⁻¹(Xβ + ZΛ_θu + o)

by Newton–Fisher steps.  At the current η the working weights
w = wt (dμ/dη)²/V(μ) and the working response z = η − o + (y − μ)/(dμ/dη)
define a weighted penalized least-squares problem, the linear mixed model's
(Bates et al. 2015, eqs. 18-34) with weights w and response z: solved on the
same factorization (``ProfiledDeviance``) with the cross-products of the new
weights, it gives the full step — for u alone (β fixed, the Laplace fit's
inner problem) or for u and β together (lme4's nAGQ = 0).  A step that does
not lower pdev is halved (at most ``MAX_HALVINGS`` times); iteration stops
when the last step changed u (and β) by less than ``tolerance`` relative
to the largest |u|.  For a canonical link (binomial logit, Poisson log) the
step is Newton's, whose error after a full step s is at most C s² near the
solution: there iteration also stops once C s² is a hundredth of the tolerance,
C the largest s_k / s_{k−1}² of the solve's full steps and at least
``NEWTON_CONSTANT`` — the step that would only confirm the last one is not taken
(VerbAgg: most evaluations one step fewer, the Hessian's one step in two).  Only
with ``quick`` (the optimizer's and the Hessian's evaluations): a model's state
is converged to the last step as before, its û to rounding, so that quantities
that depend on the order of nearly tied fitted values (binned residuals) are
those of the fully converged modes.

Near û a factorization costs far more than the step it buys on a large model
(1,000,000 rows, 2,000 crossed items: ~0.5 s against ~0.1 s for a solve).  From
q ≥ ``CHORD_MIN_Q`` random effects, once a Newton step moved u by less than
``CHORD_FROM`` (relative), the next steps are chord steps: the current score
(the Newton step's right-hand side at the current weights) solved with that
step's system.  They converge to the same fixed point (û, β̂), linearly, each
about as short as the last times the weights' relative change; a halved step or
one that shrinks the last by less than ``CHORD_CONTRACTION`` returns to Newton
steps.  An optimizer's next evaluation, at a θ within ``CHORD_ACROSS`` of the last
(relative), starts with chord steps on the last evaluation's final system (its θ and
weights; the right-hand side at the new θ's Λ): started from the last b = Λu, their
fixed point is the new θ's (û, β̂), and on the 1,000,000-row model each shrinks the
last ~50-fold, so a warm evaluation takes one factorization (its final one) instead of
three.  The criterion's log|L|² is always from a factor at the final weights.

Each reweighting recomputes the cross-products (from the weight-free tables of
:mod:`lmmpy.glmm._weighted`): nothing that depends on the weights is reused,
only the factorization's analysed pattern (``ProfiledDeviance.with_crossprods``).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
from scipy.linalg import cho_solve, lapack

from lmmpy.design import Design
from lmmpy.glmm._response import GlmResponse
from lmmpy.glmm._weighted import WeightedCrossProducts
from lmmpy.objective import ProfiledDeviance
from lmmpy.objective._lambda import theta_layout
from lmmpy.objective._matvec import times

MAX_ITERATIONS = 100
MAX_HALVINGS = 30
ROUNDING = 1e-11    # a step is not worse when pdev rises by less than this, relatively: near û
                    # the change (~|Δu|²) is below pdev's rounding, and refusing the last
                    # Newton step would leave u off by |Δu| and log|L|² off by as much
NEWTON_CONSTANT = 10.0   # the least C assumed in |error after a step s| ≤ C s² (canonical links)
QUADRATIC_MARGIN = 1e-2  # ... which must then be this share of the tolerance, or less
CHORD_FROM = 0.1    # steps after a Newton step this small (relative to max |u|) reuse its
                    # factor (chord steps) while each shrinks the last by CHORD_CONTRACTION:
                    # from 1e-3, the 1M-row model's cold solve at θ = 1 took 5 factorizations
                    # (2.8 s) where from 0.1 it takes 3 and chord steps (2.0 s), its nAGQ = 0
                    # fit 13.3-14.8 → 10.8-12.0 s, Laplace the same, every optimum the same
CHORD_CONTRACTION = 0.3  # a chord step costs ~1/4 of a Newton step on the 1M-row model (no
                         # cross-products, no factorization): at 0.1 its cold solve's third chord
                         # step (shrinking the last 9-fold) became a Newton step; 0.3 saves that
                         # factorization (1.93-1.99 → 1.73-1.76 s), every optimum the same
CHORD_MIN_Q = 1000  # random effects from which a factorization costs more than a chord step
CHORD_ACROSS = 0.05  # an evaluation's first steps are chord steps on the last evaluation's
                     # system when θ moved by at most this (relative to its largest |θ|)
TOLERANCE = 1e-10   # largest change of u (and β) in the last step, relative to max |u|
                    # (Newton converges quadratically: the error left is ~1e-20); lme4 stops on
                    # a relative change of pdev of 1e-7 (tolPwrss), its loglik then up to 2e-3
                    # short of the converged Laplace value


def _diagonal_layout(layout) -> bool:
    """Whether Λ is diagonal (every term scalar): one entry per row, on the diagonal."""
    return (len(layout.lambda_rows) == layout.size
            and bool(np.all(layout.lambda_rows == layout.lambda_cols)))


class PirlsError(ArithmeticError):
    """PIRLS could not find a finite penalized deviance."""


@dataclass(frozen=True)
class PirlsResult:
    """The converged state at one θ.

    Attributes
    ----------
    theta, beta, u : parameters and conditional modes (b = Λu)
    eta, mu : linear predictor (with the offset) and mean
    pdev : penalized deviance Σ d_i + ‖u‖²
    logdet_L : log|L|² of A = Λ'Z'WZΛ + I at the weights of μ
    objective : the linear machinery at those weights (its factor is at θ)
    iterations : PIRLS iterations taken
    """

    theta: np.ndarray
    beta: np.ndarray
    u: np.ndarray
    eta: np.ndarray
    mu: np.ndarray
    pdev: float
    logdet_L: float
    objective: ProfiledDeviance
    iterations: int


class ReweightedSystem:
    """The design and response, and the factorization reweighted at each PIRLS step."""

    def __init__(self, design: Design, response: GlmResponse, path: str | None = None,
                 tables: WeightedCrossProducts | None = None):
        self.design = design
        self.response = response
        self.path = path   # the factorization ("dense", "blocked", "cholmod"); None: lmer's choice
        self._objective: ProfiledDeviance | None = None
        # ``tables``: another system's, when this design has the same Z (its tables are
        # shared, X's taken from this design)
        self._crossprods = (WeightedCrossProducts(design) if tables is None
                            else tables.with_fixed(design.X.values))
        self._Lambda: tuple[bytes, dict] | None = None   # the last θ's Λ (forms as asked)
        self._structure_from: ProfiledDeviance | None = None   # another system's, same Z
        self._theta_layout = None   # before the first factorization

    def share_factor_structure(self, other: ReweightedSystem) -> None:
        """Make this system's first factorization from ``other``'s analysed pattern (the
        same Z, another X: glmer's state on the design's own columns after the fit on
        conditioned ones), instead of analysing it anew."""
        if self._objective is None and other._objective is not None:
            self._structure_from = other._objective

    @property
    def n_fixed(self) -> int:
        return self.design.X.values.shape[1]

    @property
    def q(self) -> int:
        return sum(term.n_random_effects for term in self.design.terms)

    def eta(self, theta: np.ndarray, beta: np.ndarray, u: np.ndarray) -> np.ndarray:
        return self.linear_predictor(beta, self.times_Lambda(theta, u))

    def linear_predictor(self, beta: np.ndarray, b: np.ndarray) -> np.ndarray:
        return self.design.X.values @ beta + times(self.design.Z, b) + self.design.offset

    def Lambda(self, theta: np.ndarray):
        """Λ_θ (the last one kept: PIRLS and the criterion ask for it at every step)."""
        return self._Lambda_form(theta, "Lambda")

    def Lambda_t(self, theta: np.ndarray):
        """Λ_θ' as CSR (kept with Λ_θ: a transposed view is a new checked matrix each time)."""
        return self._Lambda_form(theta, "Lambda_t")

    def times_Lambda(self, theta: np.ndarray, x: np.ndarray) -> np.ndarray:
        """Λ_θx (x a vector or q × m): elementwise when Λ is diagonal (scalar terms only),
        the same bits as the sparse product, whose every sum has one term."""
        return self._times(theta, x, "Lambda")

    def times_Lambda_t(self, theta: np.ndarray, x: np.ndarray) -> np.ndarray:
        """Λ_θ'x, as :meth:`times_Lambda` (a diagonal Λ is its own transpose)."""
        return self._times(theta, x, "Lambda_t")

    def _times(self, theta: np.ndarray, x: np.ndarray, form: str) -> np.ndarray:
        diagonal = self._Lambda_form(theta, "diagonal")
        if diagonal is not None:
            return diagonal * x if np.ndim(x) == 1 else diagonal[:, None] * x
        return times(self._Lambda_form(theta, form), x)

    def _Lambda_form(self, theta: np.ndarray, form: str):
        """Λ_θ as ``Lambda`` (CSC), ``Lambda_t`` (Λ' as CSR) or ``diagonal`` (its diagonal
        when Λ is diagonal, else None), each made once per θ when first asked."""
        key = np.asarray(theta, dtype=float).tobytes()
        if self._Lambda is None or self._Lambda[0] != key:
            self._Lambda = (key, {})
        forms = self._Lambda[1]
        if form not in forms:
            if form == "Lambda":
                forms[form] = self.layout().Lambda(np.asarray(theta, dtype=float))
            elif form == "Lambda_t":
                forms[form] = self.Lambda(theta).T.tocsr()
            else:
                layout = self.layout()
                forms[form] = (None if not _diagonal_layout(layout) else
                               np.asarray(theta, dtype=float)[layout.lambda_theta[
                                   self._diagonal_order]])
        return forms[form]

    @functools.cached_property
    def _diagonal_order(self) -> np.ndarray:
        """The layout's entries of Λ by row (Λ diagonal: one per row)."""
        order = np.empty(self.q, dtype=np.intp)
        order[self.layout().lambda_rows] = np.arange(self.q)
        return order

    @functools.cached_property
    def Zt(self):
        """Z' as CSR, made once (Z'r for the gradient's and the steps' right-hand sides)."""
        return self.design.Z.T.tocsr()

    def layout(self):
        """θ's layout in Λ (the terms' alone: no factorization needed for it)."""
        if self._objective is not None:
            return self._objective.layout
        if self._theta_layout is None:
            self._theta_layout = theta_layout(self.design.terms)
        return self._theta_layout

    def objective_at(self, eta: np.ndarray | None) -> ProfiledDeviance:
        """The linear mixed model with the working weights and response at η (the last one
        when η is None)."""
        if eta is None and self._objective is not None:
            return self._objective
        if eta is None:
            eta = self.response.start_eta()
        weights, z = self.response.working(eta, self.design.offset)
        crossprods = self._crossprods.at(weights, z)
        if self._objective is None and self._structure_from is not None:
            self._objective = self._structure_from.with_crossprods(crossprods)
            self._structure_from = None
        elif self._objective is None:
            # the factorization lmer would choose (dense up to q + p + 1 = 128: on a quiet
            # machine the fastest for PIRLS too, as its set-up is repeated at every step)
            self._objective = ProfiledDeviance(crossprods, self.design.terms, reml=False,
                                               _path=self.path)
        else:
            self._objective = self._objective.with_crossprods(crossprods)
        return self._objective

    def penalized_deviance(self, eta: np.ndarray, u: np.ndarray) -> float:
        return self.response.deviance_at(eta) + float(u @ u)


def pirls(system: ReweightedSystem, theta: np.ndarray, beta: np.ndarray | None,
          u: np.ndarray | None, vary_beta: bool, tolerance: float = TOLERANCE,
          quick: bool = False, previous: PirlsResult | None = None,
          start_value: tuple[np.ndarray, float] | None = None) -> PirlsResult:
    """û (β fixed) or (β̂, û) at θ, from the given start (None: R's ``mustart``);
    ``previous``, a solution at a nearby θ whose factor is still valid, lends its system
    to the first steps (chord steps across θ, module docstring); ``start_value``, the
    start's η and penalized deviance when the caller has them (:func:`predicted_or_last`).

    Examples
    --------
    >>> import lmmpy
    >>> from lmmpy.glmm.fit import glmm_setup
    >>> system = glmm_setup("cbind(incidence, size - incidence) ~ period + (1 | herd)",
    ...                     lmmpy.datasets.load("cbpp"), "binomial")
    >>> r = pirls(system, np.array([0.642]), None, None, vary_beta=True)   # nAGQ = 0: β too
    >>> r.beta.round(3).tolist()
    [-1.361, -0.976, -1.111, -1.56]
    """
    theta = np.asarray(theta, dtype=float)
    if u is None:
        u = np.zeros(system.q)
        eta = system.response.start_eta()
        beta = np.zeros(system.n_fixed) if beta is None else beta
        first_step_free = True
        pdev = np.inf
    elif start_value is not None:
        (eta, pdev), first_step_free = start_value, False
    else:
        eta = system.linear_predictor(beta, system.times_Lambda(theta, u))
        pdev, first_step_free = system.penalized_deviance(eta, u), False
    chord = None if first_step_free else _chord_across(system, previous, theta, vary_beta)
    iterations, last_step, objective = 0, np.inf, None
    newton, constant, previous = quick and system.response.newton, NEWTON_CONSTANT, None
    while iterations < MAX_ITERATIONS:
        iterations += 1
        newton_step = chord is None
        if chord is not None:
            beta_new, u_new = chord.step(system, eta, beta, u, theta)
        else:
            objective = system.objective_at(eta)
            beta_new, u_new = _pls_step(system, objective, theta, beta, vary_beta)
        accepted = _halve_until_lower(system, theta, (beta, u), (beta_new, u_new), pdev)
        if accepted is None:
            if chord is None:
                break   # no step lowers pdev: at its minimum to rounding
            chord = None   # a Newton step decides
            continue
        step = max(np.max(np.abs(accepted[1] - u), initial=0.0),
                   np.max(np.abs(accepted[0] - beta), initial=0.0))
        beta, u, eta, pdev, halved = accepted
        scale = max(1.0, np.max(np.abs(u), initial=0.0))
        bound = tolerance * scale
        if step <= bound:
            break
        if newton and newton_step and not halved:   # Newton's quadratic bound (docstring)
            if previous is not None:
                constant = max(constant, step / previous**2)
            if constant * step**2 <= QUADRATIC_MARGIN * bound:
                break
        previous = step if newton_step and not halved else None
        chord = _next_chord(chord, system, objective, theta, vary_beta, step, last_step,
                            scale, halved)
        last_step = step
    if not np.isfinite(pdev):
        raise PirlsError(f"PIRLS found no finite penalized deviance at theta = {theta}")
    objective = system.objective_at(eta)
    logdet_L = objective.factor.update(theta)[0]
    return PirlsResult(theta, beta, u, eta, system.response.mu(eta), pdev, float(logdet_L),
                       objective, iterations)


def predicted_or_last(system: ReweightedSystem, theta: np.ndarray, predicted: tuple,
                      last: tuple) -> tuple[tuple, tuple[np.ndarray, float]]:
    """Of two PIRLS starts (β, u) at θ, the one with the lower penalized deviance (a
    prediction of the modes far from where it was made can be worse than the last ones),
    with its η and penalized deviance (``pirls``'s ``start_value``: not computed again)."""
    def valued(start):
        beta, u = start
        eta = system.eta(theta, beta, u)
        return eta, system.penalized_deviance(eta, u)

    def order(value: float) -> float:
        return value if np.isfinite(value) else np.inf

    predicted_value, last_value = valued(predicted), valued(last)
    if order(predicted_value[1]) < order(last_value[1]):
        return predicted, predicted_value
    return last, last_value


def _pls_step(system: ReweightedSystem, objective: ProfiledDeviance, theta, beta,
              vary_beta: bool) -> tuple[np.ndarray, np.ndarray]:
    """The penalized least-squares solution (β, u) at the current weights (β from the
    factor's trailing block R, as ``ProfiledDeviance.solve``, when it varies)."""
    _, R = objective.factor.update(theta)
    crossprods = objective.crossprods
    ZtXy, p = crossprods.ZtXy, crossprods.n_fixed
    fitted = beta
    if vary_beta:   # β̃ of the cross-products' [X̃ ỹ], then β in the design's coordinates
        fitted = lapack.dtrtrs(R[:p, :p], R[:p, p])[0] if p else np.zeros(0)
        beta = crossprods.original_beta(fitted)
    right = system.times_Lambda_t(theta, ZtXy[:, -1] - ZtXy[:, :-1] @ fitted)
    return beta, np.asarray(objective.factor.solve_A(right)).ravel()


def _halve_until_lower(system, theta, old, new, pdev):
    """The first of the full step and its halvings that lowers pdev: (β, u, η, pdev,
    whether halved) or None."""
    (beta0, u0), (beta1, u1) = old, new
    step = 1.0
    for _ in range(MAX_HALVINGS):
        beta = beta0 + step * (beta1 - beta0)
        u = u0 + step * (u1 - u0)
        eta = system.eta(theta, beta, u)
        value = system.penalized_deviance(eta, u)
        if value <= pdev + ROUNDING * abs(pdev) or (np.isfinite(value) and not np.isfinite(pdev)):
            return beta, u, eta, value, step < 1.0
        step /= 2
    return None


def _next_chord(chord, system, objective, theta, vary_beta: bool, step: float,
                last_step: float, scale: float, halved: bool):
    """The chord for the next step, or None for a Newton step (module docstring): only
    near û (the last step below ``CHORD_FROM`` relative to max |u|), never after a halving,
    and kept only while its steps shrink by ``CHORD_CONTRACTION`` or more."""
    if halved or system.q < CHORD_MIN_Q:
        return None
    if chord is None:
        if step > CHORD_FROM * scale:
            return None
        return Chord(objective, system.Lambda(theta), vary_beta)
    return chord if step <= CHORD_CONTRACTION * last_step else None


def _chord_across(system, previous: PirlsResult | None, theta: np.ndarray,
                  vary_beta: bool):
    """The chord of ``previous``'s final system (another θ), or None: only from
    ``CHORD_MIN_Q`` random effects and for θ within ``CHORD_ACROSS`` of it (relative)."""
    if previous is None or system.q < CHORD_MIN_Q:
        return None
    scale = max(float(np.max(np.abs(previous.theta), initial=0.0)), 1e-8)
    if np.max(np.abs(theta - previous.theta), initial=0.0) > CHORD_ACROSS * scale:
        return None
    return Chord(previous.objective, system.layout().Lambda(previous.theta), vary_beta)


class EliminatedSolve:
    """Solves the PIRLS system [[A, B], [B', C]] (x_u, x_β) = (g_u, g_β), B = Λ'Z'WX and
    C = X'WX, by eliminating β through the factor's ``solve_A``: K = C − B'A⁻¹B.  (The
    chord steps' solve here, and the adjoint solve's (:mod:`lmmpy.glmm._gradient`).)"""

    def __init__(self, solve_A, B: np.ndarray, C: np.ndarray):
        self.solve_A, self.B = solve_A, B
        self.AB = np.asarray(solve_A(B)).reshape(B.shape)
        self.K = np.linalg.cholesky(C - B.T @ self.AB)

    def __call__(self, g_u: np.ndarray, g_beta: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(x_u, x_β) for one right-hand side, or one per column of g_u and g_β."""
        x_u = np.asarray(self.solve_A(g_u)).reshape(g_u.shape)
        w = cho_solve((self.K, True), g_beta - self.B.T @ x_u)
        return x_u - self.AB @ w, w


class Chord:
    """Steps with the PIRLS system of an earlier iteration (the chord method): at the
    current η, with score s = W(z − η + o), the step solves the old system H₀ for the
    current right-hand side, H₀ (Δu, Δβ) = (Λ'Z's − u, X's) — the Newton step's fixed
    point (Λ'Z's = u, X's = 0: û and β̂), without a new factorization."""

    def __init__(self, objective: ProfiledDeviance, Lambda, vary_beta: bool):
        self.solve_A = objective.factor.solve_A   # the factor stays at this θ in pirls
        self.Lambda = Lambda
        self.system_solve = None
        if vary_beta:
            crossprods = objective.crossprods
            p = crossprods.n_fixed
            self.system_solve = EliminatedSolve(
                self.solve_A, np.asarray(Lambda.T @ crossprods.ZtXy[:, :p]),   # Λ'Z'WX
                crossprods.XytXy[:p, :p])

    def step(self, system: ReweightedSystem, eta: np.ndarray, beta: np.ndarray,
             u: np.ndarray, theta: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(β, u) after one chord step from (β, u) at η and the current θ (the system's
        may be another θ's: the fixed point is still θ's û and β̂)."""
        weights, z = system.response.working(eta, system.design.offset)
        score = weights * (z - eta + system.design.offset)
        right = system.times_Lambda_t(theta, times(system.Zt, score)) - u
        if self.system_solve is None:
            return beta, u + np.asarray(self.solve_A(right)).ravel()
        delta_u, delta_beta = self.system_solve(right, system.design.X.values.T @ score)
        return beta + delta_beta, u + delta_u
