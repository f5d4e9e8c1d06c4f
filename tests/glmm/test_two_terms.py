"""PIRLS on a two-term model (cbpp, herd crossed with period) on each of the three
factorizations, and glmer against lme4 (tools/reference/make_glmm_two_terms.R).

Every PIRLS step reweights the factorization (``ProfiledDeviance.with_crossprods``): the
three paths agreeing at the same (θ, β) is the GLMM side of issue 12's reweighting bug.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import lmmpy
from lmmpy.glmm._optimize import GlmmCriterion
from lmmpy.glmm._pirls import ReweightedSystem
from lmmpy.glmm.fit import glmm_setup

REFERENCE = json.loads((Path(__file__).parents[1] / "data" / "glmm" / "two_terms.json")
                       .read_text())
FIXEF = np.atleast_1d(REFERENCE["fixef"])
LME4 = np.r_[REFERENCE["theta"], FIXEF]


@pytest.fixture(scope="module")
def system() -> ReweightedSystem:
    return glmm_setup(REFERENCE["formula"], lmmpy.datasets.load("cbpp"), "binomial")


@pytest.fixture(scope="module")
def fit():
    return lmmpy.glmer(REFERENCE["formula"], lmmpy.datasets.load("cbpp"))


@pytest.mark.parametrize("parameters", [LME4, LME4 * 1.3, np.r_[0.2, 1.5, LME4[2:] - 0.4]])
def test_criterion_is_the_same_on_every_factorization(system, parameters):
    values = {}
    for path in ("dense", "blocked", "cholmod"):
        reweighted = ReweightedSystem(system.design, system.response, path=path)
        criterion = GlmmCriterion(reweighted, 2)
        values[path] = criterion(parameters)
        assert reweighted.objective_at(None).path == path
    assert values["blocked"] == pytest.approx(values["dense"], abs=1e-8)
    assert values["cholmod"] == pytest.approx(values["dense"], abs=1e-8)


def test_fit_matches_lme4(fit, system):
    assert fit.theta_names == REFERENCE["theta_names"]
    at_lme4 = -GlmmCriterion(system, 2)(LME4) / 2
    # lme4's PIRLS (tolPwrss 1e-7) leaves its logLik short of its criterion at its estimates
    assert REFERENCE["loglik"] - 2e-3 < at_lme4 and at_lme4 >= REFERENCE["loglik"] - 1e-8
    assert fit.loglik >= at_lme4 - 1e-8
    assert fit.loglik >= REFERENCE["loglik"] - 1e-4
    np.testing.assert_allclose(fit.theta, REFERENCE["theta"], rtol=1e-3)
    np.testing.assert_allclose(fit.fixef, FIXEF, rtol=1e-3)
    np.testing.assert_allclose(fit.fixef_se, np.atleast_1d(REFERENCE["fixef_se"]), rtol=1e-2)
    assert fit.deviance == pytest.approx(REFERENCE["deviance"], rel=1e-3)
