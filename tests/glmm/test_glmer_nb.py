"""glmer_nb against lme4::glmer.nb (tools/reference/make_glmm_nb.R: epil and simulated data).

lme4 stops PIRLS at a relative change of 1e-7, so its reported log-likelihood is
off its own Laplace criterion at its estimates by up to ~2e-4 either way; the
reference holds that criterion converged (``tight``, PIRLS to 1e-12, k held at
lme4's estimate) and standard errors from a Richardson Hessian of it.  Our fit
must reach at least that value (the proof of a better or equal optimum, with our
criterion at lme4's (θ, β, k) equal to it), and lie within 1e-4 of lme4's report
or above the converged value.

lme4's glmer.nb with nAGQ > 1 minimises, over k, a quadrature criterion that
leaves out the saturated log-likelihood, which depends on k: it runs to a
wrong k (0.117 on ``sim_nb_offset_agq``, against 1.79 by Laplace).  Ours adds
that term back; the test shows our full log-likelihood is higher than at lme4's
estimates.
"""

from __future__ import annotations

import functools
import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import lmmpy
from lmmpy._families import NegativeBinomial
from lmmpy.glmm._optimize import GlmmCriterion
from lmmpy.glmm.fit import glmm_setup
from lmmpy.glmm.nb import _saturated, theta_ml

DATA = Path(__file__).parents[1] / "data" / "glmm"
REFERENCE = {case["case"]: case for case in json.loads((DATA / "nb_cases.json").read_text())}
LAPLACE = [name for name, case in REFERENCE.items() if case["nAGQ"] == 1]


@functools.cache
def data(name: str) -> pd.DataFrame:
    if name == "epil":
        return lmmpy.datasets.load("epil")
    frame = pd.read_csv(DATA / "sim_nb.csv")
    for column in ("g", "h", "arm"):
        frame[column] = pd.Categorical(frame[column])
    return frame


@functools.cache
def fitted(name: str, method: str = "joint") -> lmmpy.NegativeBinomialMixedModel:
    case = REFERENCE[name]
    return lmmpy.glmer_nb(case["formula"], data(case["data"]), nagq=case["nAGQ"], method=method)


def lme4_parameters(case: dict) -> np.ndarray:
    return np.array(list(case["theta"].values()) + list(case["fixef"].values()))


@functools.cache
def criterion_at_lme4(name: str, nagq: int | None = None) -> float:
    """−2 log-likelihood by our criterion at lme4's (θ, β), k = lme4's k."""
    case = REFERENCE[name]
    system = glmm_setup(case["formula"], data(case["data"]), NegativeBinomial(case["nb_theta"]))
    criterion = GlmmCriterion(system, len(case["theta"]), case["nAGQ"] if nagq is None else nagq)
    return criterion(lme4_parameters(case)) + _saturated(system, criterion.nagq)


@pytest.mark.parametrize("name", LAPLACE)
def test_criterion_at_lme4_estimates_is_lme4s_converged_criterion(name):
    # the log link is not the negative binomial's canonical link: lme4's Fisher-scoring
    # PIRLS converges linearly, and its stop at a relative change of pdev of 1e-12 leaves
    # its value ~1e-6 off the mode's (ours is the mode's: the next test)
    assert -criterion_at_lme4(name) / 2 == pytest.approx(REFERENCE[name]["tight"]["loglik"],
                                                         abs=2e-5)


