"""Stage 3: cross-products and the profiled deviance as a function of θ (lme4's ``mkLmerDevfun``).

``cross_products`` touches the n rows once; ``ProfiledDeviance`` evaluates
the REML criterion or ML deviance at any θ from them, on the factorization the
structure selects: one dense factor for small models (``_dense``), the blocked
Cholesky by random-effects term (``_blocked``, with the sparse rank update of
``_rankupdate``), or a CHOLMOD factor analysed once (``_cholmod``).

The products are of a conditioned [X̃ ỹ]: X's columns centred on the
intercept (X̃ = XT, |T| = 1) and y residualised on X̃ by weighted least
squares (ỹ = y − X̃s).  The objective is unchanged by both, while a response
or a column far from 0 (a Unix timestamp) no longer cancels every digit of
the residual sum of squares; ``ProfiledDeviance.solve`` returns β̂ and R_X in
the design's coordinates (see ``_crossprod``).
"""

from lmmpy.objective._condvar import conditional_variances, selected_inverse
from lmmpy.objective._crossprod import CrossProducts, cross_products, random_effects_matrix
from lmmpy.objective._deviance import ProfiledDeviance, Solution, conditional_variance_blocks
from lmmpy.objective._factorization import Capabilities, Factorization

__all__ = [
    "Capabilities",
    "CrossProducts",
    "Factorization",
    "ProfiledDeviance",
    "Solution",
    "conditional_variance_blocks",
    "conditional_variances",
    "cross_products",
    "random_effects_matrix",
    "selected_inverse",
]
