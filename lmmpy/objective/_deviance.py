"""θ → profiled deviance (ML) or REML criterion, on the blocked or the CHOLMOD factor.

For fixed θ (Bates et al. 2015, eqs. 18-34) the Cholesky factor of the
augmented matrix ``[ZΛ X y]'W[ZΛ X y] + diag(I_q, 0)`` gives ``log|L|²`` (its
first q diagonal entries) and its trailing (p+1)×(p+1) block R' with
R = [[R_X, c_β], [0, r]]; then, with r² the penalized residual sum of squares,

    ML:   d(θ)  = log|L|² + n (1 + log(2π r²/n)) − Σ log w                  (eq. 34)
    REML: dR(θ) = log|L|² + log|R_X|² + (n−p)(1 + log(2π r²/(n−p))) − Σ log w (eq. 41)

β̂ = R_X⁻¹ c_β and û = A⁻¹ Λ'Z'W(y − Xβ̂) are only formed at the optimum.
The cross-products are those of the conditioned [X̃ ỹ] (X̃ = XT, ỹ = y − X̃s,
:mod:`lmmpy.objective._crossprod`), on which the objective is the same
function of θ; :meth:`ProfiledDeviance.solve` returns β̂ and R_X in the
design's coordinates.

Three factorizations compute (log|L|², R), the first that applies being
chosen by the structure: a dense factor of the whole augmented matrix for
small models (:mod:`lmmpy.objective._dense`), the blocked one by
random-effects term (:mod:`lmmpy.objective._blocked`, MixedModels.jl's
method), and CHOLMOD's sparse supernodal factor of ``A = Λ'Z'WZΛ + I``
(:mod:`lmmpy.objective._cholmod`, lme4's method) for the rest.  All agree to
rounding error.  Each is a :class:`~lmmpy.objective._factorization.Factorization`
and declares what more it can do (analytic gradient, Hessian, kept states) in its
``capabilities``, which this module reads.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import numpy as np
import scipy.linalg as la
import scipy.sparse as sp
from scipy.linalg import lapack

from lmmpy.objective._crossprod import CrossProducts
from lmmpy.objective._factorization import Factorization
from lmmpy.objective._gradient import em_update, profiled_gradient
from lmmpy.objective._lambda import ThetaLayout, theta_layout


@dataclass(frozen=True)
class Solution:
    """Everything the fitted model needs at one θ.

    Attributes
    ----------
    theta, beta, u, b : parameters and conditional modes (b = Λu)
    R_X : p×p upper-triangular factor, ``R_X'R_X = X'WX − R_ZX'R_ZX``
    sigma : residual standard deviation σ̂ (ML or REML divisor)
    pwrss : penalized weighted residual sum of squares r²
    logdet_L, logdet_RX : log|L|² and log|R_X|²
    deviance : the objective (ML deviance or REML criterion)
    """

    theta: np.ndarray
    beta: np.ndarray
    u: np.ndarray
    b: np.ndarray
    R_X: np.ndarray
    sigma: float
    pwrss: float
    logdet_L: float
    logdet_RX: float
    deviance: float


class ProfiledDeviance:
    """The profiled deviance (REML criterion) of a linear mixed model as a function of θ.

    The factorization (``self.factor``) is set up once: the blocked factor
    when the random-effects structure allows it, else a CHOLMOD factor
    analysed once.  Each call refactors it numerically.  This object is the
    mutable per-θ state; the cross-products are not changed.

    Examples
    --------
    >>> from lmmpy.datasets import load
    >>> from lmmpy.design import build_design
    >>> from lmmpy.formula import parse_formula
    >>> from lmmpy.objective import cross_products
    >>> d = build_design(parse_formula("Yield ~ 1 + (1 | Batch)"), load("Dyestuff"))
    >>> f = ProfiledDeviance(cross_products(d), d.terms, reml=False)
    >>> round(f(np.array([0.7525807])), 4)   # lme4's ML θ̂ and deviance
    327.3271
    """

    def __init__(self, crossprods: CrossProducts, terms, reml: bool = True, *,
                 _factor=None, _path: str | None = None):
        self.crossprods = crossprods
        self.reml = reml
        self.terms = tuple(terms)
        self.layout = theta_layout(self.terms) if _factor is None else _factor.layout
        self.factor: Factorization = _factor if _factor is not None else _make_factor(
            crossprods, self.layout, self.terms, _path)
        self.n_evaluations = 0
        self._recent: list[tuple] = []   # (θ bytes, log|L|², R, factor snapshot), latest first
        self._information: list[tuple] = []   # (θ bytes, curvature model), latest first

    @property
    def path(self) -> str:
        """The factorization in use: ``"dense"``, ``"blocked"``, ``"cholmod"``, ``"stochastic"``."""
        return self.factor.name

    def with_crossprods(self, crossprods: CrossProducts, reml: bool | None = None):
        """The same structure (set-up factor reused) with other cross-products."""
        reml = self.reml if reml is None else reml
        return ProfiledDeviance(crossprods, self.terms, reml,
                                _factor=self.factor.with_crossprods(crossprods))

    def __call__(self, theta: np.ndarray) -> float:
        theta, factored = self._evaluate(theta)
        return np.inf if factored is None else self._deviance(*factored)

    def _evaluate(self, theta) -> tuple[np.ndarray, tuple[float, np.ndarray] | None]:
        """Count an evaluation and factor at θ: (θ as floats, (log|L|², R) or None when
        the factor is not positive definite)."""
        self.n_evaluations += 1
        theta = np.asarray(theta, dtype=float)
        try:
            return theta, self._update(theta)
        except la.LinAlgError:
            return theta, None

    def _update(self, theta: np.ndarray) -> tuple[float, np.ndarray]:
        """The factor at θ, refactored unless it is one of the last two θ's.

        A line search's accepted point is asked again for its derivatives, and
        the fit's solution at θ̂ comes after the convergence check's steps away
        from it: factors that can (dense, blocked) keep the previous state, as
        each update allocates new arrays, and switch back to it for free.
        """
        key = theta.tobytes()
        # (no loop variable may outlive the search: an R it held would keep the last
        # factor alive while the next is made, twice the memory of a large factor)
        position = next((i for i, entry in enumerate(self._recent) if entry[0] == key), None)
        if position is not None:
            if position:
                self.factor.restore(self._recent[position][3])
                self._recent.insert(0, self._recent.pop(position))
            return self._recent[0][1], self._recent[0][2]
        keeps_states = self.factor.capabilities.snapshots
        kept = self._recent[:1] if keeps_states else []
        self._recent = []  # the factor's state is θ's only once update returns
        logdet_L, R = self.factor.update(theta)
        snapshot = self.factor.snapshot() if keeps_states else None
        self._recent = [(key, logdet_L, R, snapshot), *kept]
        return logdet_L, R

    @property
    def has_gradient(self) -> bool:
        """Whether :meth:`value_and_gradient` is analytic on this factorization."""
        return self.factor.capabilities.gradient is not None

    def value_and_gradient(self, theta: np.ndarray) -> tuple[float, np.ndarray]:
        """The objective and its analytic gradient at θ (:mod:`lmmpy.objective._gradient`).

        The gradient is NaN where the factor is not positive definite (the
        value is then inf).  Needs :attr:`has_gradient`.
        """
        theta, factored = self._evaluate(theta)
        if factored is None:
            return np.inf, np.full(len(theta), np.nan)
        return self._deviance(*factored), profiled_gradient(self, theta, factored[1])

    def record_information(self, theta: np.ndarray, metric: np.ndarray | None) -> None:
        """Keep the curvature model a gradient at θ gave (``_gradient.information_metric``)."""
        if metric is not None:
            self._information = [(theta.tobytes(), metric), *self._information[:3]]

    def information(self, theta: np.ndarray) -> np.ndarray | None:
        """The curvature model at θ (``_gradient.information_metric``) if one of the last
        gradients was at θ and had one, else None."""
        key = np.asarray(theta, dtype=float).tobytes()
        return next((metric for cached, metric in self._information if cached == key), None)

    def em_update(self, theta: np.ndarray, gradient: np.ndarray) -> np.ndarray:
        """One EM step from θ given the gradient there (``_gradient.em_update``)."""
        return em_update(self.terms, theta, gradient)

    @property
    def has_hessian(self) -> bool:
        """Whether :meth:`value_gradient_hessian` is available (the dense path)."""
        return self.factor.capabilities.hessian

    def value_gradient_hessian(self, theta: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
        """The objective, its gradient and its Hessian at θ (analytic; the dense path only)."""
        theta, factored = self._evaluate(theta)
        if factored is None:
            return np.inf, np.full(len(theta), np.nan), np.full((len(theta),) * 2, np.nan)
        reml = self.reml and self.crossprods.n_fixed > 0
        gradient, hessian = self.factor.augmented_hessian(len(theta), reml, self.crossprods.n_obs)
        return self._deviance(*factored), gradient, hessian

    def solve(self, theta: np.ndarray) -> Solution:
        """β̂, û, σ̂ and the factors at θ."""
        theta = np.asarray(theta, dtype=float)
        logdet_L, R = self._update(theta)
        R = np.where(_upper_triangle(len(R)), R, 0.0)
        crossprods = self.crossprods
        p = crossprods.n_fixed
        R_X = R[:p, :p]   # β̃ and R̃_X of the conditioned [X̃ ỹ] (see _crossprod)
        beta = lapack.dtrtrs(R_X, R[:p, p])[0] if p else np.zeros(0)
        Lambda = self.factor.Lambda(theta)
        ZtXy = crossprods.ZtXy
        u = self.factor.solve_A(Lambda.T @ (ZtXy[:, p] - ZtXy[:, :p] @ beta))  # Z'W(y − Xβ̂)
        pwrss = R[p, p] ** 2
        return Solution(
            theta=theta,
            beta=crossprods.original_beta(beta),
            u=u,
            b=Lambda @ u,
            R_X=crossprods.original_R_X(R_X),
            sigma=float(np.sqrt(pwrss / self._dof())),
            pwrss=float(pwrss),
            logdet_L=float(logdet_L),
            logdet_RX=_logdet_RX(R.diagonal().tolist(), p),
            deviance=self._deviance(logdet_L, R),
        )

    def _factorize(self, theta: np.ndarray) -> None:
        """Refactor at θ, leaving ``self.factor`` ready for ``solve_A``."""
        self._update(np.asarray(theta, dtype=float))

    def _dof(self) -> int:
        return self.crossprods.n_obs - (self.crossprods.n_fixed if self.reml else 0)

    def _deviance(self, logdet_L: float, R: np.ndarray) -> float:
        """The objective from log|L|² and R (only R's diagonal is read)."""
        p = self.crossprods.n_fixed
        diagonal = R.diagonal().tolist()
        pwrss = diagonal[p] ** 2
        dof = self._dof()
        value = logdet_L + dof * (1 + math.log(2 * math.pi * pwrss / dof))
        if self.reml and p:
            value += _logdet_RX(diagonal, p)
        return value - self.crossprods.sum_log_weights


def _logdet_RX(diagonal: list[float], p: int) -> float:
    """log|R_X|² from R's diagonal (a list: p is small, scalar logs beat array calls)."""
    return 2.0 * math.fsum(math.log(abs(d)) for d in diagonal[:p])


@functools.cache
def _upper_triangle(size: int) -> np.ndarray:
    """The mask of a size × size upper triangle (``np.triu`` rebuilds it at every call)."""
    return np.triu(np.ones((size, size), dtype=bool))


_PATHS = ("dense", "blocked", "cholmod")
STOCHASTIC_PROBES = 8


def _make_factor(crossprods: CrossProducts, layout: ThetaLayout, terms,
                 path: str | None) -> Factorization:
    """The first factorization that applies: dense (small), blocked, else CHOLMOD."""
    from lmmpy.objective._blocked import blocked_factorization
    from lmmpy.objective._cholmod import CholmodFactorization
    from lmmpy.objective._dense import dense_factorization

    if path == "stochastic":   # opt-in only, never chosen: an estimate of log|A|
        from lmmpy.objective._stochastic import StochasticFactorization

        # 8 probes (not the class's 32): on the 1M ratings model θ̂ was within 3e-6 of the
        # exact one with 8, and the 2M fit takes 202 s with 32 (benchmarks/README.md)
        return StochasticFactorization(crossprods, layout, probes=STOCHASTIC_PROBES)
    if path not in (None, *_PATHS):
        raise ValueError(f"path must be one of {', '.join(map(repr, _PATHS))}, not {path!r}")
    candidates = {"dense": lambda: dense_factorization(crossprods, layout),
                  "blocked": lambda: blocked_factorization(crossprods, layout, terms)}
    for name in ("dense", "blocked"):
        if path in (None, name):
            factor = candidates[name]()
            if factor is not None:
                return factor
            if path == name:
                raise ValueError(f"the {name} factorization does not apply to these terms")
    return CholmodFactorization(crossprods, layout)


def conditional_variance_blocks(deviance: ProfiledDeviance, theta: np.ndarray,
                                chunk: int = 512) -> list[np.ndarray]:
    """Diagonal blocks of Λ A⁻¹ Λ' per term: array (levels, k, k) each (times σ² = condVar).

    Solves A X = Λ'E for chunks of unit vectors E, keeping only the entries within
    each k×k block, so memory stays O(q · chunk).
    """
    deviance._factorize(theta)
    Lambda_t = deviance.layout.Lambda(theta).T.tocsc()
    q = deviance.layout.size
    block_start = deviance.layout.block_start
    position = deviance.layout.position
    blocks = _empty_blocks(deviance.terms)
    for start in range(0, q, chunk):
        columns = np.arange(start, min(start + chunk, q))
        E = sp.csc_matrix((np.ones(len(columns)), (columns, np.arange(len(columns)))),
                          shape=(q, len(columns)))
        X = deviance.factor.solve_A((Lambda_t @ E).toarray())
        V = Lambda_t.T @ X  # columns of Λ A⁻¹ Λ'
        _scatter_blocks(V, columns, block_start, position, blocks)
    return blocks


def _empty_blocks(terms) -> list[np.ndarray]:
    return [np.zeros((term.n_levels, term.n_columns, term.n_columns)) for term in terms]


def _scatter_blocks(V, columns, block_start, position, blocks) -> None:
    term_of = np.concatenate([np.full(len(b) * b.shape[1], t) for t, b in enumerate(blocks)])
    first_of_term = np.concatenate([[0], np.cumsum([len(b) * b.shape[1] for b in blocks])])
    for local, column in enumerate(columns):
        t = term_of[column]
        k = blocks[t].shape[1]
        rows = block_start[column] + np.arange(k)
        level = (block_start[column] - first_of_term[t]) // k
        blocks[t][level, :, position[column]] = V[rows, local]
