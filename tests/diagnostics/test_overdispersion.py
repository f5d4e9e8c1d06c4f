"""check_overdispersion against R's performance::check_overdispersion
(tools/reference/make_overdispersion.R; the negative binomial fits: tests/glmm/test_glmer_nb.py)."""

from __future__ import annotations

import json
import warnings
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import lmmpy
from lmmpy.diagnostics import Overdispersion, check_overdispersion
from lmmpy.glmm._optimize import GlmmCriterion

DATA = Path(__file__).parents[1] / "data" / "glmm"
REFERENCE = {fit["name"]: fit for fit in json.loads((DATA / "overdispersion.json").read_text())}
NB_CASES = {case["case"]: case for case in json.loads((DATA / "nb_cases.json").read_text())}


def _fit(name: str):
    fit = REFERENCE[name]
    if name == "epil":
        return lmmpy.glmer(fit["formula"], lmmpy.datasets.load("epil"), "poisson")
    cbpp = lmmpy.datasets.load("cbpp")
    cbpp["share"] = cbpp["incidence"] / cbpp["size"]
    return lmmpy.glmer(fit["formula"], cbpp, "binomial",
                       weights="size" if name == "cbpp_prop" else None)


LME4_CASES = {"cbpp": "cbpp_laplace", "cbpp_prop": "cbpp_prop_weights", "epil": "epil_poisson"}


def _at_lme4_estimates(model, name: str):
    """The model at lme4's (θ, β) of the same fit (tests/data/cases)."""
    case = json.loads((DATA.parent / "cases" / f"{LME4_CASES[name]}.json").read_text())
    parameters = list(case["theta"].values()) + [case["fixef"][b] for b in case["beta_names"]]
    criterion = GlmmCriterion(model.system, len(model.theta), 1)
    state = criterion.at(np.array(parameters))
    return replace(model, state=state, deviance_value=criterion.value(state))


@pytest.mark.parametrize("name", sorted(REFERENCE))
def test_against_performance(name):
    expected, model = REFERENCE[name], _fit(name)
    at_lme4 = check_overdispersion(_at_lme4_estimates(model, name))
    assert at_lme4.chisq == pytest.approx(expected["chisq"], rel=2e-5)
    result = check_overdispersion(model)   # at our optimum, ~1e-4 from lme4's estimates
    assert result.df_resid == expected["rdf"]
    assert result.chisq == pytest.approx(expected["chisq"], rel=1e-3)
    assert result.ratio == pytest.approx(expected["ratio"], rel=1e-3)
    assert result.p_value == pytest.approx(expected["p"], rel=2e-2)
    # the layout, on R's numbers (ours differ from lme4's in the 6th digit: its PIRLS
    # stops at 1e-7)
    r_numbers = Overdispersion(expected["chisq"], expected["ratio"], expected["rdf"],
                               expected["p"])
    verdict = "Overdispersion detected." if expected["p"] <= 0.05 else "No overdispersion detected."
    assert str(r_numbers) == expected["printed"] + "\n" + verdict
    assert result.detected == r_numbers.detected


def test_poisson_fit_of_simulated_negative_binomial_counts():
    case = NB_CASES["sim_nb_offset"]
    data = pd.read_csv(DATA / "sim_nb.csv").astype({"g": "category", "arm": "category"})
    model = lmmpy.glmer(case["formula"], data, "poisson")
    expected, result = case["poisson_overdispersion"], check_overdispersion(model)
    assert model.loglik == pytest.approx(case["poisson_loglik"], abs=1e-3)
    assert result.df_resid == expected["rdf"]
    assert result.chisq == pytest.approx(expected["chisq"], rel=1e-3)
    assert result.p_value == pytest.approx(expected["p"], rel=1e-2, abs=1e-12)
    assert result.detected


def test_definition():
    model = _fit("cbpp")
    result = check_overdispersion(model)
    pearson = model.residuals("pearson").to_numpy()
    assert result.chisq == pytest.approx(np.sum(pearson**2), rel=1e-12)
    assert result.df_resid == model.nobs - model.n_params
    assert isinstance(result, Overdispersion) and not result.detected


def test_print_rounds_as_performance():
    assert "p-value =   0.03\n" in str(Overdispersion(10.0, 1.2, 8, 0.0301))
    assert "p-value =     1\n" in str(Overdispersion(1.0, 0.1, 10, 0.9999))
    assert str(Overdispersion(1.0, 0.1, 10, 0.0502)).endswith("\nOverdispersion detected.")


def test_refuses_binary_responses():
    bacteria = lmmpy.datasets.load("bacteria")
    model = lmmpy.glmer("y ~ trt + I(week > 2) + (1 | ID)", bacteria)
    with pytest.raises(ValueError, match="cannot test a binary \\(0/1\\) response"):
        check_overdispersion(model)


def test_refuses_other_families_and_linear_models():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        linear = lmmpy.lmer("Yield ~ 1 + (1 | Batch)", lmmpy.datasets.load("Dyestuff"))
    with pytest.raises(TypeError, match="not to a LinearMixedModel \\(a linear mixed model"):
        check_overdispersion(linear)
    cbpp = lmmpy.datasets.load("cbpp")
    gamma = lmmpy.glmer("size ~ period + (1 | herd)", cbpp, "Gamma")
    with pytest.raises(TypeError, match="not to the Gamma family"):
        check_overdispersion(gamma)