@pytest.mark.parametrize("name", LAPLACE)
def test_criterion_is_the_laplace_approximation_at_the_exact_mode(name):
    """Dense Newton on u at lme4's (θ, β, k) until the gradient of pdev/2 is below 1e-11."""
    case = REFERENCE[name]
    system = glmm_setup(case["formula"], data(case["data"]), NegativeBinomial(case["nb_theta"]))
    n_theta = len(case["theta"])
    theta, beta = lme4_parameters(case)[:n_theta], lme4_parameters(case)[n_theta:]
    family, response = system.response.family, system.response
    ZL = system.design.Z.toarray() @ system.Lambda(theta).toarray()
    fixed = system.design.X.values @ beta + system.design.offset
    u = np.zeros(ZL.shape[1])
    for _ in range(200):
        mu = np.exp(fixed + ZL @ u)
        gradient = u - ZL.T @ ((response.y - mu) / (1 + mu / family.theta))
        weights = mu / (1 + mu / family.theta)          # Fisher information of log μ
        information = ZL.T @ (ZL * weights[:, None]) + np.eye(len(u))
        if np.max(np.abs(gradient)) < 1e-11:
            break
        u -= np.linalg.solve(information, gradient)
    deviance = response.aic(mu) + u @ u + np.linalg.slogdet(information)[1]
    assert criterion_at_lme4(name) == pytest.approx(deviance, abs=1e-8)


@pytest.mark.parametrize("name", LAPLACE)
def test_optimum_not_worse_than_lme4(name):
    ours, case = fitted(name).loglik, REFERENCE[name]
    at_lme4 = -criterion_at_lme4(name) / 2
    assert ours >= at_lme4 - 1e-8
    assert ours - at_lme4 < 1e-4    # the same optimum
    assert ours >= case["loglik"] - 1e-4 or ours >= case["tight"]["loglik"]


@pytest.mark.parametrize("name", LAPLACE)
def test_estimates(name):
    model, case = fitted(name), REFERENCE[name]
    assert model.nb_theta == pytest.approx(case["nb_theta"], rel=1e-3)
    np.testing.assert_allclose(model.fixef, list(case["fixef"].values()), rtol=1e-3)
    np.testing.assert_allclose(model.theta, list(case["theta"].values()), rtol=1e-3, atol=1e-3)
    np.testing.assert_allclose(model.fixef_se, list(case["tight"]["fixef_se"].values()),
                               rtol=5e-3)
    expected = pd.DataFrame(case["varcorr"])
    assert model.varcorr.grp.tolist() == expected.grp.tolist()
    np.testing.assert_allclose(model.varcorr.vcov, expected.vcov, rtol=1e-3, atol=1e-4)
    correlation = expected.var2.notna().to_numpy()
    np.testing.assert_allclose(model.varcorr.sdcor[correlation], expected.sdcor[correlation],
                               atol=1e-3)


@pytest.mark.parametrize("name", LAPLACE)
def test_counts_and_information_criteria(name):
    model, case = fitted(name), REFERENCE[name]
    assert model.n_params == case["loglik_df"]       # θ, β and k
    assert model.df_resid == case["df_resid"]
    assert model.aic == pytest.approx(-2 * model.loglik + 2 * case["loglik_df"])
    assert model.aic == pytest.approx(case["AIC"], abs=1e-3)
    assert model.bic == pytest.approx(case["BIC"], abs=1e-3)
    assert model.deviance == pytest.approx(case["deviance"], rel=1e-3)


@pytest.mark.parametrize("name", LAPLACE)
def test_residuals_and_fitted(name):
    model, case = fitted(name), REFERENCE[name]
    np.testing.assert_allclose(model.residuals("pearson").to_numpy()[:10], case["pearson_head"],
                               rtol=1e-3, atol=1e-4)
    np.testing.assert_allclose(model.fitted.to_numpy()[:10], case["fitted_head"], rtol=1e-3)


@pytest.mark.parametrize("name", LAPLACE)
def test_overdispersion_as_performance(name):
    expected, result = REFERENCE[name]["overdispersion"], lmmpy.check_overdispersion(fitted(name))
    assert result.df_resid == expected["rdf"]
    assert result.chisq == pytest.approx(expected["chisq"], rel=1e-3)
    assert result.p_value == pytest.approx(expected["p"], rel=1e-3)
    assert not result.detected


