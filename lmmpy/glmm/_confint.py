"""Confidence intervals and the parametric bootstrap of a GLMM (lme4's ``confint``, ``bootMer``).

Rows, as lme4's ``confint(m, oldNames = FALSE)`` for a ``glmerMod``: the
random-effect SDs and correlations in θ's order, ``sigma`` for the families
with a dispersion parameter (Gamma, inverse Gaussian), then the fixed effects.

* ``"wald"``: β̂_j ± z SE(β̂_j) (SEs from the Hessian of the criterion, as
  ``vcov``); NaN for the variance parameters, as lme4;
* ``"profile"``: from the profiled Laplace (or AGQ) criterion
  (:mod:`lmmpy.glmm._profile`);
* ``"boot"``: percentile, basic or normal intervals from the parametric
  bootstrap (:func:`lmmpy.inference.bootstrap`: responses simulated by
  :mod:`lmmpy.glmm._simulate`, the model refitted to each).

The bootstrap's default statistic is the same parameters: SDs and
correlations (times σ̂ for the families with a dispersion, as ``varcorr``), σ̂
for those, and β̂.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from lmmpy.inference._bootstrap import BootstrapResult, bootstrap, check_boot_type, check_level
from lmmpy.inference._confint import _check_method, _check_parm, _profile, _wald
from lmmpy.inference._simulate import SeedLike
from lmmpy.inference._varpar import SIGMA, sdcor_from_theta, term_shapes, variance_parameter_names

if TYPE_CHECKING:
    from lmmpy.glmm._model import GeneralizedLinearMixedModel


def parameter_names(model: GeneralizedLinearMixedModel) -> list[str]:
    """SDs and correlations, ``sigma`` (Gamma, inverse Gaussian), the fixed effects."""
    names = variance_parameter_names(model.design.terms)
    if not model.family.has_dispersion:
        names = [name for name in names if name != SIGMA]
    return [*names, *model.fixef.index]


def confint(model: GeneralizedLinearMixedModel, method: str = "profile", level: float = 0.95,
            parm: str | Sequence[str] | None = None, *, nsim: int = 500,
            seed: SeedLike = None, boot_type: str = "perc", n_jobs: int = 1,
            progress: bool | None = None) -> pd.DataFrame:
    """See :meth:`GeneralizedLinearMixedModel.confint`."""
    method = _check_method(method)
    check_level(level)
    names = parameter_names(model)
    selected = _check_parm(parm, names)
    if method == "wald":
        table = _wald(model, level, names)
    elif method == "profile":
        table = _profile(model, level, names, selected)
    else:
        check_boot_type(boot_type)
        result = bootstrap_glmm(model, nsim, seed=seed, n_jobs=n_jobs, progress=progress)
        table = result.confint(level, boot_type)
    return table.loc[selected]


def bootstrap_glmm(model: GeneralizedLinearMixedModel, nsim: int, func=None,
                   seed: SeedLike = None, n_jobs: int = 1, progress: bool | None = None,
                   use_u: bool = False) -> BootstrapResult:
    """lme4's ``bootMer`` for a GLMM: ``func`` (default: the parameters of :func:`confint`)
    of the model refitted to responses simulated from it."""
    return bootstrap(model, nsim, func, seed, n_jobs, progress, use_u)


class ParameterStatistic:
    """The parameters of :func:`confint` of a fit, as a named Series."""

    def __init__(self, model: GeneralizedLinearMixedModel):
        self.shapes = term_shapes(model.design.terms)
        self.names = parameter_names(model)
        self.dispersion = model.family.has_dispersion

    def __call__(self, model: GeneralizedLinearMixedModel) -> pd.Series:
        sdcor = sdcor_from_theta(self.shapes, model.theta, model.sigma)
        variance = sdcor if self.dispersion else sdcor[:-1]
        return pd.Series(np.concatenate([variance, model.state.beta]), index=self.names)
