"""Stage 2: data frame → the matrices of a mixed model (lme4's ``lFormula``).

``build_design`` turns a parsed formula and a data frame into a frozen
:class:`Design`: response y, fixed-effects matrix X, the random-effects terms
(grouping codes, term model matrices, θ layout), prior weights and offset,
after lme4's ``na.omit`` and its checks on grouping factors.
"""

from lmmpy.design._build import Design, build_design
from lmmpy.design._fixed import INTERCEPT, ModelMatrix, build_model_matrix
from lmmpy.design._random import RandomEffectsTerm, group_codes

__all__ = [
    "INTERCEPT",
    "Design",
    "ModelMatrix",
    "RandomEffectsTerm",
    "build_design",
    "build_model_matrix",
    "group_codes",
]
