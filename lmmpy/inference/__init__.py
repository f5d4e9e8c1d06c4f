"""Inference for fitted linear mixed models: tests, degrees of freedom, intervals.

* denominator degrees of freedom for t and F tests of fixed effects:
  Satterthwaite (1946) as lmerTest (Kuznetsova, Brockhoff & Christensen 2017)
  and Kenward & Roger (1997) as pbkrtest;
* F tests of model terms (type 1, 2, 3 ANOVA tables) and of user contrasts;
* likelihood-ratio tests between nested fits and for random-effects terms,
  with the boundary-corrected χ̄² p-value (Self & Liang 1987; Stram & Lee 1994);
* confidence intervals (profile, Wald, bootstrap) and simulation.
"""

from lmmpy.inference._anova import anova_table
from lmmpy.inference._bootstrap import BootstrapResult, bootstrap
from lmmpy.inference._confint import confint, profile
from lmmpy.inference._contrast import (
    DDF_CHOICES,
    coefficient_table,
    contrast,
    summary_coefficients,
)
from lmmpy.inference._lrt import (
    anova,
    boundary_mixture,
    ranova,
    refit_ml,
    test_random_effect,
)
from lmmpy.inference._predict_se import predict_with_se
from lmmpy.inference._simulate import simulate
from lmmpy.inference._table import InferenceTable

__all__ = [
    "DDF_CHOICES",
    "BootstrapResult",
    "InferenceTable",
    "anova",
    "anova_table",
    "bootstrap",
    "boundary_mixture",
    "coefficient_table",
    "confint",
    "contrast",
    "predict_with_se",
    "profile",
    "ranova",
    "refit_ml",
    "simulate",
    "summary_coefficients",
    "test_random_effect",
]
