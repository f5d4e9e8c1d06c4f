"""ICC and Nakagawa R² of GLMMs against R's performance 0.10.2 / insight 0.19.0
(make_glmm_inference.R): at lme4's estimates to 1e-4 (the Poisson's null model is
refitted, by us and by R), on our fits to the 1e-3 the variance components agree to."""

from __future__ import annotations

import math

import pytest
from inference_cases import BINOMIAL_POISSON, at_lme4, fitted, model_data, reference

import lmmpy


@pytest.mark.parametrize("name", BINOMIAL_POISSON)
@pytest.mark.parametrize(("which", "tolerance"), [("at_lme4", 1e-4), ("fitted", 2e-3)])
def test_icc_and_r2_match_performance(name, which, tolerance):
    model = at_lme4(name) if which == "at_lme4" else fitted(name)
    expected = reference(name)["icc"]
    icc, r2 = model.icc(), model.r2()
    assert icc.icc_adjusted == pytest.approx(expected["adjusted"], rel=tolerance)
    assert icc.icc_conditional == pytest.approx(expected["conditional"], rel=tolerance)
    assert r2.r2_marginal == pytest.approx(expected["r2_marginal"], rel=tolerance)
    assert r2.r2_conditional == pytest.approx(expected["r2_conditional"], rel=tolerance)
    if which == "fitted":
        return   # the components are functions of (θ, β): compared at lme4's
    parts = icc.variances
    assert parts.fixed == pytest.approx(expected["var_fixed"], rel=tolerance)
    assert parts.random == pytest.approx(expected["var_random"], rel=tolerance)
    assert parts.residual == pytest.approx(expected["var_distribution"], rel=tolerance)


def test_distribution_variances_by_link():
    assert fitted("bacteria").icc().variances.residual == pytest.approx(math.pi**2 / 3)
    assert fitted("probit").icc().variances.residual == 1.0


def test_icc_of_a_family_without_a_latent_variance_is_an_error():
    with pytest.raises(ValueError, match="no distribution-specific variance for the Gamma"):
        fitted("gamma").icc()
    with pytest.raises(ValueError, match="cauchit link"):
        lmmpy.glmer("y ~ x + (1 | g)", model_data("bin_sep"), "binomial",
                    link="cauchit").r2()


def test_icc_by_group_on_two_crossed_terms():
    model = fitted("pois_offset")
    by_group = model.icc(by_group=True)
    parts = model.icc().variances
    assert list(by_group.index) == ["site", "day"]
    assert by_group.sum() == pytest.approx(model.icc().icc_adjusted)
    assert by_group["site"] == pytest.approx(parts.intercepts["site"]
                                             / (parts.random + parts.residual))