def test_alternating_reaches_the_joint_optimum_with_more_evaluations():
    joint, alternating = fitted("epil_nb"), fitted("epil_nb", "alternating")
    assert alternating.loglik == pytest.approx(joint.loglik, abs=1e-6)
    assert alternating.nb_theta == pytest.approx(joint.nb_theta, rel=1e-3)
    np.testing.assert_allclose(alternating.fixef, joint.fixef, rtol=1e-4)
    assert alternating.nb_search.n_refits >= 5                 # lme4: 12 refits here
    assert joint.nb_search.n_evaluations < alternating.nb_search.n_evaluations


@pytest.mark.parametrize("name", LAPLACE)
@pytest.mark.parametrize("nagq", [1, 0])
def test_gradient_search_reaches_bobyqas_optimum_in_fewer_evaluations(name, nagq):
    """The joint search's default, projected BFGS with dF/d log k, against BOBYQA on the
    same criterion and interval (the only search before the gradient in k)."""
    case = REFERENCE[name]
    frame = data(case["data"])
    bobyqa = lmmpy.glmer_nb(case["formula"], frame, nagq=nagq,
                            control=lmmpy.GlmerControl(optimizer="bobyqa"))
    descent = fitted(name) if nagq == 1 else lmmpy.glmer_nb(case["formula"], frame, nagq=0)
    assert descent.loglik >= bobyqa.loglik - 1e-7
    assert descent.nb_theta == pytest.approx(bobyqa.nb_theta, rel=1e-3)
    assert descent.nb_search.n_evaluations < bobyqa.nb_search.n_evaluations / 2


def test_quadrature_fit_maximises_the_full_likelihood_where_lme4_does_not():
    name = "sim_nb_offset_agq"
    model, case = fitted(name), REFERENCE[name]
    laplace = fitted("sim_nb_offset")
    assert model.nb_theta == pytest.approx(laplace.nb_theta, rel=0.02)   # lme4: 0.117
    assert case["nb_theta"] < 0.2 and case["is_singular"]
    ours_full = -2 * model.loglik + _saturated(model.system, model.nagq)
    assert ours_full < criterion_at_lme4(name) - 100                      # by far the better
    # the reported log-likelihood follows lme4's nAGQ > 1 convention (saturated part left out)
    assert model.loglik == pytest.approx(-model.deviance_value / 2)
    assert ours_full == pytest.approx(-2 * laplace.loglik, abs=0.5)   # AGQ ≈ Laplace here


def test_glmer_with_the_shape_held_fixed_is_lme4s_last_refit():
    case = REFERENCE["sim_nb_crossed"]
    family = lmmpy.NegativeBinomial(case["nb_theta"])
    model = lmmpy.glmer(case["formula"], data("sim_nb"), family)
    assert model.loglik >= case["tight"]["loglik"] - 1e-8
    np.testing.assert_allclose(model.fixef, list(case["fixef"].values()), rtol=1e-3)
    assert model.n_params == case["loglik_df"]       # lme4's npar counts k all the same
    assert not hasattr(model, "nb_theta")


def test_summary_names_the_family_as_lme4():
    model = fitted("epil_nb")
    text = str(model.summary())
    assert f" Family: Negative Binomial({model.nb_theta:.4f})  ( log )\n" in text
    assert text.startswith("Generalized linear mixed model fit by maximum likelihood (Laplace "
                           "Approximation) ['glmerMod']\n")
    assert "   1266.5   1290.8   -626.3   1252.5      229" in text   # lme4's line
    assert repr(model).startswith("<NegativeBinomialMixedModel 'y ~ trt")


