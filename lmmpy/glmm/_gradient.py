"""The analytic gradient of the Laplace criterion, over (θ, β) (stage 2) or θ (nAGQ = 0).

With η = Xβ + ZΛ_θu + o, d_i(η_i) the unit deviances, pdev = Σ d_i + ‖u‖² and û
its minimiser (PIRLS: over u for stage 2, over ξ = (u, β) for nAGQ = 0), the
criterion is

    F = aic(μ̂) + ‖û‖² + log|A|,   A = Λ'Z'W(η̂)ZΛ + I,

W the Fisher working weights wt (dμ/dη)²/V(μ).  For a parameter t (θ_k, or β_l
in stage 2) F changes through η̂ and through Λ:

    dF/dt = r'dη̂/dt + 2û'dû/dt + 2 tr(A⁻¹Λ'Z'WZ ∂Λ/∂t),
    r_i = ∂aic/∂η_i + W'_i h_i,   h = diag(ZΛA⁻¹Λ'Z')  (the leverages),

W' = dW/dη.  The inner solution moves by the implicit function theorem:
H dξ̂/dt = −∂_t ∇_ξ pdev with H the Hessian of pdev (observed: Λ'Z'D''ZΛ + 2I
and the X blocks, D'' = diag(∂²d_i/∂η_i²); twice the PIRLS system when the
link is canonical, D'' = 2W).  One adjoint solve H (v, w) = (Λ'Z'r + 2û, X'r)
then gives every component (Bates et al. 2015 for A and Λ; the adjoint method as
in the derivatives of MixedModels.jl's and glmmTMB's Laplace approximations):

    s = r − D''(ZΛv + Xw)                     (w = 0 in stage 2)
    dF/dβ = X's                               (stage 2 only)
    dF/dθ_k = Σ_{(a,c) ∈ E_k} [(Z's)_a û_c − (Z'd')_a v_c] + 2 Σ_i W_i z_{i,a} (A⁻¹Λ'Z')_{c,i},

E_k the entries (a, c) of Λ holding θ_k and d' = ∂d/∂η.  The last sum and h
need A⁻¹ only at the pairs of random effects one row touches: the selected
inverse of :mod:`lmmpy.objective._condvar` (dense, blocked or sparse).  A
gradient costs about one more factorization and a few products with Z.

For a non-canonical link H is not the PIRLS system; the adjoint system is
solved by conjugate gradients preconditioned with the PIRLS system's solve
(Fisher and observed information differ by terms in y − μ).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from lmmpy.glmm._pirls import EliminatedSolve, PirlsResult, ReweightedSystem
from lmmpy.objective._matvec import times

CG_TOLERANCE = 1e-13
CG_MAX_ITERATIONS = 200


@dataclass(frozen=True)
class RowDerivatives:
    """Per-row derivatives in η at the inner solution (module docstring)."""

    d1: np.ndarray      # ∂d_i/∂η_i
    d2: np.ndarray      # ∂²d_i/∂η_i²
    W: np.ndarray       # Fisher working weights
    W1: np.ndarray      # dW_i/dη_i
    aic1: np.ndarray    # ∂aic/∂η_i


def row_derivatives(system: ReweightedSystem, eta: np.ndarray) -> RowDerivatives:
    """The derivatives of the unit deviances, working weights and aic in η."""
    response, family = system.response, system.response.family
    y, wt = response.y, response.weights
    if response._logit:   # one compiled pass, the expressions below operation by operation
        from lmmpy.glmm._kernels import logit_row_derivatives

        scale, size, successes, _ = response._binomial_counts
        out = [np.empty(len(eta)) for _ in range(5)]
        logit_row_derivatives(np.asarray(eta, dtype=float), y, wt, scale, size, successes,
                              *out)
        return RowDerivatives(*out)
    mu = family.linkinv(eta)
    m1, m2 = family.mu_eta(eta), family.link.mu_eta2(eta)
    V, V1 = family.variance(mu), family.variance_derivative(mu)
    d_mu = -2 * wt * (y - mu) / V
    d2_mu = 2 * wt * (1 / V + (y - mu) * V1 / V**2)
    W = wt * m1**2 / V
    W1 = wt * (2 * m1 * m2 / V - m1**3 * V1 / V**2)
    aic1 = response.aic_derivative(mu) * m1
    return RowDerivatives(d_mu * m1, d2_mu * m1**2 + d_mu * m2, W, W1, aic1)


def laplace_gradient(system: ReweightedSystem, result: PirlsResult,
                     vary_beta: bool, with_shape: bool = False,
                     slopes: list | None = None,
                     information: list | None = None) -> np.ndarray:
    """dF/dθ (``vary_beta``: nAGQ = 0, β inside PIRLS) or dF/d(θ, β) at the PIRLS
    result, whose factor must be at its θ and final weights (as :func:`pirls` leaves it);
    ``with_shape`` appends dF/d log k, k the negative binomial's shape
    (:func:`shape_derivative`).  With ``vary_beta``, a list ``slopes`` receives
    (dû/dθ, dβ̂/dθ) (:func:`stage1_mode_slopes`, on the adjoint's solve).

    Examples
    --------
    >>> import lmmpy
    >>> from lmmpy.glmm.fit import glmm_setup
    >>> from lmmpy.glmm._pirls import pirls
    >>> system = glmm_setup("cbind(incidence, size - incidence) ~ period + (1 | herd)",
    ...                     lmmpy.datasets.load("cbpp"), "binomial")
    >>> r = pirls(system, np.array([0.642]), np.array([-1.4, -1.0, -1.1, -1.6]), None, False)
    >>> laplace_gradient(system, r, vary_beta=False).shape
    (5,)
    """
    theta, u = result.theta, result.u
    design = system.design
    Z, X = design.Z, design.X.values
    rows = row_derivatives(system, result.eta)
    effects = _RowEffects(system, theta)
    inverse = _selected_inverse(result.objective, theta)
    w_rows = effects.inverse_times_g(inverse)              # (A⁻¹Λ'Z')[c, i] per row
    leverage = np.einsum("ik,ik->i", effects.g, w_rows)
    r = rows.aic1 + rows.W1 * leverage
    Zt = system.Zt
    right = (system.times_Lambda_t(theta, times(Zt, r)) + 2 * u, X.T @ r if vary_beta else None)
    fisher = _FisherSolve(system, result, rows.W, vary_beta)
    v, w = _adjoint_solve(system, result, rows, right, fisher)
    if vary_beta and slopes is not None:
        slopes.extend(stage1_mode_slopes(system, result, rows, fisher))
    moved = times(Z, system.times_Lambda(theta, v))
    if w is not None:
        moved = moved + X @ w
    s = r - rows.d2 * moved
    e, f = times(Zt, s), times(Zt, rows.d1)
    layout = system.layout()
    a, c = layout.lambda_rows, layout.lambda_cols
    per_entry = e[a] * u[c] - f[a] * v[c]
    gradient = np.bincount(layout.lambda_theta, per_entry, minlength=len(theta))
    gradient += 2 * effects.trace_terms(rows.W, w_rows, len(theta))
    if information is not None:
        information.append(effects.information(system, theta, rows.W, w_rows))
    if not vary_beta:
        gradient = np.concatenate([gradient, X.T @ s])
    if with_shape:
        gradient = np.append(gradient, shape_derivative(system, result, rows, leverage, moved))
    return gradient


def shape_derivative(system: ReweightedSystem, result: PirlsResult, rows: RowDerivatives,
                     leverage: np.ndarray, moved: np.ndarray) -> float:
    """dF/d log k for the negative binomial's shape k (glmer_nb's joint search).

    At fixed η, k moves aic and, through V(μ) = μ + μ²/k, the weights W (so log|A|,
    by the leverages h) and the unit deviances' slopes d' (so the inner solution, by
    the adjoint's change of η, ``moved`` = ZΛv + Xw):

        dF/dk = Σ_i ∂_k aic_i + h_i ∂_k W_i − moved_i ∂_k d'_i.
    """
    response, family = system.response, system.response.family
    y, wt = response.y, response.weights
    mu = family.linkinv(result.eta)
    V = family.variance(mu)
    aic_k, V_k = family.shape_derivatives(y, mu, wt)
    W_k = -rows.W * V_k / V
    d1_k = 2 * wt * (y - mu) * V_k / V**2 * family.mu_eta(result.eta)
    return family.theta * float(np.sum(aic_k + leverage * W_k - moved * d1_k))


def mode_derivatives(system: ReweightedSystem, result: PirlsResult) -> np.ndarray:
    """dû/d(θ, β) at a stage-2 PIRLS result (β fixed in PIRLS), q × (n_θ + p): a first-order
    prediction of û at nearby (θ, β), to start PIRLS there (the Hessian's evaluations).

    With g(u) = ∇_u pdev / 2 = Λ'Z'd'/2 + u = 0 at û, dû/dt = −(∂g/∂u)⁻¹ ∂g/∂t:
    ∂g/∂β = Λ'Z'D X and ∂g/∂θ_k = E_k'Z'd'/2 + Λ'Z'D Z E_k û (D = diag(d''/2), E_k the
    entries of Λ holding θ_k), and ∂g/∂u = Λ'Z'DZΛ + I is taken as the PIRLS system
    A (equal for a canonical link; close enough to start from for the others).
    """
    theta, u = result.theta, result.u
    design = system.design
    Z, X = design.Z, design.X.values
    rows = row_derivatives(system, result.eta)
    half = rows.d2 / 2
    layout = system.layout()
    a, c, k = layout.lambda_rows, layout.lambda_cols, layout.lambda_theta
    n_theta = len(theta)
    Zt = system.Zt
    half_first = times(Zt, rows.d1 / 2)
    moved_u = np.zeros((layout.size, n_theta))      # E_k û, one column per θ_k
    np.add.at(moved_u, (a, k), u[c])
    right = np.zeros((layout.size, n_theta + X.shape[1]))
    np.add.at(right, (c, k), half_first[a])         # E_k'Z'd'/2
    right[:, :n_theta] += system.times_Lambda_t(theta, times(Zt, half[:, None]
                                                             * times(Z, moved_u)))
    right[:, n_theta:] = system.times_Lambda_t(theta, times(Zt, half[:, None] * X))
    solved = np.asarray(result.objective.factor.solve_A(right))
    return -solved.reshape(right.shape)


def stage1_mode_slopes(system: ReweightedSystem, result: PirlsResult, rows: RowDerivatives,
                       fisher: _FisherSolve) -> tuple[np.ndarray, np.ndarray]:
    """dû/dθ (q × n_θ) and dβ̂/dθ (p × n_θ) at a PIRLS result with β inside (nAGQ = 0): a
    first-order prediction of (û, β̂) at a nearby θ, to start PIRLS there (the descent's
    next evaluations), as :func:`mode_derivatives` for stage 2.

    With g = ∇_(u, β) pdev / 2 = (Λ'Z'd'/2 + u, X'd'/2) = 0 at (û, β̂), dξ̂/dθ_k =
    −(∂g/∂ξ)⁻¹ ∂g/∂θ_k: ∂g/∂θ_k = (E_k'Z'd'/2 + Λ'Z'DZE_k û, X'DZE_k û), D = diag(d''/2),
    and ∂g/∂ξ taken as the PIRLS system (``fisher``; equal for a canonical link).
    """
    theta, u = result.theta, result.u
    design = system.design
    Z, X = design.Z, design.X.values
    layout = system.layout()
    a, c, k = layout.lambda_rows, layout.lambda_cols, layout.lambda_theta
    n_theta = len(theta)
    Zt = system.Zt
    moved_u = np.zeros((layout.size, n_theta))      # E_k û, one column per θ_k
    np.add.at(moved_u, (a, k), u[c])
    weighted = (rows.d2 / 2)[:, None] * times(Z, moved_u)
    right_u = system.times_Lambda_t(theta, times(Zt, weighted))
    half_first = times(Zt, rows.d1 / 2)
    np.add.at(right_u, (c, k), half_first[a])       # E_k'Z'd'/2
    du, dbeta = fisher(right_u, X.T @ weighted)   # one solve for every θ_k
    return -du, -dbeta


class _RowEffects:
    """Per row: the positions of the random effects it touches, Z's values there and ZΛ's
    (g = x'T per term), all (n, K) with K the total columns of the terms."""

    def __init__(self, system: ReweightedSystem, theta: np.ndarray):
        self.positions, self.z, self.theta_slots = _row_layout(system)
        g, start = [], 0
        for term in system.design.terms:
            T = term.template(theta[start:start + term.n_theta])
            x = term.model_matrix.values
            g.append(x * T[0, 0] if T.shape == (1, 1) else x @ T)
            start += term.n_theta
        self.g = g[0] if len(g) == 1 else np.hstack(g)

    def inverse_times_g(self, inverse) -> np.ndarray:
        """(A⁻¹Λ'Z')[p_a, i] for each row i and each of its positions p_a."""
        P, g = self.positions, self.g
        K = P.shape[1]
        out = np.zeros(g.shape)
        for a in range(K):
            for b in range(a, K):
                entries = inverse.entries(P[:, a], P[:, b])
                out[:, a] += entries * g[:, b]
                if b != a:
                    out[:, b] += entries * g[:, a]
        return out

    def trace_terms(self, W: np.ndarray, w_rows: np.ndarray, n_theta: int) -> np.ndarray:
        """tr(A⁻¹Λ'Z'WZ E_k) = Σ_i W_i z_{i,a} (A⁻¹Λ'Z')[c, i] for θ_k at T[a, c]."""
        return np.array([np.dot(W * self.z[:, a], w_rows[:, c])
                         for a, c in self.theta_slots])


    def information(self, system: ReweightedSystem, theta: np.ndarray, W: np.ndarray,
                    w_rows: np.ndarray) -> np.ndarray | None:
        """A curvature model of stage 1's criterion at θ for a diagonal Λ (scalar terms;
        None otherwise), from the gradient's own trace terms: BFGS's first metric.

        Per level j of term t, Q_j = Σ_{i∈j} W_i z_i (A⁻¹Λ'Z')[j, i] = (A⁻¹M)_jj/θ_t,
        M = Λ'Z'WZΛ, the quantity the gradient sums.  Were the weights fixed (the linear
        mixed model of the working response, σ = 1 known), the expected information of θ_t
        would give the criterion the curvature 4 Σ_j Q_j² (as
        :func:`lmmpy.objective._gradient.information_metric` for ``lmer``, without σ's
        profiling); the other terms' off-diagonal blocks of A⁻¹ are left out.  VerbAgg at
        stage 1's optimum: (535, 325) against the Hessian's diagonal (428, 320), where EM's
        curvature is (704, 389).  Costs one weighted count per term.
        """
        terms = system.design.terms
        if any(term.n_columns != 1 for term in terms):
            return None
        diagonal = np.empty(len(theta))
        for t, term in enumerate(terms):
            per_level = np.bincount(term.codes, W * self.z[:, t] * w_rows[:, t],
                                    minlength=term.n_random_effects)
            diagonal[t] = 4.0 * float(per_level @ per_level)
        return np.diag(diagonal)


def _row_layout(system: ReweightedSystem):
    """(positions, z, θ slots) of :class:`_RowEffects`: weight- and θ-free, made once per
    system (kept on it)."""
    kept = system.__dict__.get("_row_layout")
    if kept is not None:
        return kept
    positions, z, slots = [], [], []
    offset, column = 0, 0
    for term in system.design.terms:
        k = term.n_columns
        positions.append(offset + term.codes[:, None] * k + np.arange(k))
        z.append(term.model_matrix.values)
        for row, col in zip(term.theta_rows, term.theta_cols, strict=True):
            slots.append((column + row, column + col))
        offset += term.n_random_effects
        column += k
    # positions by column (Fortran order): each column is one entries() call's indices
    kept = (np.asfortranarray(np.hstack(positions), dtype=np.int64), np.hstack(z), slots)
    system.__dict__["_row_layout"] = kept
    return kept


def _selected_inverse(objective, theta: np.ndarray):
    """A⁻¹ at the pairs of a row's random effects, on the factor as PIRLS left it."""
    from lmmpy.objective._condvar import _BlockedInverse, _DenseInverse, _sparse_inverse

    factor = objective.factor
    if objective.path == "dense":
        return _DenseInverse(factor.solve_A(np.eye(objective.layout.size)))
    if objective.path == "blocked":
        return _BlockedInverse(factor, theta)
    return _sparse_inverse(objective.crossprods.ZtZ, objective.layout, factor, theta)


def _adjoint_solve(system, result, rows: RowDerivatives, right, fisher):
    """H (v, w) = right (w only with β inside PIRLS), H/2 the observed system, ``fisher``
    the PIRLS system's solve."""
    half = (right[0] / 2, None if right[1] is None else right[1] / 2)
    scale = max(np.max(np.abs(rows.W)), 1e-300)
    if np.max(np.abs(rows.d2 / 2 - rows.W)) <= 1e-10 * scale:   # canonical link
        return fisher(*half)
    return _conjugate_gradients(_ObservedSystem(system, result, rows.d2 / 2), fisher, half)


class _FisherSolve:
    """Solves with the PIRLS system [[A, Λ'Z'WX], [X'WZΛ, X'WX]] (or A alone) by
    elimination of β through the factor's ``solve_A`` (:class:`EliminatedSolve`)."""

    def __init__(self, system, result, W, with_beta: bool):
        self.solve_A = result.objective.factor.solve_A
        self.system_solve = None
        if with_beta:
            X = system.design.X.values
            WX = W[:, None] * X
            B = system.times_Lambda_t(result.theta, times(system.Zt, WX))
            self.system_solve = EliminatedSolve(self.solve_A, B, X.T @ WX)

    def __call__(self, g_u, g_beta):
        if self.system_solve is None:
            return np.asarray(self.solve_A(g_u)).reshape(g_u.shape), None
        return self.system_solve(g_u, g_beta)


class _ObservedSystem:
    """(u, β) ↦ H/2 (u, β) with weights δ = d''/2 (the Hessian of pdev, halved)."""

    def __init__(self, system, result, delta):
        design = system.design
        self.Z, self.X = design.Z, design.X.values
        self.Lambda = system.Lambda(result.theta)
        self.delta = delta

    def __call__(self, u, beta):
        eta = self.Z @ (self.Lambda @ u)
        if beta is not None:
            eta = eta + self.X @ beta
        weighted = self.delta * eta
        top = u + np.asarray(self.Lambda.T @ (self.Z.T @ weighted))
        return top, None if beta is None else self.X.T @ weighted


def _conjugate_gradients(operator, preconditioner, right):
    """Preconditioned CG on the pair (u, β) (β None: u alone)."""
    def dot(a, b):
        return float(a[0] @ b[0] + (0.0 if a[1] is None else a[1] @ b[1]))

    def axpy(alpha, a, b):   # b + alpha a
        return (b[0] + alpha * a[0], None if b[1] is None else b[1] + alpha * a[1])

    x = preconditioner(*right)
    applied = operator(*x)
    residual = (right[0] - applied[0], None if right[1] is None else right[1] - applied[1])
    norm = np.sqrt(dot(right, right))
    z = preconditioner(*residual)
    direction = z
    rz = dot(residual, z)
    for _ in range(CG_MAX_ITERATIONS):
        if np.sqrt(dot(residual, residual)) <= CG_TOLERANCE * norm:
            break
        Ap = operator(*direction)
        alpha = rz / dot(direction, Ap)
        x = axpy(alpha, direction, x)
        residual = axpy(-alpha, Ap, residual)
        z = preconditioner(*residual)
        rz_new = dot(residual, z)
        direction = axpy(rz_new / rz, direction, z)
        rz = rz_new
    return x
