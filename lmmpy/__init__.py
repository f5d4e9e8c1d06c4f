"""lmmpy: linear mixed models from lme4-style formulas, on sparse Cholesky factors.

Examples
--------
>>> import lmmpy
>>> m = lmmpy.lmer("Reaction ~ Days + (Days | Subject)", lmmpy.datasets.load("sleepstudy"))
>>> print(m.summary())  # doctest: +SKIP
"""

from typing import TYPE_CHECKING

from lmmpy._control import GlmerControl, LmerControl
from lmmpy._warnings import (
    ApproximationWarning,
    BootstrapWarning,
    ConvergenceWarning,
    HausmanWarning,
    LmmpyWarning,
    ProfileWarning,
    RankDeficiencyWarning,
    ScaleWarning,
    SingularFitWarning,
)

if TYPE_CHECKING:  # imported on first use (PEP 562, below): `import lmmpy` stays fast
    from lmmpy import datasets
    from lmmpy.diagnostics import (
        PoolingComparison,
        check_overdispersion,
        compare_pooling,
        within_between,
    )
    from lmmpy.fit import lmer
    from lmmpy.formula import FormulaError, parse_formula
    from lmmpy.glmm import (
        Binomial,
        Gamma,
        GeneralizedLinearMixedModel,
        InverseGaussian,
        NegativeBinomial,
        NegativeBinomialMixedModel,
        Poisson,
        glmer,
        glmer_nb,
    )
    from lmmpy.inference import anova, test_random_effect
    from lmmpy.report import emmeans, emtrends, model_table
    from lmmpy.results import LinearMixedModel

__version__ = "0.1.0"

__all__ = [
    "ApproximationWarning",
    "Binomial",
    "BootstrapWarning",
    "ConvergenceWarning",
    "FormulaError",
    "Gamma",
    "GeneralizedLinearMixedModel",
    "GlmerControl",
    "HausmanWarning",
    "InverseGaussian",
    "LinearMixedModel",
    "LmerControl",
    "LmmpyWarning",
    "NegativeBinomial",
    "NegativeBinomialMixedModel",
    "Poisson",
    "PoolingComparison",
    "ProfileWarning",
    "RankDeficiencyWarning",
    "ScaleWarning",
    "SingularFitWarning",
    "__version__",
    "anova",
    "check_overdispersion",
    "compare_pooling",
    "datasets",
    "emmeans",
    "emtrends",
    "glmer",
    "glmer_nb",
    "lmer",
    "model_table",
    "parse_formula",
    "test_random_effect",
    "within_between",
]

# Public names from modules that import numpy, scipy, pandas or formulaic: each
# is imported when first used.  A new export goes in __all__, in the
# TYPE_CHECKING block and here.
_LAZY = {
    "datasets": "lmmpy.datasets",
    # subpackages, so that `import lmmpy` is enough for lmmpy.plots.check_model(m)
    "design": "lmmpy.design",
    "diagnostics": "lmmpy.diagnostics",
    "formula": "lmmpy.formula",
    "glmm": "lmmpy.glmm",
    "inference": "lmmpy.inference",
    "plots": "lmmpy.plots",
    "report": "lmmpy.report",
    "PoolingComparison": "lmmpy.diagnostics",
    "compare_pooling": "lmmpy.diagnostics",
    "check_overdispersion": "lmmpy.diagnostics",
    "within_between": "lmmpy.diagnostics",
    "lmer": "lmmpy.fit",
    "FormulaError": "lmmpy.formula",
    "parse_formula": "lmmpy.formula",
    "glmer": "lmmpy.glmm",
    "GeneralizedLinearMixedModel": "lmmpy.glmm",
    "Binomial": "lmmpy.glmm",
    "Poisson": "lmmpy.glmm",
    "Gamma": "lmmpy.glmm",
    "InverseGaussian": "lmmpy.glmm",
    "NegativeBinomial": "lmmpy.glmm",
    "NegativeBinomialMixedModel": "lmmpy.glmm",
    "glmer_nb": "lmmpy.glmm",
    "anova": "lmmpy.inference",
    "test_random_effect": "lmmpy.inference",
    "LinearMixedModel": "lmmpy.results",
    "model_table": "lmmpy.report",
    "emmeans": "lmmpy.report",
    "emtrends": "lmmpy.report",
}


def __getattr__(name: str):
    import importlib

    if name not in _LAZY:
        if name.startswith("__"):
            raise AttributeError(f"module 'lmmpy' has no attribute {name!r}")
        from lmmpy._habits import module_attribute_error  # R names get a hint

        raise module_attribute_error(name)
    module = importlib.import_module(_LAZY[name])
    value = module if _LAZY[name] == f"lmmpy.{name}" else getattr(module, name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))
