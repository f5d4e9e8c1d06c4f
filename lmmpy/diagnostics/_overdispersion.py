"""Overdispersion of a count or binomial GLMM: Pearson's χ² over the residual df.

For a Poisson, negative binomial or binomial (with trials > 1) GLMM the Pearson
residuals r_i = (y_i − μ̂_i) √(w_i / V(μ̂_i)) at the conditional modes have
variance about 1 when the family's variance is right, so

    χ² = Σ r_i²,   ratio = χ² / df_resid,   p = P(χ²_{df_resid} > χ²)

(df_resid = n − parameters, lme4's ``df.residual``): a ratio well above 1 with a
small p is overdispersion — a negative binomial for counts, or an observation-
level random effect.  This is R's ``performance::check_overdispersion`` for
``merMod`` fits (Gelman & Hill 2007, p. 115; Bolker's GLMM FAQ), an approximate
test: the χ² reference distribution is rough when counts are small.  A binary
(Bernoulli) response carries no information about overdispersion, so it is
refused, as ``performance`` does.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import stats

from lmmpy._families import Binomial, NegativeBinomial, Poisson

SIGNIFICANCE = 0.05   # performance's threshold for "Overdispersion detected."


@dataclass(frozen=True)
class Overdispersion:
    """Pearson's χ² test of overdispersion (``print`` it for performance's layout).

    Attributes
    ----------
    chisq : Σ squared Pearson residuals
    ratio : chisq / df_resid (about 1 without overdispersion)
    df_resid : residual degrees of freedom (n − parameters)
    p_value : upper tail of χ² on df_resid degrees of freedom
    """

    chisq: float
    ratio: float
    df_resid: int
    p_value: float

    @property
    def detected(self) -> bool:
        """Whether p (rounded to 3 digits, as performance prints it) is 0.05 or less."""
        return round(self.p_value, 3) <= SIGNIFICANCE

    def __str__(self) -> str:
        p = round(self.p_value, 3)
        cells = [f"{self.ratio:.3f}", f"{self.chisq:.3f}",
                 "< 0.001" if p < 0.001 else f"{p:.15g}"]
        width = max(map(len, cells))
        ratio, chisq, p_text = (cell.rjust(width) for cell in cells)
        verdict = "Overdispersion detected." if self.detected else "No overdispersion detected."
        return ("# Overdispersion test\n\n"
                f"       dispersion ratio = {ratio}\n"
                f"  Pearson's Chi-Squared = {chisq}\n"
                f"                p-value = {p_text}\n\n{verdict}")

    __repr__ = __str__


def check_overdispersion(model) -> Overdispersion:
    """Pearson's χ² / df test of overdispersion of a Poisson, negative binomial or
    binomial GLMM (R's ``performance::check_overdispersion``).

    Parameters
    ----------
    model : GeneralizedLinearMixedModel
        From :func:`lmmpy.glmer` (poisson; binomial with more than one trial per
        row) or :func:`lmmpy.glmer_nb`.

    Returns
    -------
    Overdispersion

    Examples
    --------
    >>> import lmmpy
    >>> epil = lmmpy.datasets.load("epil")
    >>> m = lmmpy.glmer("y ~ trt + lbase + lage + V4 + (1 | subject)", epil, "poisson")
    >>> print(lmmpy.check_overdispersion(m))   # R, lme4's fit with tolPwrss = 1e-12: the same
    # Overdispersion test
    <BLANKLINE>
           dispersion ratio =   1.571
      Pearson's Chi-Squared = 361.392
                    p-value = < 0.001
    <BLANKLINE>
    Overdispersion detected.
    """
    _check_applies(model)
    pearson = model.residuals("pearson").to_numpy()
    chisq = float(pearson @ pearson)
    df = int(model.df_resid)
    return Overdispersion(chisq, chisq / df, df, float(stats.chi2.sf(chisq, df)))


def _check_applies(model) -> None:
    family = getattr(model, "family", None)
    if not isinstance(family, Binomial | Poisson | NegativeBinomial):
        what = (f"the {family.name} family" if family is not None
                else f"a {type(model).__name__} (a linear mixed model has its own σ²)")
        raise TypeError("check_overdispersion applies to Poisson, negative binomial and binomial "
                        f"(trials > 1) GLMMs, not to {what}")
    response = model.system.response
    if isinstance(family, Binomial) and np.all(response.weights <= 1) and np.all(
            np.isin(response.y, (0.0, 1.0))):
        raise ValueError("check_overdispersion cannot test a binary (0/1) response: its "
                         "variance is fixed by its mean, so overdispersion is not identifiable; "
                         "group the rows into cbind(successes, failures) to test it")
