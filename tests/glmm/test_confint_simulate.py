"""GLMM confidence intervals, simulation and the bootstrap against lme4 (make_glmm_inference.R).

Profile intervals: lme4 interpolates a spline through its traced profile, we find the
roots of ζ = ±z (the two agree to ~1e-4); our fits are slightly better optima than
lme4's (test_glmer_reference).  Simulation and the bootstrap are compared with R's
moments within Monte Carlo error.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from inference_cases import REFERENCE, fitted, model_data, r_vector, reference

import lmmpy
from lmmpy.inference._confint import parameter_names


def r_interval(name: str, method: str) -> pd.DataFrame:
    rows = pd.DataFrame(reference(name)[f"confint_{method}"])
    return pd.DataFrame({"lower": r_vector(rows["lower"]), "upper": r_vector(rows["upper"])},
                        index=rows["parm"].to_numpy())


@pytest.mark.parametrize("name", list(REFERENCE["models"]))
def test_wald_intervals_match_lme4(name):
    """Against lme4's fit with PIRLS converged (tolPwrss = 1e-12): glmer's default 1e-7
    leaves its standard errors up to ~1% off (tests/data/cases/README)."""
    expected, ours = r_interval(name, "wald_tight"), fitted(name).confint("wald")
    assert len(ours) == len(expected)
    variance = [n for n in expected.index if n.startswith(("sd_", "cor_")) or n == "sigma"]
    assert list(ours.index[:len(variance)]) == variance
    assert ours.iloc[:len(variance)].isna().all().all()
    np.testing.assert_allclose(ours.iloc[len(variance):], expected.iloc[len(variance):],
                               rtol=5e-3, atol=1e-3)


@pytest.mark.parametrize("name", ["cbpp", "bin_sep"])
def test_profile_intervals_match_lme4(name):
    expected, ours = r_interval(name, "profile"), fitted(name).confint("profile")
    assert list(ours.index[:1]) == list(expected.index[:1])
    np.testing.assert_allclose(ours, expected, rtol=1e-3, atol=1e-3)


@pytest.mark.parametrize("name", ["cbpp", "bin_slope"])
def test_fixed_effect_profile_by_descent_is_bobyqas(name):
    """A fixed effect's profile points re-optimise (θ, the other β's) by projected BFGS on
    the Laplace gradient (by default): the same intervals as BOBYQA's points."""
    model, spec = fitted(name), reference(name)
    names = list(model.fixef.index)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", lmmpy.SingularFitWarning)
        bobyqa = lmmpy.glmer(spec["formula"], model_data(name), spec["family"],
                             link=spec["link"], weights=spec["weights"],
                             control=lmmpy.GlmerControl(optimizer="bobyqa"))
    np.testing.assert_allclose(model.confint("profile", parm=names),
                               bobyqa.confint("profile", parm=names), rtol=1e-5, atol=1e-6)


def test_profile_of_a_correlated_random_slope():
    """(x | g): lme4 1.1-31 fails here ("non-monotonic profile"); ours reaches ζ = ±z at the
    ends of the correlation's and the slope SD's intervals, re-optimising the rest."""
    model = fitted("bin_slope")
    names = ["cor_x.(Intercept)|g", "sd_x|g"]
    ours = model.confint("profile", parm=names)
    profiler = model._profiler
    for name in names:
        index = profiler.names.index(name)
        lower, upper = ours.loc[name]
        assert lower < profiler.estimate[index] < upper
        for end, sign in ((lower, -1), (upper, 1)):
            if end in (profiler.lower[index], profiler.upper[index]):
                continue
            zeta = profiler.zeta(index, end, profiler.estimate).zeta
            assert zeta == pytest.approx(sign * 1.959963984540054, abs=1e-3)


