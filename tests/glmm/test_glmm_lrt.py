"""Likelihood-ratio tests between GLMMs and of their random-effects terms, against lme4.

lme4's glmer stops PIRLS at a relative change of 1e-7, so its log-likelihoods are up to
~2e-3 below the converged criterion's (test_glmer_reference): ours must not be below
lme4's and the statistics agree to that precision.  A reduced model without random
effects is R's ``glm``, whose log-likelihood is exact.
"""

from __future__ import annotations

import numpy as np
import pytest
from inference_cases import REFERENCE, fitted, model_data, reference
from reference import load_case, load_case_data

import lmmpy

LME4_SHORTFALL = 2e-3   # lme4's loglik below its converged criterion, at most
WHOLE_TERM = {"(x | g)": "(1 + x | g)"}   # R's label of (x | g) removed whole: ours


def test_bacteria_lrt_table_matches_lme4():
    case = load_case("bacteria_lrt_trt")
    data = load_case_data(case)
    fits = [lmmpy.glmer(spec["formula"], data, "binomial") for spec in case["models"]]
    table = lmmpy.anova(*fits)
    expected = case["table"]
    assert table["npar"].tolist() == [row["npar"] for row in expected]
    for ours, theirs in zip(table.itertuples(), expected, strict=True):
        assert ours.loglik >= theirs["logLik"] - 1e-6
        assert ours.loglik == pytest.approx(theirs["logLik"], abs=LME4_SHORTFALL)
        assert ours.aic == pytest.approx(-2 * ours.loglik + 2 * theirs["npar"])
    assert table["chisq"].iloc[1] == pytest.approx(expected[1]["Chisq"], abs=2 * LME4_SHORTFALL)
    assert table["df"].iloc[1] == expected[1]["Df"]
    assert table["p_value"].iloc[1] == pytest.approx(expected[1]["Pr"], abs=1e-4)


@pytest.mark.parametrize("name", [n for n in REFERENCE["models"] if "anova" in reference(n)])
def test_anova_between_glmms_matches_lme4(name):
    expected = reference(name)["anova"]
    null = fitted(name, _null_formula(name))
    table = lmmpy.anova(null, fitted(name))
    assert table["npar"].tolist() == expected["npar"]
    assert np.all(table["loglik"].to_numpy() >= np.array(expected["logLik"]) - 1e-6)
    np.testing.assert_allclose(table["loglik"], expected["logLik"], atol=LME4_SHORTFALL)
    assert table["chisq"].iloc[1] == pytest.approx(expected["Chisq"], abs=2 * LME4_SHORTFALL)
    assert table["df"].iloc[1] == expected["Df"]
    assert table["p_value"].iloc[1] == pytest.approx(expected["p"], rel=1e-2)


def _null_formula(name: str) -> str:
    return {"cbpp": "cbind(incidence, size - incidence) ~ 1 + (1 | herd)",
            "bin_slope": "y ~ x + z + (1 | g)",
            "pois_offset": "y ~ x + offset(log(expo)) + (1 | site) + (1 | day)"}[name]


def _random_cases():
    return [(name, label) for name, spec in REFERENCE["models"].items()
            for label in spec["random_tests"] if name not in ("probit", "gamma")]


@pytest.mark.parametrize(("name", "label"), _random_cases())
def test_random_term_lrt_matches_lme4(name, label):
    expected = reference(name)["random_tests"][label]
    model = fitted(name)
    ours = WHOLE_TERM.get(label, label)
    table = lmmpy.test_random_effect(model, ours, reduce_terms=label not in WHOLE_TERM)
    row = table.loc[ours]
    assert row["loglik"] >= expected["loglik_reduced"] - 1e-6
    assert row["loglik"] == pytest.approx(expected["loglik_reduced"], abs=LME4_SHORTFALL)
    assert row["lrt"] == pytest.approx(expected["lrt"], abs=2 * LME4_SHORTFALL)


def test_removing_the_only_term_gives_the_glm():
    """With every θ at zero the criterion is the GLM's −2 log-likelihood (R's glm, exact)."""
    expected = reference("bin_sep")["random_tests"]["(1 | g)"]["loglik_reduced"]
    row = lmmpy.test_random_effect(fitted("bin_sep"), "(1 | g)").iloc[1]
    assert row["loglik"] == pytest.approx(expected, abs=1e-6)
    assert row["mixture"] == "0.5 chi2(0) + 0.5 chi2(1)"
    assert row["p_value_mixture"] == pytest.approx(row["p_value"] / 2)


def test_ranova_of_a_random_slope_uses_the_mixture():
    table = fitted("bin_slope").ranova()
    assert list(table.index) == ["<none>", "x in (1 + x | g)"]
    row = table.iloc[1]
    assert row["df"] == 2 and row["mixture"] == "0.5 chi2(1) + 0.5 chi2(2)"
    assert "Laplace" in table.attrs["note"]


def test_anova_refuses_mixed_kinds_and_families():
    data = model_data("pois_offset")
    linear = lmmpy.lmer("y ~ x + (1 | site)", data)
    poisson = lmmpy.glmer("y ~ x + (1 | site)", data, "poisson")
    with pytest.raises(TypeError, match="cannot compare a LinearMixedModel with a Generalized"):
        lmmpy.anova(linear, poisson)
    identity = lmmpy.glmer("y ~ x + (1 | site)", data, "poisson", link="sqrt")
    with pytest.raises(ValueError, match="models have different families"):
        lmmpy.anova(poisson, identity)
    other = lmmpy.glmer("y ~ x + (1 | site)", data.assign(y=data["y"] + 1), "poisson")
    with pytest.raises(ValueError, match=r"the responses of .* differ"):
        lmmpy.anova(poisson, other)


def test_anova_of_a_single_glmm_says_what_to_do():
    with pytest.raises(ValueError, match=r"anova of a single GLMM has no F tests.*anova\(m0, m1\)"):
        lmmpy.anova(fitted("cbpp"))
