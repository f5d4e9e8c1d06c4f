"""Our glmer fits of the GLMM reference cases, made once per session."""

from __future__ import annotations

import functools
from dataclasses import replace

import numpy as np
from reference import load_case, load_case_data

import lmmpy
from lmmpy.glmm._model import GeneralizedLinearMixedModel
from lmmpy.glmm._optimize import GlmmCriterion
from lmmpy.glmm.fit import glmm_setup

LAPLACE_CASES = ["bacteria_laplace", "cbpp_laplace", "cbpp_prop_weights", "epil_poisson",
                 "sim_gamma_log", "sim_probit_slope"]
AGQ_CASES = ["cbpp_agq25"]
NB_CASES = ["epil_nb"]   # lme4::glmer.nb: lmmpy.glmer_nb


@functools.cache
def fitted(name: str) -> GeneralizedLinearMixedModel:
    case = load_case(name)
    if case["family"] == "negative_binomial":
        return lmmpy.glmer_nb(case["formula"], load_case_data(case), link=case["link"],
                              weights=case["weights"], offset=case["offset"], nagq=case["nAGQ"])
    return lmmpy.glmer(case["formula"], load_case_data(case), case["family"], link=case["link"],
                       weights=case["weights"], offset=case["offset"], nagq=case["nAGQ"])


def lme4_parameters(name: str) -> np.ndarray:
    case = load_case(name)
    return np.array(list(case["theta"].values()) + [case["fixef"][b] for b in case["beta_names"]])


@functools.cache
def at_lme4(name: str) -> GeneralizedLinearMixedModel:
    """Our model evaluated at lme4's (θ, β): every derived quantity as a function of them."""
    model, case = fitted(name), load_case(name)
    if case["family"] == "negative_binomial":   # the GLMM at lme4's shape, held fixed
        system = glmm_setup(case["formula"], load_case_data(case),
                            lmmpy.NegativeBinomial(case["nb_theta"], case["link"]),
                            weights=case["weights"], offset=case["offset"])
        model = replace(model, system=system)
    criterion = GlmmCriterion(model.system, len(model.theta), model.nagq)
    state = criterion.at(lme4_parameters(name))
    return replace(model, state=state, deviance_value=criterion.value(state))
