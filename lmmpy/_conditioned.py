"""Stage 4 on well-conditioned columns: θ̂ found where the optimizer sees a round valley.

:mod:`lmmpy.design._conditioning` maps each random-effects term's columns to
centred, unit-scale ones (the same model); this module runs the optimizer
there and maps θ̂ back, so every caller that fits θ (``lmer``, refits to new
responses, the ML refit of ``anova``) reaches the optimum whatever the
location and scale of the covariates.  Terms whose columns are already fine
leave the problem as it is (no second set of cross-products).

A design without its rows in memory (fitted from chunks, :mod:`lmmpy.chunked`)
gets the conditioned products from its own algebraically: Z̃ = Z D with D
block diagonal, I_ℓ ⊗ C for each term, so Z̃'WZ̃ = D'(Z'WZ)D and
Z̃'W[X y] = D'Z'W[X y], with X and y untouched (:func:`conditioned_products`).
"""

from __future__ import annotations

import warnings
from dataclasses import replace

import numpy as np
import scipy.sparse as sp

from lmmpy._moments import moment_start
from lmmpy._warnings import ScaleWarning
from lmmpy.design import Design
from lmmpy.design._conditioning import (
    ConditioningMap,
    conditioned_columns,
    conditioned_design,
    conditioned_theta,
    conditioning_map,
    digits_lost,
    original_theta,
)
from lmmpy.objective import CrossProducts, ProfiledDeviance, Solution, cross_products
from lmmpy.optimize import OptSummary, minimize_deviance


class ConditionedObjective:
    """The profiled deviance on a design's conditioned columns, with the map back.

    ``deviance`` is None when no term needs conditioning.

    Examples
    --------
    >>> import lmmpy
    >>> m = lmmpy.lmer("Reaction ~ Days + (Days | Subject)", lmmpy.datasets.load("sleepstudy"))
    >>> conditioned = ConditionedObjective.of(m.design, m.objective)
    >>> same = conditioned.deviance(conditioned.to_conditioned(m.theta))  # the same model
    >>> abs(float(same - m.objective(m.theta))) < 1e-8
    True
    """

    def __init__(self, design: Design, matrices: ConditioningMap,
                 conditioned: Design | None = None, deviance: ProfiledDeviance | None = None):
        self.design, self.matrices = design, matrices
        self.conditioned, self.deviance = conditioned, deviance

    @classmethod
    def of(cls, design: Design, objective: ProfiledDeviance) -> ConditionedObjective:
        """Conditioning for ``design``, on the same factorization as ``objective``."""
        matrices = conditioning_map(design)
        if all(C is None for C in matrices):
            return cls(design, matrices)
        conditioned = conditioned_design(design, matrices)
        crossprods = (cross_products(conditioned) if design.in_memory
                      else conditioned_products(objective.crossprods, design, matrices))
        deviance = ProfiledDeviance(crossprods, conditioned.terms, objective.reml,
                                    _path=objective.path)
        return cls(design, matrices, conditioned, deviance)

    def with_response(self, y: np.ndarray, reml: bool | None = None) -> ConditionedObjective:
        """The same conditioning for a new response (the refits of a bootstrap)."""
        if self.deviance is None:
            return self
        conditioned = self.conditioned
        crossprods = self.deviance.crossprods.with_response(
            conditioned.Z, conditioned.X.values, y - conditioned.offset, conditioned.weights)
        return ConditionedObjective(self.design, self.matrices, conditioned,
                                    self.deviance.with_crossprods(crossprods, reml))

    def with_reml(self, reml: bool) -> ConditionedObjective:
        if self.deviance is None:
            return self
        deviance = self.deviance.with_crossprods(self.deviance.crossprods, reml=reml)
        return ConditionedObjective(self.design, self.matrices, self.conditioned, deviance)

    def original_solution(self, solution: Solution, theta: np.ndarray) -> Solution:
        """The conditioned problem's ``solution`` on the design's columns at their θ:
        b = C b̃ for each level of each term, u the spherical modes with Λ(θ)u = b (the
        minimum-norm ones where T is singular)."""
        b_parts, u_parts = [], []
        offset, theta_offset = 0, 0
        for term, C in zip(self.design.terms, self.matrices, strict=True):
            size = term.n_random_effects
            b = solution.b[offset:offset + size].reshape(term.n_levels, term.n_columns)
            T = term.template(theta[theta_offset:theta_offset + term.n_theta])
            offset, theta_offset = offset + size, theta_offset + term.n_theta
            if C is not None:
                b = b @ C.T
            b_parts.append(b.ravel())
            u_parts.append((b @ np.linalg.pinv(T).T).ravel())
        return replace(solution, theta=np.asarray(theta, dtype=float),
                       b=np.concatenate(b_parts), u=np.concatenate(u_parts))

    def to_conditioned(self, theta: np.ndarray) -> np.ndarray:
        return conditioned_theta(theta, self.design, self.matrices)

    def to_original(self, theta: np.ndarray) -> np.ndarray:
        return original_theta(theta, self.design, self.matrices)


def minimize_conditioned(objective: ProfiledDeviance, conditioned: ConditionedObjective,
                         start: np.ndarray | None = None, *,
                         em_start: bool | None = None) -> OptSummary:
    """The optimizer's summary of :func:`fit_conditioned`."""
    return fit_conditioned(objective, conditioned, start, em_start=em_start)[0]


