"""Warning classes, one per condition lme4 warns or messages about.

Filter them by class: ``warnings.simplefilter("ignore", lmmpy.SingularFitWarning)``.
"""

from __future__ import annotations

__all__ = [
    "ApproximationWarning",
    "BootstrapWarning",
    "ConvergenceWarning",
    "HausmanWarning",
    "LmmpyWarning",
    "ProfileWarning",
    "RankDeficiencyWarning",
    "ScaleWarning",
    "SingularFitWarning",
]


class LmmpyWarning(UserWarning):
    """Base class of lmmpy's warnings."""


class ConvergenceWarning(LmmpyWarning):
    """The optimizer stopped where lme4's convergence checks fail (gradient, Hessian)."""


class SingularFitWarning(LmmpyWarning):
    """The estimated random-effects covariance is singular: θ lies on its boundary."""


class ScaleWarning(LmmpyWarning):
    """A random-effects column is so far from centred that lme4's θ loses digits: the fit
    is exact (made on centred columns), what is computed from θ later is not."""


class RankDeficiencyWarning(LmmpyWarning):
    """The fixed-effects model matrix is rank deficient; aliased columns were dropped."""


class ApproximationWarning(LmmpyWarning):
    """A quantity is only approximate for this model (e.g. ICC by group with random slopes)."""


class ProfileWarning(LmmpyWarning):
    """A likelihood profile is unreliable: a lower deviance than the fit's, or it never reached ζ."""


class BootstrapWarning(LmmpyWarning):
    """Some bootstrap refits failed or gave convergence warnings (lme4's bootMer messages)."""


class HausmanWarning(LmmpyWarning):
    """V_FE − V_RE in the Hausman test is not positive definite; a generalised inverse is used."""
