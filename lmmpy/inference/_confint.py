"""Confidence intervals for all parameters (lme4's ``confint.merMod``).

Rows, as lme4's ``confint(m, oldNames = FALSE)``: the random-effect standard
deviations and correlations in θ's order (``sd_(Intercept)|Subject``,
``cor_Days.(Intercept)|Subject``, ``sd_Days|Subject``), ``sigma``, then the
fixed effects (formulaic's names).  For a GLMM (lme4's ``confint`` of a
``glmerMod``) the SDs and correlations are on lme4's scale, and ``sigma`` is a row
only for the families with a dispersion parameter (Gamma, inverse Gaussian).
One function serves both kinds of model (:class:`lmmpy._fitted.FittedModel`):

* ``"wald"``: β̂_j ± z_{(1+level)/2} SE(β̂_j) from ``vcov``; NaN for the variance
  parameters (lme4 gives NA: a symmetric interval on the SD scale is poor).  A
  GLMM's SEs come from the Hessian of its criterion, as its ``vcov``.
* ``"profile"``: {φ : |ζ(φ)| ≤ z} from the profiled ML deviance
  (:mod:`lmmpy.inference._profile`; Bates et al. 2015, section 5.1).  A REML
  fit is refitted by ML first, as lme4 does.  A GLMM's profile is that of its
  Laplace (or AGQ) criterion (:mod:`lmmpy.glmm._profile`).
* ``"boot"``: parametric-bootstrap intervals (percentile, basic or normal;
  :mod:`lmmpy.inference._bootstrap`, Davison & Hinkley 1997, ch. 5) of the
  same parameters (a GLMM's responses simulated by :mod:`lmmpy.glmm._simulate`).

References
----------
Bates, D., Mächler, M., Bolker, B. & Walker, S. (2015). Fitting linear
mixed-effects models using lme4. J. Stat. Softw. 67(1).
Davison, A. C. & Hinkley, D. V. (1997). Bootstrap Methods and their
Application. Cambridge University Press.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from scipy.stats import norm

from lmmpy._progress import progress_bar
from lmmpy.inference._bootstrap import bootstrap, check_boot_type, check_level
from lmmpy.inference._contrast import wald_interval
from lmmpy.inference._simulate import SeedLike
from lmmpy.inference._varpar import parameter_names

__all__ = ["confint", "parameter_names", "profile"]

if TYPE_CHECKING:
    from lmmpy._fitted import FittedModel
    from lmmpy.results import LinearMixedModel

METHODS = ("profile", "wald", "boot")


def confint(model: LinearMixedModel, method: str = "profile", level: float = 0.95,
            parm: str | Sequence[str] | None = None, *, nsim: int = 500,
            seed: SeedLike = None, boot_type: str = "perc", n_jobs: int = 1,
            progress: bool | None = None) -> pd.DataFrame:
    """Confidence intervals (``lower``, ``upper``) of the variance parameters and fixed effects.

    Parameters
    ----------
    model : LinearMixedModel
    method : {"profile", "wald", "boot"}, default "profile"
    level : float, default 0.95
    parm : str or list of str, optional
        Parameters to include (names as in the result); default all.
    nsim, seed, boot_type, n_jobs
        For ``method="boot"``: replicates, seed, interval type
        (``"perc"``, ``"basic"``, ``"norm"``) and processes.
    progress : bool, optional
        A progress bar (tqdm's when installed) for the bootstrap's replicates or the
        profile's parameters; default: when someone watches (a terminal or a notebook).

    Returns
    -------
    DataFrame indexed by parameter with columns ``lower``, ``upper``.

    Examples
    --------
    >>> import lmmpy
    >>> m = lmmpy.lmer("Reaction ~ Days + (Days | Subject)", lmmpy.datasets.load("sleepstudy"))
    >>> confint(m, "wald").loc["Days"].round(3).tolist()
    [7.438, 13.497]
    """
    method = _check_method(method)
    check_level(level)
    names = parameter_names(model)
    selected = _check_parm(parm, names)
    if method == "wald":
        table = _wald(model, level, names)
    elif method == "profile":
        table = _profile(model, level, names, selected, progress)
    else:
        check_boot_type(boot_type)
        result = bootstrap(model, nsim, seed=seed, n_jobs=n_jobs, progress=progress)
        table = result.confint(level, boot_type)
    return table.loc[selected]


def _wald(model: FittedModel, level: float, names: list[str]) -> pd.DataFrame:
    """β̂ ∓ z SE(β̂) (:func:`~lmmpy.inference._contrast.wald_interval` with df = ∞); NaN for
    the variance parameters."""
    table = pd.DataFrame(np.nan, index=names, columns=["lower", "upper"])
    lower, upper = wald_interval(model.fixef.to_numpy(), model.fixef_se.to_numpy(), np.inf,
                                 level)
    table.loc[model.fixef.index, "lower"] = lower
    table.loc[model.fixef.index, "upper"] = upper
    return table


def _profile(model: LinearMixedModel, level: float, names: list[str],
             selected: list[str], progress: bool | None = None) -> pd.DataFrame:
    profiler = model._profiler   # shared with profile() and profile_plot
    z = norm.ppf((1 + level) / 2)
    table = pd.DataFrame(np.nan, index=names, columns=["lower", "upper"])
    bar = progress_bar(len(selected), "profile", progress)
    try:
        for done, name in enumerate(selected, start=1):
            index = names.index(name)
            table.loc[name] = [profiler.interval_end(index, -1, z),
                               profiler.interval_end(index, 1, z)]
            bar.update(done)
    finally:
        bar.close()
    return table


def profile(model: LinearMixedModel, parm: str | Sequence[str] | None = None,
            progress: bool | None = None) -> pd.DataFrame:
    """The likelihood profile of each parameter, traced as lme4's ``profile`` traces it.

    Returns
    -------
    DataFrame
        One row per profile point: ``parameter`` (the one held fixed), ``value``
        (its value), ``zeta`` (signed square root of the likelihood-ratio
        statistic against the ML fit), then every parameter's value at that
        point (the others re-optimised).  Each parameter is traced to
        |ζ| = √χ²_{0.99, npar} or to its bound.  ``progress`` shows a bar over the
        parameters (default: when someone watches, a terminal or a notebook).

    Examples
    --------
    >>> import lmmpy
    >>> m = lmmpy.lmer("Yield ~ 1 + (1 | Batch)", lmmpy.datasets.load("Dyestuff"))
    >>> p = profile(m, "sigma")
    >>> list(p.columns[:3]), bool(p["zeta"].is_monotonic_increasing)
    (['parameter', 'value', 'zeta'], True)
    """
    names = parameter_names(model)
    indices = [names.index(name) for name in _check_parm(parm, names)]
    bar = progress_bar(len(indices), "profile", progress)
    try:
        for done, index in enumerate(indices, start=1):
            model._profiler.profile_frame([index])   # traced once, kept by the profiler
            bar.update(done)
    finally:
        bar.close()
    return model._profiler.profile_frame(indices)


def _check_method(method: str) -> str:
    if not isinstance(method, str) or method.lower() not in METHODS:
        raise ValueError(f"method must be one of {', '.join(map(repr, METHODS))}, not {method!r}")
    return method.lower()


def _check_parm(parm, names: list[str]) -> list[str]:
    if parm is None:
        return list(names)
    wanted = [parm] if isinstance(parm, str) else list(parm)
    unknown = [name for name in wanted if name not in names]
    if unknown:
        raise ValueError(f"unknown parameter(s) {', '.join(map(repr, unknown))}; the model's "
                         f"parameters are {', '.join(map(repr, names))}")
    return wanted