def test_profile_frame_has_zeta_zero_at_the_estimate():
    model = fitted("cbpp")
    frame = model.profile("period[T.2]")
    assert set(frame["parameter"]) == {"period[T.2]"}
    at_estimate = frame.loc[np.isclose(frame["value"], model.fixef["period[T.2]"])]
    assert at_estimate["zeta"].abs().max() < 1e-12
    assert frame["zeta"].is_monotonic_increasing


def test_profile_declines_a_family_with_dispersion():
    with pytest.raises(ValueError, match="profile intervals need a family without a dispersion"):
        fitted("gamma").confint("profile")


@pytest.mark.parametrize(("options", "message"), [
    ({"method": "likelihood"}, "method must be one of"),
    ({"method": "wald", "parm": "sigma"}, "unknown parameter"),
    ({"method": "wald", "level": 1.5}, "level must be between 0 and 1"),
    ({"method": "boot", "boot_type": "bca", "nsim": 2}, "boot_type must be one of"),
])
def test_bad_confint_arguments(options, message):
    with pytest.raises(ValueError, match=message):
        fitted("cbpp").confint(**options)


def test_parameter_names_keep_sigma_only_with_a_dispersion():
    assert "sigma" not in parameter_names(fitted("cbpp"))
    assert parameter_names(fitted("gamma"))[:2] == ["sd_(Intercept)|hospital", "sigma"]


@pytest.mark.parametrize("name", ["cbpp", "epil"])
@pytest.mark.parametrize("kind", ["unconditional", "conditional"])
def test_simulated_moments_match_lme4(name, kind):
    """Per-row mean and variance of 4000 simulated responses, against R's 4000 (binomial
    as proportions): the difference of two means is within 4 standard errors."""
    expected = REFERENCE["simulate"][f"{name}_{kind}"]
    model = fitted(name)
    sims = model.simulate(4000, seed=7, use_u=kind == "conditional").to_numpy()
    mean, var = sims.mean(axis=1), sims.var(axis=1, ddof=1)
    se = np.sqrt((var + np.array(expected["var"])) / 4000)
    assert np.all(np.abs(mean - expected["mean"]) <= 4 * se + 1e-12)
    if kind == "conditional":
        np.testing.assert_allclose(expected["mean"], model.fitted, rtol=0.1, atol=0.02)


def test_simulation_is_reproducible_and_on_the_response_scale():
    model = fitted("binom_prop")
    first, again = model.simulate(2, seed=3), model.simulate(2, seed=3)
    pd.testing.assert_frame_equal(first, again)
    trials = model.system.response.weights
    successes = first.to_numpy() * trials[:, None]
    np.testing.assert_allclose(successes, np.round(successes), atol=1e-9)
    assert list(first.index) == list(model.row_index)
    gamma = fitted("gamma").simulate(1, seed=1)
    assert (gamma.to_numpy() > 0).all()


def test_bootstrap_replicates_are_refits_of_simulated_responses():
    model = fitted("cbpp")
    result = model.bootstrap(3, seed=11)
    assert list(result.t0.index) == parameter_names(model)
    child = np.random.SeedSequence(11).spawn(3)[1]
    refit = model.refit(model.simulate_response(np.random.default_rng(child)))
    expected = np.concatenate([[refit.theta[0]], refit.fixef])
    np.testing.assert_allclose(result.replicates.iloc[1], expected, rtol=1e-10)


def test_bootstrap_spread_matches_lme4():
    """20 of our replicates against lme4's bootMer with 500: the SDs agree within the
    Monte Carlo error of 20 replicates (1/√38 ≈ 16% of an SD; 3.5 of them allowed), and the
    percentile intervals are the replicates' quantiles."""
    expected = REFERENCE["bootstrap_cbpp"]
    model = fitted("cbpp")
    result = model.bootstrap(20, seed=2024)
    theirs = np.array([expected["sd"]["sd.herd"], *list(expected["sd"].values())[:4]])
    ratio = result.std_error.to_numpy() / theirs
    assert np.all(np.abs(ratio - 1) < 3.5 * 0.16), ratio
    interval = result.confint(level=0.5)
    replicates = result.replicates.to_numpy()
    assert np.all((interval["lower"] > replicates.min(axis=0))
                  & (interval["upper"] < replicates.max(axis=0)))


