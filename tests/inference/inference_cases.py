"""Fits of the lme4 reference cases for the inference tests, each made once.

As in tests/test_fit_reference.py, every comparison runs on our fit and on our
model evaluated at lme4's θ; where our optimum is strictly better than lme4's
(a lower objective), only the model at lme4's θ is held to lme4's digits —
the numbers then differ because the optimum differs, not the method.
"""

from __future__ import annotations

import functools
import warnings

import numpy as np
from reference import case_files, load_case, load_case_data

import lmmpy
from lmmpy.results import LinearMixedModel

STRICTLY_BETTER = 1e-7


def reml_cases_with(key: str) -> list[str]:
    """REML lmer cases that carry ``key`` (``satterthwaite``, ``kenward_roger``, ...)."""
    return [name for name in case_files("fit")
            if load_case(name)["REML"] and load_case(name).get(key)]


@functools.cache
def fitted(name: str) -> LinearMixedModel:
    case = load_case(name)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", lmmpy.LmmpyWarning)
        return lmmpy.lmer(case["formula"], load_case_data(case), reml=case["REML"],
                          weights=case["weights"], offset=case["offset"])


@functools.cache
def at_lme4_theta(name: str) -> LinearMixedModel:
    m = fitted(name)
    theta = np.array(list(load_case(name)["theta"].values()))
    return LinearMixedModel(m.design, m.objective, m.optimization, m.objective.solve(theta),
                            m.reml, m.data_name)


def models(name: str) -> list[LinearMixedModel]:
    ours, theirs = fitted(name), at_lme4_theta(name)
    if ours.solution.deviance < theirs.solution.deviance - STRICTLY_BETTER:
        return [theirs]
    return [theirs, ours]