def fit_conditioned(objective: ProfiledDeviance, conditioned: ConditionedObjective,
                    start: np.ndarray | None = None, *, em_start: bool | None = None,
                    minimize=minimize_deviance) -> tuple[OptSummary, Solution]:
    """:func:`~lmmpy.optimize.minimize_deviance` of ``objective`` (the design's own
    columns), run on ``conditioned``'s columns when it has them.

    Without ``start`` the optimizer starts where lme4 starts (each term's T the
    identity), on the conditioned columns — or, for random intercepts whose
    evaluations factor a dense matrix of 2,500 or more, from moment estimates
    (:mod:`lmmpy._moments`) — with EM steps first on the BFGS path
    (``em_start``, default: only without ``start``).  The summary's θ̂, start and
    objective are on the design's columns; its gradient and Hessian (the
    convergence checks) are those of the conditioned problem, where lme4's
    tolerances mean the same for every term.  ``minimize`` is the optimizer stage,
    called as ``minimize_deviance`` is (``lmer`` passes its control's).

    The solution at θ̂ (β̂, b̂, σ̂, the factors' determinants and the objective)
    comes from the conditioned problem too, where it is exact: on columns such
    as a timestamp the original ones lose digits to cancellation (the objective
    by 1e-3 with a random slope on x = 1e6 ± 1).  β̂, σ̂, R_X and the objective are
    the same on both; b̂ = C b̃ level by level.
    """
    design = conditioned.design
    em_start = start is None if em_start is None else em_start
    lower = design.theta_lower_bounds()
    if conditioned.deviance is None:
        moments = moment_start(design, objective) if start is None else None
        if moments is not None:   # near θ̂: BFGS from EM's curvature, no EM step
            summary = minimize(objective, moments, lower, em_start=em_start, em_steps=0)
            return summary, objective.solve(summary.theta)
        start = design.theta_start() if start is None else start
        summary = minimize(objective, start, lower, em_start=em_start)
        return summary, objective.solve(summary.theta)
    inner_start = design.theta_start() if start is None else conditioned.to_conditioned(start)
    summary = minimize(conditioned.deviance, inner_start, lower, em_start=em_start)
    theta = conditioned.to_original(summary.theta)
    solution = conditioned.original_solution(conditioned.deviance.solve(summary.theta), theta)
    summary = replace(summary, theta_start=conditioned.to_original(inner_start), theta=theta,
                      objective=solution.deviance)
    _warn_if_digits_lost(objective, conditioned, theta, solution.deviance)
    return summary, solution


def _warn_if_digits_lost(objective, conditioned, theta, exact) -> None:
    """A :class:`~lmmpy.ScaleWarning` when the deviance on the design's own columns at θ̂
    has lost digits (what later works from θ — profiles, Satterthwaite's derivatives,
    conditional variances — uses those columns)."""
    value = float(objective(theta))
    if not digits_lost(value, exact):
        return
    columns = conditioned_columns(conditioned.design, conditioned.matrices)
    warnings.warn(
        f"random-effects column(s) {', '.join(columns)} are far from centred or of unit scale: "
        f"the fit was made on centred, scaled columns and is exact, but the deviance in "
        f"lme4's θ loses digits ({value:.8g} against {exact:.8g}), and so do profiles, "
        f"Satterthwaite/Kenward-Roger df and conditional variances computed from it; "
        f"centre and scale the column(s) in the data for those",
        ScaleWarning, stacklevel=4)


def conditioned_products(crossprods: CrossProducts, design: Design,
                         matrices: ConditioningMap) -> CrossProducts:
    """The products of the conditioned design, from ``crossprods`` (no rows).

    The pattern of Z'WZ is kept, explicit zeros too, whatever the transformed values.

    Examples
    --------
    >>> import lmmpy
    >>> from lmmpy.design._conditioning import conditioned_design, conditioning_map
    >>> m = lmmpy.lmer("Reaction ~ Days + (Days | Subject)", lmmpy.datasets.load("sleepstudy"))
    >>> C = conditioning_map(m.design)
    >>> ours = conditioned_products(m.objective.crossprods, m.design, C)
    >>> rows = cross_products(conditioned_design(m.design, C))
    >>> bool(np.allclose(ours.ZtZ_dense(), rows.ZtZ_dense(), rtol=1e-12, atol=1e-9))
    True
    """
    blocks = [sp.kron(sp.identity(term.n_levels), np.eye(term.n_columns) if C is None else C)
              for term, C in zip(design.terms, matrices, strict=True)]
    D = sp.block_diag(blocks, format="csc")
    ZtXy = np.asarray(D.T @ crossprods.ZtXy)
    product = crossprods.ZtZ_matrix
    if not sp.issparse(product):
        ZtZ = np.asarray(D.T @ product @ D)
    else:
        transformed = (D.T @ product @ D).tocoo()
        pattern = product.tocoo()
        ZtZ = sp.coo_matrix((np.concatenate([transformed.data, np.zeros(pattern.nnz)]),
                             (np.concatenate([transformed.row, pattern.row]),
                              np.concatenate([transformed.col, pattern.col]))),
                            shape=product.shape).tocsc()   # sums duplicates, keeps zeros
        ZtZ.sort_indices()
    return replace(crossprods, ZtXy=ZtXy, ZtZ_product=ZtZ)