def test_boot_intervals_are_the_bootstrap_percentiles():
    model = fitted("cbpp")
    expected = model.bootstrap(3, seed=9).confint(0.8, "basic")
    pd.testing.assert_frame_equal(model.confint("boot", nsim=3, seed=9, level=0.8,
                                                boot_type="basic"), expected)


def test_refit_checks_the_response():
    model = fitted("bacteria")
    with pytest.raises(ValueError, match="one value per observation"):
        model.refit(np.zeros(3))
    with pytest.raises(ValueError, match="values outside"):
        model.refit(np.full(model.nobs, 2.0))


def test_refit_to_its_own_response_is_the_fit():
    model = fitted("bin_sep")
    again = model.refit(model.system.response.y)
    assert again.loglik == pytest.approx(model.loglik, abs=1e-8)
    np.testing.assert_allclose(again.fixef, model.fixef, rtol=1e-5)
    assert isinstance(again, lmmpy.GeneralizedLinearMixedModel)


def test_coefs_are_the_wald_table():
    model = fitted("epil")
    table = model.coefs(level=0.9)
    assert list(table.columns) == ["estimate", "std_error", "z_value", "p_value", "conf_low",
                                   "conf_high"]
    wald = model.confint("wald", level=0.9).loc[model.fixef.index]
    np.testing.assert_allclose(table[["conf_low", "conf_high"]], wald)
    np.testing.assert_allclose(table["z_value"], model.fixef / model.fixef_se)
    assert "conf_low" not in model.coefs(level=None).columns
    with pytest.raises(ValueError, match="level must be between 0 and 1"):
        model.coefs(level=95)


def test_profile_of_a_quadrature_fit_matches_lme4():
    """nAGQ = 25: the AGQ criterion is profiled (make_glmm_profile_agq.R)."""
    import json

    from inference_cases import DATA

    expected = json.loads((DATA / "profile_agq.json").read_text())
    model = lmmpy.glmer(expected["formula"], lmmpy.datasets.load("cbpp"), nagq=25)
    rows = pd.DataFrame(expected["confint_profile"])
    ours = model.confint(parm=[model._profiler.names[i] for i in (0, 2)])
    np.testing.assert_allclose(ours, rows.iloc[[0, 2]][["lower", "upper"]], rtol=1e-4)


def test_inference_functions_take_a_glmm():
    from lmmpy import inference

    model = fitted("cbpp")
    pd.testing.assert_frame_equal(inference.confint(model, "wald"), model.confint("wald"))
    result = inference.bootstrap(model, 2, seed=5)
    assert list(result.t0.index) == parameter_names(model)
    pd.testing.assert_frame_equal(result.replicates, model.bootstrap(2, seed=5).replicates)


def test_negative_binomial_simulation_and_refit():
    """Draws at the estimated random effects have mean μ̂ and variance μ̂ + μ̂²/k (averaged
    over the 236 rows, the ratio is within Monte Carlo error, ~1%, of 1); a refit holds k."""
    model = lmmpy.glmer_nb("y ~ trt + lbase + lage + V4 + (1 | subject)",
                           lmmpy.datasets.load("epil"))
    sims = model.simulate(4000, seed=3, use_u=True).to_numpy()
    mu, k = model.fitted.to_numpy(), model.nb_theta
    assert np.mean(sims.mean(axis=1) / mu) == pytest.approx(1, abs=0.01)
    assert np.mean(sims.var(axis=1, ddof=1) / (mu + mu**2 / k)) == pytest.approx(1, abs=0.03)
    refit = model.refit(sims[:, 0])
    assert type(refit) is type(model) and refit.nb_theta == k
