"""glmer's optimizer on centred, unit-scale columns (as lmer's, see
:mod:`lmmpy.design._conditioning`).

The Laplace and quadrature criteria depend on the random-effects columns only through
ZΣZ', like the linear model's deviance, so θ can be optimised for the columns Z C and
mapped back.  Without it a random slope on an uncentred covariate (x = 500 ± 100)
stopped 1.5 log-likelihood units below the optimum, or 500 to 5,000 units below it
with x = 1e4 ± 100, or failed inside NLopt.  Unlike lmer's, glmer's optimizer also
moves β (stage 2 over (θ, β)) and its standard errors come from a finite-difference
Hessian over (θ, β): both go wrong when a fixed-effect column is far from centred (an
intercept and a slope nearly collinear, steps of 1e-4 in a slope per unit of x = 1e4
moving η by 1), so far-off fixed-effect columns are centred and scaled too (X D, β =
D β̃).  The fit's state (β̂, û, the deviance) is then taken by PIRLS on the design's own
columns at the mapped (θ, β); the Hessian is the conditioned one mapped to β's scale
(the β block of its inverse is D H̃⁻¹ D', whatever θ's parametrisation).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, replace

import numpy as np

from lmmpy._warnings import ScaleWarning
from lmmpy.design._conditioning import (
    ConditioningMap,
    column_map,
    conditioned_columns,
    conditioned_design,
    conditioned_theta,
    conditioning_map,
    digits_lost,
    original_theta,
)
from lmmpy.glmm._optimize import GlmmCriterion, GlmmOptimization
from lmmpy.glmm._pirls import ReweightedSystem

# a fixed-effect column is conditioned only when far off: centring dummies of factors
# would change every fit's path for nothing
FIXED_CENTRED, FIXED_UNIT_SCALE = 3.0, 10.0


@dataclass(frozen=True)
class GlmmConditioning:
    """The maps of a conditioned GLMM: each random-effects term's C, and X's D (None:
    identity)."""

    terms: ConditioningMap
    fixed: np.ndarray | None

    @property
    def keeps_z(self) -> bool:
        """Whether only X is conditioned: Z, its weighted tables and its factor pattern are
        the design's own."""
        return all(C is None for C in self.terms)

    def fixed_map(self, p: int) -> np.ndarray:
        return np.eye(p) if self.fixed is None else self.fixed


def fitting_criterion(criterion: GlmmCriterion) -> tuple[GlmmCriterion, GlmmConditioning | None]:
    """The criterion the optimizer works on: ``criterion`` itself, or the same model on
    the conditioned columns with the maps (None when no column needs it)."""
    system = criterion.system
    design = system.design
    terms = conditioning_map(design)
    fixed = column_map(design.X.values, design.X.names, centred=FIXED_CENTRED,
                       unit_scale=FIXED_UNIT_SCALE)
    if fixed is None and all(C is None for C in terms):
        return criterion, None
    conditioned = conditioned_design(design, terms)
    if fixed is not None:
        conditioned = replace(conditioned, X=replace(design.X, values=design.X.values @ fixed))
    conditioning = GlmmConditioning(terms, fixed)
    tables = None
    if conditioning.keeps_z:   # Z and its tables are the same
        tables = system._crossprods
        if "Z" in design.__dict__:   # built once per design (a cached property): shared
            conditioned.__dict__["Z"] = design.Z
    system = ReweightedSystem(conditioned, system.response, system.path, tables=tables)
    return criterion.on(system), conditioning


def conditioned_start(start: np.ndarray | None, criterion: GlmmCriterion,
                      conditioning: GlmmConditioning | None) -> np.ndarray | None:
    """A start (θ, then β if given) on the conditioned columns."""
    if start is None or conditioning is None:
        return start
    n_theta = criterion.n_theta
    theta = conditioned_theta(start[:n_theta], criterion.system.design, conditioning.terms)
    beta = start[n_theta:]
    if len(beta):
        beta = np.linalg.solve(conditioning.fixed_map(len(beta)), beta)
    return np.concatenate([theta, beta])


def original_optimization(optimization: GlmmOptimization, criterion: GlmmCriterion,
                          conditioning: GlmmConditioning | None) -> GlmmOptimization:
    """``optimization`` with θ̂ (and stage 1's θ) and β̂ on the design's own columns."""
    if conditioning is None:
        return optimization
    design, n_theta = criterion.system.design, criterion.n_theta
    theta = original_theta(optimization.parameters[:n_theta], design, conditioning.terms)
    beta = optimization.parameters[n_theta:]
    beta = conditioning.fixed_map(len(beta)) @ beta
    return replace(optimization, parameters=np.concatenate([theta, beta]),
                   stage1_theta=original_theta(optimization.stage1_theta, design,
                                               conditioning.terms))


def start_from_fitting(criterion: GlmmCriterion, fitting: GlmmCriterion,
                       conditioning: GlmmConditioning | None) -> None:
    """Warm-start ``criterion`` (the design's own columns) from the conditioned one's last
    PIRLS solution: the same u, β mapped back (the state at θ̂ then takes a step or two),
    on the conditioned system's analysed factor pattern when only X was conditioned."""
    if conditioning is not None:
        criterion.start_from(fitting, conditioning.fixed_map(criterion.system.n_fixed))
        if conditioning.keeps_z:   # the same Z: its analysed pattern
            criterion.system.share_factor_structure(fitting.system)


def original_hessian(hessian: np.ndarray, n_theta: int,
                     conditioning: GlmmConditioning | None) -> np.ndarray:
    """The Hessian over (θ̃, β̃) as one over (θ̃, β) (β = D β̃): T' H̃ T with
    T = diag(I, D⁻¹), so that its inverse's β block is D H̃⁻¹[β̃] D'."""
    if conditioning is None or conditioning.fixed is None:
        return hessian
    T = np.eye(len(hessian))
    T[n_theta:, n_theta:] = np.linalg.inv(conditioning.fixed)
    return T.T @ hessian @ T


def warn_if_digits_lost(value: float, exact: float, criterion: GlmmCriterion,
                        conditioning: GlmmConditioning | None) -> None:
    """A :class:`~lmmpy.ScaleWarning` when the criterion on the design's own columns at
    θ̂ has lost digits against the conditioned one."""
    if conditioning is None or not digits_lost(value, exact):
        return
    columns = conditioned_columns(criterion.system.design, conditioning.terms,
                                  conditioning.fixed)
    warnings.warn(
        f"column(s) {', '.join(columns)} are far from centred or of unit scale: the optimum "
        f"was found on centred, scaled columns, but the criterion on the columns as given "
        f"loses digits there ({value:.8g} against {exact:.8g}); centre and scale the "
        f"column(s) in the data", ScaleWarning, stacklevel=4)