def test_family_against_r():
    reference = json.loads((DATA / "nb_family.json").read_text())
    family = NegativeBinomial(reference["theta"])
    y, mu, wt = (np.array(reference[key], dtype=float) for key in ("y", "mu", "wt"))
    assert family.name == reference["family"]
    np.testing.assert_allclose(family.linkinv(np.log(mu)), reference["linkinv"], rtol=1e-13)
    np.testing.assert_allclose(family.mu_eta(np.log(mu)), reference["mu_eta"], rtol=1e-13)
    np.testing.assert_allclose(family.variance(mu), reference["variance"], rtol=1e-13)
    deviance = family.deviance_residuals(y, mu, wt)
    np.testing.assert_allclose(deviance, reference["dev_resids"], rtol=1e-12, atol=1e-14)
    assert family.aic(y, np.ones_like(y), mu, wt, deviance.sum()) == pytest.approx(
        reference["aic"], rel=1e-13)
    from lmmpy.glmm._response import GlmResponse
    start = GlmResponse(y, np.ones_like(y), wt, family).start_eta()
    np.testing.assert_allclose(np.exp(start), reference["mustart"], rtol=1e-13)


@pytest.mark.parametrize(("theta", "text"), [(7.419325, "7.4193"), (2.0, "2"),
                                             (123456.78912, "123456.8"), (0.5, "0.5")])
def test_family_name_is_rs(theta, text):
    assert NegativeBinomial(theta).name == f"Negative Binomial({text})"


def test_theta_ml_is_the_maximum_of_the_profile():
    rng = np.random.default_rng(3)
    mu = rng.uniform(1, 8, 500)
    y = rng.negative_binomial(3.0, 3.0 / (3.0 + mu))
    k = theta_ml(y, mu)

    def loglik(shape):
        return -NegativeBinomial(shape).aic(y, None, mu, np.ones_like(mu), 0.0) / 2

    assert loglik(k) > max(loglik(k * 1.01), loglik(k / 1.01))


def test_nb_theta_start_and_nagq0():
    case = REFERENCE["epil_nb"]
    started = lmmpy.glmer_nb(case["formula"], data("epil"), nb_theta_start=5.0)
    assert started.nb_search.start == 5.0
    assert started.loglik == pytest.approx(fitted("epil_nb").loglik, abs=1e-6)
    quick = lmmpy.glmer_nb(case["formula"], data("epil"), nagq=0)
    assert quick.nagq == 0 and quick.hessian is None
    assert quick.nb_theta == pytest.approx(case["nb_theta"], rel=0.05)
    assert quick.loglik == pytest.approx(case["loglik"], abs=0.5)


@pytest.mark.parametrize(("arguments", "error", "message"), [
    ({"method": "profile"}, ValueError, "method must be 'joint' or 'alternating', not 'profile'"),
    ({"nb_theta_start": -1.0}, ValueError, "nb_theta_start must be a positive number"),
    ({"nb_theta_start": "2"}, ValueError, "nb_theta_start must be a positive number"),
    ({"link": "logit"}, ValueError,
     "link 'logit' is not available for the negative binomial family; use one of 'log'"),
    ({"nagq": 5, "formula": "y ~ x + (x | g)"}, ValueError,
     "nagq > 1 needs a single random-effects term with one column"),
])
def test_bad_arguments(arguments, error, message):
    arguments = {"formula": "y ~ x + (1 | g)", **arguments}
    frame = pd.DataFrame({"y": [0, 1, 3, 2, 5, 1] * 3, "x": np.arange(18.0),
                          "g": list("abc") * 6})
    with pytest.raises(error, match=message):
        lmmpy.glmer_nb(arguments.pop("formula"), frame, **arguments)


@pytest.mark.parametrize(("formula", "change", "message"), [
    ("y ~ x + (1 | g)", {"y": -1}, "response 'y' has negative counts: the negative binomial "
                                   "family needs counts of 0 or more"),
    ("label ~ x + (1 | g)", {}, "response 'label' must be numeric for the negative binomial"),
    ("cbind(y, y) ~ x + (1 | g)", {}, "needs the binomial family, not negative binomial"),
])
def test_bad_response(formula, change, message):
    frame = pd.DataFrame({"y": [0, 1, 3, 2, 5, 1] * 3, "x": np.arange(18.0),
                          "g": list("abc") * 6, "label": "a"})
    for column, value in change.items():
        frame.loc[2, column] = value
    with pytest.raises((ValueError, TypeError), match=message):
        lmmpy.glmer_nb(formula, frame)


