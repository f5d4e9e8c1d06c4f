"""Kenward–Roger: the adjusted covariance of β̂ and the denominator df of F tests.

Kenward & Roger (1997, Biometrics 53: 983–997), as pbkrtest computes it
(Halekoh & Højsgaard 2014, JSS 59(9); its ``vcovAdj``, ``.KR_adjust``, ``Lb_ddf``).

The marginal covariance is linear in the covariance parameters γ (the entries
of each term's covariance matrix, lower triangle, and σ²):

    Σ = Σ_r γ_r G_r + σ² W⁻¹,   G_r = Z E_r Z',

E_r selecting, for every level of the term, the (i, j) and (j, i) entries.
With Φ = (X'Σ⁻¹X)⁻¹ = Var(β̂) and S = Σ⁻¹,

    P_r = −X'S G_r S X,   Q_rs = X'S G_r S G_s S X,
    I_rs = tr(G_r S G_s S) − 2 tr(Φ Q_rs) + tr(Φ P_r Φ P_s)   (twice the REML information),
    W = 2 I⁻¹,   U = Σ_rs W_rs (Q_rs − P_r Φ P_s),
    Φ_A = Φ + 2 Φ U Φ

(the second-derivative term R_rs is zero: Σ is linear in γ).  For H0: Lβ = 0
with q = rank(L), Θ = L'(LΦL')⁻¹L and A1 = Σ W_rs tr(ΘΦP_rΦ) tr(ΘΦP_sΦ),
A2 = Σ W_rs tr(ΘΦP_rΦΘΦP_sΦ), the F statistic (Lβ̂)'(LΦ_AL')⁻¹(Lβ̂)/q, scaled
by λ, is F(q, m) with m from Kenward & Roger's moment matching (their eq. 9–11).

Nothing here is n×n.  With U = [Z X] and C = U'WU (the model's cross-products),
T = Λ (Λ'Z'WZΛ + I)⁻¹ Λ' and Π = [T 0; 0 0] C,  Woodbury gives
S = σ⁻² (W − W Z T Z' W), hence (with D = W⁻¹)

    U'S(DS)ᵐU = σ⁻²⁽ᵐ⁺¹⁾ C (I − Π)ᵐ⁺¹,   tr(DSDS) = σ⁻⁴ (n − 2 tr Π + tr Π²),

and every trace and product above is a block of these (q + p)-square
matrices.  The cost is O((q + p)³) in the number of random effects q, not in
n; fits with more than ``MAX_SIZE`` random effects plus coefficients are
refused.  Prior weights enter through W⁻¹ (pbkrtest ignores them).
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from lmmpy.objective._factorization import require_exact

if TYPE_CHECKING:
    from lmmpy.results import LinearMixedModel

MAX_SIZE = 3000
_SINGULAR_INFORMATION = 1e-10
_CACHE: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


@dataclass(frozen=True)
class KenwardRoger:
    """Φ, Φ_A and the pieces of the df computation (pbkrtest's ``vcovAdj`` and attributes).

    Attributes
    ----------
    phi : Var(β̂), unadjusted
    phi_adjusted : Φ_A, Kenward and Roger's adjusted covariance
    P : P_r for every covariance parameter, shape (m, p, p)
    W : 2 × the inverse expected information of the covariance parameters (m × m)
    """

    phi: np.ndarray
    phi_adjusted: np.ndarray
    P: np.ndarray
    W: np.ndarray


def kenward_roger(model: LinearMixedModel) -> KenwardRoger:
    """Kenward and Roger's adjusted covariance of β̂ (cached per model).

    Examples
    --------
    >>> import lmmpy
    >>> m = lmmpy.lmer("Reaction ~ Days + (Days | Subject)", lmmpy.datasets.load("sleepstudy"))
    >>> kenward_roger(m).phi_adjusted.round(3)
    array([[46.575, -1.451],
           [-1.451,  2.389]])
    """
    _check_model(model)
    if model not in _CACHE:
        _CACHE[model] = _compute(model)
    return _CACHE[model]


def _check_model(model: LinearMixedModel) -> None:
    require_exact(model.objective, "Kenward-Roger's method", "ddf='residual' or 'asymptotic' "
                  "does not")
    if not model.reml:
        raise ValueError("Kenward-Roger's method needs a REML fit; refit with reml=True "
                         "(pbkrtest refits ML fits with REML)")
    q, p = model.objective.layout.size, len(model.fixef)
    if q + p > MAX_SIZE:
        raise ValueError(
            f"Kenward-Roger is limited to {MAX_SIZE} random effects plus coefficients "
            f"(it works with dense matrices of that size); this model has {q} + {p}: "
            "use ddf='satterthwaite'")


def _compute(model: LinearMixedModel) -> KenwardRoger:
    blocks = _sandwiches(model)
    pairs = _parameter_selections(model)
    phi = model.vcov.to_numpy()
    P, Q, K = _derivative_terms(blocks, pairs)
    m = len(P)
    information = np.array([[K[r, s] - 2 * np.sum(phi * Q[r][s].T)
                             + np.sum((phi @ P[r]) * (P[s] @ phi)) for s in range(m)]
                            for r in range(m)])
    W = _inverse(information)
    U = sum(W[r, s] * (Q[r][s] - P[r] @ phi @ P[s]) for r in range(m) for s in range(m))
    return KenwardRoger(phi=phi, phi_adjusted=phi + 2 * phi @ U @ phi, P=np.array(P), W=W)


def _inverse(information: np.ndarray) -> np.ndarray:
    if np.min(np.abs(np.linalg.eigvalsh(information))) > _SINGULAR_INFORMATION:
        return 2 * np.linalg.inv(information)
    return 2 * np.linalg.pinv(information)


@dataclass(frozen=True)
class _Sandwiches:
    """U'SU, U'SDSU, U'SDSDSU (U = [Z X]) and tr(DSDS); q = number of random effects."""

    S1: np.ndarray
    S2: np.ndarray
    S3: np.ndarray
    trace_DSDS: float
    q: int


def _sandwiches(model: LinearMixedModel) -> _Sandwiches:
    objective = model.objective.with_crossprods(model.objective.crossprods)
    cp, theta = objective.crossprods, model.theta
    q, p = objective.layout.size, cp.n_fixed
    ZtX = cp.ZtX()  # the design's coordinates, as vcov's
    C = np.block([[cp.ZtZ_dense(), ZtX], [ZtX.T, cp.XtX()]])
    objective.solve(theta)  # leaves the factor of Λ'Z'WZΛ + I at θ̂
    Lambda = objective.layout.Lambda(theta)
    T = Lambda @ objective.factor.solve_A(Lambda.T.toarray())
    Pi = np.zeros_like(C)
    Pi[:q] = T @ C[:q]
    R = np.eye(q + p) - Pi
    s2 = model.sigma**2
    S1 = C @ R / s2
    S2 = S1 @ R / s2
    S3 = S2 @ R / s2
    trace = (cp.n_obs - 2 * np.trace(Pi) + np.sum(Pi * Pi.T)) / s2**2
    return _Sandwiches(S1, S2, S3, float(trace), q)


def _parameter_selections(model: LinearMixedModel) -> list[list[tuple[np.ndarray, np.ndarray]]]:
    """E_r = Σ (a, b) Sel_a Sel_b' for each covariance entry (i ≥ j) of each term."""
    out, offset = [], 0
    for term in model.design.terms:
        k = term.n_columns
        base = offset + k * np.arange(term.n_levels)
        for i, j in zip(term.theta_rows, term.theta_cols, strict=True):
            a, b = base + i, base + j
            out.append([(a, a)] if i == j else [(a, b), (b, a)])
        offset += term.n_random_effects
    return out


def _derivative_terms(blocks: _Sandwiches, pairs):
    """P_r, Q_rs and tr(G_r S G_s S) for the random-effect parameters and σ² (last)."""
    q = blocks.q
    Mzz, Mzx = blocks.S1[:q, :q], blocks.S1[:q, q:]
    Nzz, Nzx = blocks.S2[:q, :q], blocks.S2[:q, q:]
    P = [-sum(Mzx[a].T @ Mzx[b] for a, b in r) for r in pairs] + [-blocks.S2[q:, q:]]
    m = len(P)
    Q = [[None] * m for _ in range(m)]
    K = np.zeros((m, m))
    for r, pr in enumerate(pairs):
        for s, ps in enumerate(pairs):
            Q[r][s] = sum(Mzx[a].T @ Mzz[np.ix_(b, c)] @ Mzx[d] for a, b in pr for c, d in ps)
            K[r, s] = sum(np.sum(Mzz[np.ix_(b, c)] * Mzz[np.ix_(d, a)].T)
                          for a, b in pr for c, d in ps)
        Q[r][-1] = sum(Mzx[a].T @ Nzx[b] for a, b in pr)
        Q[-1][r] = Q[r][-1].T
        K[r, -1] = K[-1, r] = sum(np.trace(Nzz[np.ix_(b, a)]) for a, b in pr)
    Q[-1][-1] = blocks.S3[q:, q:]
    K[-1, -1] = blocks.trace_DSDS
    return P, Q, K


def contrast_df(model: LinearMixedModel, L: np.ndarray) -> float:
    """Kenward–Roger denominator df for H0: Lβ = 0, q = rows of L (pbkrtest's ``Lb_ddf``)."""
    return _moments(kenward_roger(model), np.atleast_2d(L))[0]


def _moments(kr: KenwardRoger, L: np.ndarray) -> tuple[float, float]:
    """Denominator df m and F scaling λ (Kenward & Roger 1997, eq. 9–11)."""
    phi, q = kr.phi, L.shape[0]
    Theta = L.T @ np.linalg.solve(L @ phi @ L.T, L)
    u = [Theta @ phi @ P @ phi for P in kr.P]
    traces = np.array([np.trace(x) for x in u])
    A1 = float(traces @ kr.W @ traces)
    A2 = float(sum(kr.W[r, s] * np.sum(u[r] * u[s].T)
                   for r in range(len(u)) for s in range(len(u))))
    B = (A1 + 6 * A2) / (2 * q)
    g = ((q + 1) * A1 - (q + 4) * A2) / ((q + 2) * A2)
    denominator = 3 * q + 2 * (1 - g)
    c1, c2, c3 = g / denominator, (q - g) / denominator, (q + 2 - g) / denominator
    V0, V1, V2 = 1 + c1 * B, 1 - c2 * B, 1 - c3 * B
    V0 = 0.0 if abs(V0) < 1e-10 else V0
    ratio = 1.0 if abs(1 - A2 / q) < 1e-14 and abs(V1) < 1e-14 else (1 - A2 / q) / V1
    rho = ratio**2 * V0 / (q * V2)
    df = 4 + (q + 2) / (q * rho - 1)
    scaling = 1.0 if abs(df - 2) < 1e-2 else df * (1 - A2 / q) / (df - 2)
    return float(df), float(scaling)


def f_statistic(model: LinearMixedModel, L: np.ndarray, beta: np.ndarray
                ) -> tuple[float, float, int, float]:
    """Kenward–Roger test of Lβ = 0 (β shifted by the right-hand side): F unscaled, λ F, q, m.

    L is first reduced to independent rows (pbkrtest's ``force_full_rank``).
    """
    kr = kenward_roger(model)
    L = _full_row_rank(L)
    q = L.shape[0]
    df, scaling = _moments(kr, L)
    Lb = L @ beta
    unscaled = float(Lb @ np.linalg.solve(L @ kr.phi_adjusted @ L.T, Lb)) / q
    return unscaled, scaling * unscaled, q, df


def _full_row_rank(L: np.ndarray) -> np.ndarray:
    _, s, Vt = np.linalg.svd(L, full_matrices=False)
    rank = int(np.sum(s > s[0] * max(L.shape) * np.finfo(float).eps))
    return L if rank == L.shape[0] else Vt[:rank]
