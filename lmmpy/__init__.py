"""lmmpy: linear mixed models from lme4-style formulas, on sparse Cholesky factors.

Examples
--------
>>> import lmmpy
>>> m = lmmpy.lmer("Reaction ~ Days + (Days | Subject)", lmmpy.datasets.load("sleepstudy"))
>>> print(m.summary())  # doctest: +SKIP
"""

from lmmpy import datasets
from lmmpy._warnings import (
    ApproximationWarning,
    BootstrapWarning,
    ConvergenceWarning,
    HausmanWarning,
    LmmpyWarning,
    ProfileWarning,
    RankDeficiencyWarning,
    SingularFitWarning,
)
from lmmpy.diagnostics import PoolingComparison, compare_pooling, within_between
from lmmpy.fit import lmer
from lmmpy.formula import FormulaError, parse_formula
from lmmpy.inference import anova, test_random_effect
from lmmpy.results import LinearMixedModel

__version__ = "0.1.0"

__all__ = [
    "ApproximationWarning",
    "BootstrapWarning",
    "ConvergenceWarning",
    "FormulaError",
    "HausmanWarning",
    "LinearMixedModel",
    "LmmpyWarning",
    "PoolingComparison",
    "ProfileWarning",
    "RankDeficiencyWarning",
    "SingularFitWarning",
    "__version__",
    "anova",
    "compare_pooling",
    "datasets",
    "lmer",
    "parse_formula",
    "test_random_effect",
    "within_between",
]