@pytest.mark.parametrize(("family", "error", "message"), [
    ("negative_binomial", ValueError, "family 'negative_binomial' needs its theta: estimate it "
                                      "with lmmpy.glmer_nb"),
    (NegativeBinomial, ValueError, "the NegativeBinomial family needs its theta"),
])
def test_glmer_needs_the_shape(family, error, message):
    with pytest.raises(error, match=message):
        lmmpy.glmer("y ~ x + (1 | g)", pd.DataFrame({"y": [1], "x": [1.0], "g": ["a"]}), family)


@pytest.mark.parametrize(("theta", "error"), [(0.0, ValueError), (-2.0, ValueError),
                                              (math.inf, ValueError), ("2", TypeError),
                                              (True, TypeError)])
def test_shape_must_be_positive(theta, error):
    with pytest.raises(error, match="theta must be a positive number"):
        NegativeBinomial(theta)


def test_no_overdispersion_warns_at_the_end_of_the_interval():
    rng = np.random.default_rng(11)
    frame = pd.DataFrame({"g": np.repeat(np.arange(20), 15).astype(str),
                          "x": rng.normal(size=300)})
    effect = rng.normal(0, 0.5, 20)[np.repeat(np.arange(20), 15)]
    p = 1 / (1 + np.exp(-(-1 + 0.3 * frame["x"] + effect)))
    frame["y"] = rng.binomial(20, p)    # counts less dispersed than the Poisson's: k = ∞
    with pytest.warns(lmmpy.ConvergenceWarning, match="at the end of its search interval"):
        model = lmmpy.glmer_nb("y ~ x + (1 | g)", frame, nb_theta_start=50.0)
    assert model.nb_theta == pytest.approx(50.0 * math.exp(3), rel=1e-3)


def test_uncentred_covariates_give_the_same_fit():
    """The search runs on centred, scaled columns (as glmer's): a random slope on time + 50
    and a fixed effect on 100 x + 10⁴ reach the centred fit's optimum."""
    case, centred = REFERENCE["sim_nb_slope"], fitted("sim_nb_slope")
    frame = data("sim_nb").assign(far=lambda d: d["time"] + 50, x_far=lambda d: 100 * d["x"] + 1e4)
    model = lmmpy.glmer_nb("y2 ~ x_far + far + (far | g)", frame)
    assert model.loglik == pytest.approx(centred.loglik, abs=1e-6)
    assert model.nb_theta == pytest.approx(case["nb_theta"], rel=1e-3)
    np.testing.assert_allclose(model.fixef.iloc[1:] * [100, 1], centred.fixef.iloc[1:], rtol=1e-4)
    np.testing.assert_allclose(model.fixef_se.iloc[1:] * [100, 1], centred.fixef_se.iloc[1:],
                               rtol=1e-3)


def test_simulate_draws_negative_binomial_counts():
    model = fitted("epil_nb")
    draws = model.simulate(nsim=2000, seed=3, use_u=True).to_numpy()
    mu, k = model.fitted.to_numpy(), model.nb_theta
    assert np.all(draws == np.round(draws)) and np.all(draws >= 0)
    np.testing.assert_allclose(draws.mean(axis=1).mean(), mu.mean(), rtol=0.01)
    ratio = draws.var(axis=1) / (mu + mu**2 / k)     # the negative binomial's variance
    assert abs(ratio.mean() - 1) < 0.02
    refit = model.refit(draws[:, 0])
    assert refit.nb_theta == model.nb_theta            # k held, as lme4's refit
    assert isinstance(refit, lmmpy.NegativeBinomialMixedModel)
