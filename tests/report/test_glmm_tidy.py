"""tidy, glance and model_table of GLMMs against broom.mixed 0.2.9.4 on glmer fits
(make_glmm_inference.R).  As elsewhere, functions of (θ, β) are compared at lme4's
estimates; standard errors (hence z) to 5e-3, log-likelihoods to lme4's PIRLS shortfall."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

sys.path.insert(0, str(Path(__file__).parents[1] / "glmm"))
from inference_cases import MODELS, at_lme4, fitted, r_vector, reference

import lmmpy


def broom(name: str) -> pd.DataFrame:
    return pd.DataFrame(reference(name)["tidy"])


@pytest.mark.parametrize("name", MODELS)
def test_tidy_fixed_effects_match_broom_mixed(name):
    expected = broom(name).query("effect == 'fixed'")
    ours = at_lme4(name).tidy(conf_int=True).query("effect == 'fixed'")
    assert len(ours) == len(expected)
    np.testing.assert_allclose(ours["estimate"], expected["estimate"], rtol=1e-6, atol=1e-8)
    # broom.mixed's standard errors are lme4's vcov at PIRLS tolerance 1e-7 (up to ~1% off):
    # against lme4's with PIRLS converged (the tight Wald intervals' half-widths)
    tight = pd.DataFrame(reference(name)["confint_wald_tight"]).tail(len(expected))
    tight_se = (r_vector(tight["upper"]) - r_vector(tight["lower"])) / (2 * stats.norm.ppf(0.975))
    np.testing.assert_allclose(ours["std_error"], tight_se, rtol=5e-3)
    np.testing.assert_allclose(ours["statistic"], ours["estimate"] / ours["std_error"])
    np.testing.assert_allclose(ours["p_value"], 2 * stats.norm.sf(np.abs(ours["statistic"])))
    assert np.isinf(ours["df"]).all()
    half = stats.norm.ppf(0.975) * ours["std_error"]
    np.testing.assert_allclose(ours["conf_high"] - ours["estimate"], half)


@pytest.mark.parametrize("name", MODELS)
def test_tidy_random_parameters_match_broom_mixed(name):
    expected = broom(name).query("effect == 'ran_pars'")
    ours = at_lme4(name).tidy().query("effect == 'ran_pars'")
    assert ours["group"].tolist() == expected["group"].tolist()
    assert ours["term"].tolist() == expected["term"].tolist()
    np.testing.assert_allclose(ours["estimate"], r_vector(expected["estimate"]), rtol=1e-5,
                               atol=1e-6)


@pytest.mark.parametrize("name", MODELS)
def test_glance_matches_broom_mixed(name):
    expected = reference(name)["glance"]
    ours, theirs = fitted(name).glance().iloc[0], at_lme4(name).glance().iloc[0]
    assert ours["nobs"] == expected["nobs"] and ours["df_resid"] == expected["df.residual"]
    assert ours["loglik"] >= expected["logLik"] - 1e-6
    assert ours["loglik"] == pytest.approx(expected["logLik"], abs=2e-3)
    assert ours["aic"] == pytest.approx(expected["AIC"] + 2 * (expected["logLik"] - ours["loglik"]))
    assert theirs["deviance"] == pytest.approx(expected["deviance"], rel=1e-5)
    assert theirs["sigma"] == pytest.approx(expected["sigma"], rel=1e-5)
    assert np.isnan(ours["reml_criterion"])


def test_tidy_with_profile_intervals_covers_the_variance_parameters():
    table = fitted("bin_sep").tidy(conf_int=True, conf_method="profile")
    expected = pd.DataFrame(reference("bin_sep")["confint_profile"])
    row = table.query("effect == 'ran_pars'").iloc[0]
    assert row[["conf_low", "conf_high"]].tolist() == pytest.approx(
        [expected["lower"][0], expected["upper"][0]], rel=1e-3)


def test_model_table_of_two_glmms():
    m0 = fitted("cbpp", "cbind(incidence, size - incidence) ~ 1 + (1 | herd)")
    m1 = fitted("cbpp")
    table = lmmpy.model_table([m0, m1], stars=True)
    frame = table.frame
    assert frame.loc["Estimation"].tolist() == ["ML (Laplace)", "ML (Laplace)"]
    assert frame.loc["SD (Intercept) | herd"].tolist() == [f"{m0.tidy()['estimate'].iloc[-1]:.3f}",
                                                          f"{m1.tidy()['estimate'].iloc[-1]:.3f}"]
    assert "SD (Observations)" not in frame.index
    assert "z tests" in table.note
    assert frame.loc["period[T.2]"].iloc[1].endswith("**")
