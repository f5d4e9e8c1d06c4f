"""The fitted model's public contract beyond the lme4 reference numbers."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

import lmmpy
from lmmpy.results import LinearMixedModel


@pytest.fixture(scope="module")
def sleep():
    return lmmpy.datasets.load("sleepstudy")


@pytest.fixture(scope="module")
def slope_model(sleep):
    return lmmpy.lmer("Reaction ~ Days + (Days | Subject)", sleep, data_name="sleepstudy")


def test_coef_is_fixef_plus_ranef(slope_model):
    coef = slope_model.coef["Subject"]
    expected = slope_model.ranef["Subject"] + slope_model.fixef
    assert list(coef.columns) == ["(Intercept)", "Days"]
    assert np.allclose(coef, expected[coef.columns])


def test_coef_keeps_fixed_effects_without_random_part(sleep):
    m = lmmpy.lmer("Reaction ~ Days + (1 | Subject)", sleep)
    coef = m.coef["Subject"]
    assert np.allclose(coef["Days"], m.fixef["Days"])
    intercepts = m.fixef["(Intercept)"] + m.ranef["Subject"]["(Intercept)"]
    assert np.allclose(coef["(Intercept)"], intercepts)


def test_two_terms_on_one_factor_share_a_ranef_table_and_get_unique_varcorr_names(sleep):
    m = lmmpy.lmer("Reaction ~ Days + (Days || Subject)", sleep)
    assert list(m.ranef["Subject"].columns) == ["(Intercept)", "Days"]
    assert list(m.varcorr["grp"]) == ["Subject", "Subject.1", "Residual"]
    assert list(m.ngroups) == ["Subject"]


def test_fitted_plus_residuals_is_the_response(slope_model, sleep):
    assert np.allclose(slope_model.fitted + slope_model.residuals, sleep["Reaction"])
    assert slope_model.fitted.index.equals(sleep.index)


def test_predict_without_newdata_is_fitted(slope_model):
    assert slope_model.predict().equals(slope_model.fitted)
    population = slope_model.predict(re_form=False)
    assert np.allclose(population, slope_model.design.X.values @ slope_model.fixef)


def test_predict_on_the_fitting_data_reproduces_the_fit(slope_model, sleep):
    assert np.allclose(slope_model.predict(sleep), slope_model.fitted)


def test_new_level_gets_the_population_prediction(slope_model):
    new = pd.DataFrame({"Days": [0.0, 5.0], "Subject": ["NEW", "308"]})
    predicted = slope_model.predict(new, allow_new_levels=True)
    population = slope_model.predict(new, re_form=False)
    assert predicted.iloc[0] == pytest.approx(population.iloc[0])
    assert predicted.iloc[1] != pytest.approx(population.iloc[1])


def test_missing_rows_are_dropped_and_reported(sleep):
    data = sleep.copy()
    data.loc[[1, 50], "Reaction"] = np.nan
    m = lmmpy.lmer("Reaction ~ Days + (Days | Subject)", data)
    assert m.nobs == 178
    assert m.design.n_dropped == 2
    assert 1 not in m.fitted.index
    assert "(2 observations deleted due to missingness)" in str(m.summary())


def test_aliased_column_is_dropped_with_a_warning_naming_it(sleep):
    data = sleep.assign(Days2=2 * sleep["Days"])
    with pytest.warns(lmmpy.RankDeficiencyWarning, match="dropping 1 column.*: Days2"):
        m = lmmpy.lmer("Reaction ~ Days + Days2 + (1 | Subject)", data)
    assert list(m.fixef.index) == ["(Intercept)", "Days"]
    assert "rank deficient so dropping 1 columns / coefficients: Days2" in str(m.summary())


def test_formula_offset_equals_offset_argument(sleep):
    data = sleep.assign(o=sleep["Days"] / 10)
    a = lmmpy.lmer("Reaction ~ Days + offset(o) + (1 | Subject)", data)
    b = lmmpy.lmer("Reaction ~ Days + (1 | Subject)", data, offset="o")
    assert a.loglik == pytest.approx(b.loglik, abs=1e-9)
    assert np.allclose(a.fitted, b.fitted)


def test_r_style_power_inside_I_is_a_power(sleep):
    m = lmmpy.lmer("Reaction ~ Days + I(Days^2) + (1 | Subject)", sleep)
    assert np.allclose(m.design.X.values[:, 2], sleep["Days"] ** 2)


def test_python_keyword_column_names_work():
    schools = lmmpy.datasets.load("sim_schools")
    m = lmmpy.lmer("y ~ x + (1 | class)", schools)
    assert m.ngroups == {"class": 15}


def test_weights_scale_the_residual_variance(sleep):
    # Var(y) = σ²/w: doubling every prior weight doubles σ² and leaves β̂ alone.
    a = lmmpy.lmer("Reaction ~ Days + (Days | Subject)", sleep)
    b = lmmpy.lmer("Reaction ~ Days + (Days | Subject)", sleep, weights=np.full(len(sleep), 2.0))
    assert np.allclose(a.fixef, b.fixef, rtol=1e-6)
    # (to the optimizer's tolerance: the two problems take different BOBYQA paths)
    assert b.sigma**2 == pytest.approx(2 * a.sigma**2, rel=1e-5)


def test_singular_fit_warns_and_says_so_in_the_summary():
    with pytest.warns(lmmpy.SingularFitWarning, match="boundary \\(singular\\) fit"):
        m = lmmpy.lmer("Yield ~ 1 + (1 | Batch)", lmmpy.datasets.load("Dyestuff2"))
    assert m.is_singular
    assert m.theta[0] == 0.0
    assert "boundary (singular) fit" in str(m.summary())


def test_ml_fit_summary_shows_the_information_criteria(sleep):
    m = lmmpy.lmer("Reaction ~ Days + (Days | Subject)", sleep, reml=False)
    text = str(m.summary())
    assert "fit by maximum likelihood" in text
    assert "AIC" in text and "df.resid" in text
    assert m.reml_criterion is None


LME4_SLEEPSTUDY_THETA = np.array([0.96674177, 0.01516906, 0.23090995])  # lme4 1.1-31


def test_summary_reads_like_lme4(slope_model):
    """At lme4's θ the summary prints lme4's lines, digit for digit."""
    at_lme4 = LinearMixedModel(slope_model.design, slope_model.objective,
                               slope_model.optimization,
                               slope_model.objective.solve(LME4_SLEEPSTUDY_THETA), True,
                               "sleepstudy")
    text = str(at_lme4.summary())
    for line in [
        "Linear mixed model fit by REML ['lmerMod']",
        "Formula: Reaction ~ Days + (Days | Subject)",
        "   Data: sleepstudy",
        "REML criterion at convergence: 1743.6",
        " Subject  (Intercept) 612.10   24.741",
        "Number of obs: 180, groups:  Subject, 18",
        "(Intercept)  251.405      6.825  36.838",
        "Days -0.138",
    ]:
        assert line in text


def test_summary_html_has_real_tables(slope_model):
    """Notebooks get tables, not <pre> text a proportional font breaks up."""
    page = slope_model.summary(ddf="satterthwaite")._repr_html_()
    assert "<pre>" not in page
    assert page.count("<table") == 4   # residuals, random effects, fixed effects, correlation
    assert "<th>Subject</th>" not in page and "<td>Subject</td>" in page
    assert "<th>Days</th>" in page and "<th>Pr(&gt;|t|)</th>" in page
    assert "<p>Number of obs: 180, groups:  Subject, 18</p>" in page
    ml = lmmpy.lmer("Reaction ~ Days + (Days | Subject)", lmmpy.datasets.load("sleepstudy"),
                    reml=False)
    assert "<th>df.resid</th>" in ml.summary()._repr_html_()


def test_sleepstudy_fit_prints_the_exact_optimum_where_lme4_stops_short(slope_model):
    """Our fit prints 612.09 / 24.740 where lme4 prints 612.10 / 24.741: ours is the optimum.

    Newton's method on the analytic gradient finds the stationary point to 1e-10;
    its intercept variance is 612.0899, our fit's objective is below lme4's, and
    lme4's θ has a gradient 100 times ours: BOBYQA stopped 9e-6 short in θ₁.
    """
    f = slope_model.objective
    theta = slope_model.theta.copy()
    for _ in range(3):
        _, gradient = f.value_and_gradient(theta)
        hessian = np.array([(f.value_and_gradient(theta + 1e-5 * e)[1]
                             - f.value_and_gradient(theta - 1e-5 * e)[1]) / 2e-5
                            for e in np.eye(3)])
        theta = theta - np.linalg.solve((hessian + hessian.T) / 2, gradient)
    assert np.max(np.abs(f.value_and_gradient(theta)[1])) < 1e-8
    exact = f.solve(theta)
    assert (exact.sigma * theta[0]) ** 2 == pytest.approx(612.0899, abs=1e-4)
    assert slope_model.solution.deviance < f(LME4_SLEEPSTUDY_THETA)
    lme4_gradient = np.max(np.abs(f.value_and_gradient(LME4_SLEEPSTUDY_THETA)[1]))
    assert lme4_gradient > 100 * np.max(np.abs(slope_model.optimization.gradient))
    assert " Subject  (Intercept) 612.09   24.740" in str(slope_model.summary())


def test_model_is_frozen(slope_model):
    with pytest.raises(AttributeError):
        slope_model.reml = False


def test_no_convergence_warning_on_reference_models(sleep):
    with warnings.catch_warnings():
        warnings.simplefilter("error", lmmpy.ConvergenceWarning)
        m = lmmpy.lmer("Reaction ~ Days + (Days | Subject)", sleep)
    assert m.optimization.converged


def test_simulate_use_re_is_use_u(slope_model):
    for flag in (True, False):
        a = slope_model.simulate(nsim=2, seed=5, use_re=flag)
        b = slope_model.simulate(nsim=2, seed=5, use_u=flag)
        assert a.equals(b)
    conditional = slope_model.simulate(nsim=1, seed=5, use_re=True)
    unconditional = slope_model.simulate(nsim=1, seed=5, use_re=False)
    assert not conditional.equals(unconditional)


def test_fitted_model_renders_its_summary_in_notebooks(slope_model):
    assert slope_model._repr_html_() == slope_model.summary()._repr_html_()
