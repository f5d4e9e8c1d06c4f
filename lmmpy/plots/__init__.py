"""Figures for fitted models and for the pooling comparison (matplotlib, imported lazily).

Install the extra with ``pip install "lmmpy[plots]"``; ``import lmmpy`` does not
import matplotlib, each function does when called.  Each takes an optional ``ax``
(an Axes, or a sequence of Axes for the several-panel figures) and returns the
Axes it drew on, or the Figure for the several-panel ones.

What is drawn:

* ``shrinkage_plot``: each group's no-pooling estimate (its own OLS fit) with an
  arrow to its partial-pooling estimate (fixed effect + conditional mode b̂), and
  the population estimate β̂ they are pulled towards (Gelman & Hill 2007, ch. 12).
  Groups with less information move further.  One axis per random effect: 1-D for
  a random intercept, the intercept-slope plane for intercept + slope.
* ``caterpillar_plot``: conditional modes b̂ with intervals b̂ ± z·sd(b | y) from
  the conditional variances (lme4's ``dotplot(ranef(m, condVar = TRUE))``), sorted.
* ``residual_plot``: residuals y − ŷ against fitted values ŷ.
* ``qq_plot``: normal quantile-quantile plot of the residuals or of one random effect,
  with the line through the first and third quartiles (R's ``qqline``).  Plotting
  positions (i − a)/(n + 1 − 2a) with a = 3/8 for n ≤ 10, else 1/2 (R's ``ppoints``).
* ``simpson_plot``: the pooled OLS line, each group's own OLS line, the group
  means and the OLS line through them (the between-group slope): where the
  within-group and between-group slopes differ, the pooled line mixes the two
  (Simpson's paradox).
* ``check_model``: six panels of model checks (linearity, homogeneity of variance,
  normality of residuals and of random effects, influence by group, observed vs
  fitted), as R's ``performance::check_model``.
* ``effect_plot``: the population-level prediction along one variable with its
  confidence band, one line per level of ``by``.
* ``binned_residuals_plot``: for a binomial GLMM, the mean residual in bins of the
  fitted probability against ±1.96 SE (Gelman & Hill 2007, §5.6; R's
  ``performance::binned_residuals``).
* ``profile_plot``: the profile zeta ζ(value) of each parameter (Bates et al. 2015,
  sec. 5.1), with the ±z levels of a 95% interval.

References
----------
Gelman, A. & Hill, J. (2007). *Data Analysis Using Regression and
Multilevel/Hierarchical Models*. Cambridge University Press.
"""

from lmmpy.plots._binned import binned_residuals_plot
from lmmpy.plots._check import check_model
from lmmpy.plots._effects import effect_plot
from lmmpy.plots._pooling import shrinkage_plot, simpson_plot
from lmmpy.plots._profile import profile_plot
from lmmpy.plots._random import caterpillar_plot
from lmmpy.plots._residuals import qq_plot, residual_plot

__all__ = [
    "binned_residuals_plot",
    "caterpillar_plot",
    "check_model",
    "effect_plot",
    "profile_plot",
    "qq_plot",
    "residual_plot",
    "shrinkage_plot",
    "simpson_plot",
]
