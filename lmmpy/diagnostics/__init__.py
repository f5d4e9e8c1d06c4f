"""Diagnostics of a fitted model: pooling comparison, ICC, R², design effect, group influence.

Examples
--------
>>> import lmmpy
>>> from lmmpy.diagnostics import icc, r2
>>> m = lmmpy.lmer("Reaction ~ Days + (Days | Subject)", lmmpy.datasets.load("sleepstudy"))
>>> round(icc(m).icc_adjusted, 3), round(r2(m).r2_conditional, 3)
(0.722, 0.799)
"""

from lmmpy.diagnostics._binned import binned_residuals
from lmmpy.diagnostics._icc import ICC, design_effect, icc
from lmmpy.diagnostics._influence import group_influence
from lmmpy.diagnostics._overdispersion import Overdispersion, check_overdispersion
from lmmpy.diagnostics._pooling import PoolingComparison, compare_pooling
from lmmpy.diagnostics._r2 import R2, r2
from lmmpy.diagnostics._variance import VarianceComponents, variance_components
from lmmpy.diagnostics._within_between import within_between

__all__ = [
    "ICC",
    "R2",
    "Overdispersion",
    "PoolingComparison",
    "VarianceComponents",
    "binned_residuals",
    "check_overdispersion",
    "compare_pooling",
    "design_effect",
    "group_influence",
    "icc",
    "r2",
    "variance_components",
    "within_between",
]
