"""Parametric bootstrap (lme4's bootMer): coverage, bit-for-bit seeds, interval formulas, input."""

from __future__ import annotations

import functools
import warnings

import numpy as np
import pandas as pd
import pytest
from reference import load_case
from scipy.stats import norm

import lmmpy
from lmmpy.inference._bootstrap import BootstrapResult, bootstrap


@functools.cache
def sleepstudy() -> lmmpy.LinearMixedModel:
    return lmmpy.lmer("Reaction ~ Days + (Days | Subject)", lmmpy.datasets.load("sleepstudy"))


@functools.cache
def dyestuff() -> lmmpy.LinearMixedModel:
    return lmmpy.lmer("Yield ~ 1 + (1 | Batch)", lmmpy.datasets.load("Dyestuff"))


@functools.cache
def five_hundred() -> BootstrapResult:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", lmmpy.BootstrapWarning)
        return sleepstudy().bootstrap(500, seed=2024, n_jobs=2)


def test_percentile_interval_of_beta_covers_lme4_estimate():
    result = five_hundred()
    assert result.replicates.shape == (500, 6)
    assert result.replicates.notna().all().all()
    intervals = result.confint(0.95, "perc")
    lme4 = load_case("sleepstudy_slope_reml")["fixef"]
    for name in ("(Intercept)", "Days"):
        assert intervals.loc[name, "lower"] < lme4[name] < intervals.loc[name, "upper"]
    pd.testing.assert_series_equal(result.t0, sleepstudy().bootstrap(1, seed=0).t0)


def test_seeds_reproduce_bit_for_bit_whatever_n_jobs():
    """Replicate i uses child i of SeedSequence(seed).spawn(nsim): 40 serial refits are the
    first 40 of the 500 run in two processes, exactly."""
    serial = sleepstudy().bootstrap(40, seed=2024, n_jobs=1)
    first = five_hundred().replicates.iloc[:40]
    np.testing.assert_array_equal(serial.replicates.to_numpy(), first.to_numpy())
    assert serial.seed == five_hundred().seed == 2024
    other = sleepstudy().bootstrap(5, seed=2025)
    assert not np.array_equal(other.replicates.to_numpy(), first.iloc[:5].to_numpy())


def test_default_statistic_names_and_t0():
    result = dyestuff().bootstrap(3, seed=1)
    assert list(result.t0.index) == ["sd_(Intercept)|Batch", "sigma", "(Intercept)"]
    m = dyestuff()
    expected = [m.varcorr["sdcor"].iloc[0], m.sigma, m.fixef.iloc[0]]
    np.testing.assert_allclose(result.t0.to_numpy(), expected, rtol=1e-12)


def test_replicates_are_refits_of_simulated_responses():
    m = dyestuff()
    result = m.bootstrap(2, func=lambda fit: fit.fixef, seed=9)
    children = np.random.SeedSequence(9).spawn(2)
    from lmmpy.inference._simulate import simulate_response

    for i, child in enumerate(children):
        y = simulate_response(m, np.random.default_rng(child))
        assert result.replicates.iloc[i, 0] == m.refit(y).fixef.iloc[0]


def test_custom_statistics():
    m = dyestuff()
    scalar = m.bootstrap(3, func=lambda fit: fit.sigma, seed=1)
    assert list(scalar.replicates.columns) == ["t1"]
    array = m.bootstrap(3, func=lambda fit: np.array([fit.sigma, fit.loglik]), seed=1)
    assert list(array.replicates.columns) == ["t1", "t2"]
    np.testing.assert_array_equal(array.replicates["t1"], scalar.replicates["t1"])
    calls = {"n": 0}

    def shuffled(fit):  # the refits name the same statistics in another order
        calls["n"] += 1
        series = pd.Series({"sigma": fit.sigma, "loglik": fit.loglik})
        return series if calls["n"] == 1 else series[::-1]

    named = m.bootstrap(3, func=shuffled, seed=1)
    np.testing.assert_array_equal(named.replicates["sigma"], scalar.replicates["t1"])


def test_use_u_simulates_conditionally():
    m = dyestuff()
    conditional = m.bootstrap(30, func=lambda fit: fit.fixef, seed=4, use_u=True)
    unconditional = m.bootstrap(30, func=lambda fit: fit.fixef, seed=4)
    assert conditional.use_u and not unconditional.use_u
    # the batch effects are fixed at b̂: the intercept varies only through the residuals
    assert conditional.replicates.std().iloc[0] < 0.6 * unconditional.replicates.std().iloc[0]


def test_failed_refits_are_nan_and_counted():
    calls = {"n": 0}

    def fragile(fit):
        calls["n"] += 1
        if calls["n"] == 3:  # the second replicate (the first call is t0)
            raise ValueError("boom")
        return fit.fixef

    with pytest.warns(lmmpy.BootstrapWarning, match="1 of 4 bootstrap refits failed") as caught:
        result = dyestuff().bootstrap(4, func=fragile, seed=1)
    assert caught[0].filename == __file__  # attributed to the caller, not to lmmpy
    assert result.n_failed == 1
    assert result.replicates.iloc[1].isna().all() and result.replicates.drop(1).notna().all().all()


# ---- interval formulas (Davison & Hinkley 1997, ch. 5; boot::boot.ci) ------------------------
def synthetic(t: np.ndarray, t0: float) -> BootstrapResult:
    return BootstrapResult(pd.Series([t0], index=["x"]), pd.DataFrame({"x": t}), 0, False, 0, 0, 0)


def test_percentile_uses_the_order_statistic_when_the_rank_is_whole():
    t = np.random.default_rng(1).normal(size=999)
    ci = synthetic(t, 0.1).confint(0.95, "perc")
    s = np.sort(t)
    assert ci.loc["x"].tolist() == pytest.approx([s[24], s[974]], rel=1e-12)  # ranks 25, 975


def test_percentile_interpolates_on_the_normal_scale():
    t = np.random.default_rng(2).normal(size=500)
    s = np.sort(t)
    rank = 501 * 0.025  # 12.525: between t*_(12) and t*_(13)
    weight = (norm.ppf(0.025) - norm.ppf(12 / 501)) / (norm.ppf(13 / 501) - norm.ppf(12 / 501))
    lower = s[11] + weight * (s[12] - s[11])
    assert 12 < rank < 13
    assert synthetic(t, 0.0).confint(0.95, "perc").loc["x", "lower"] == pytest.approx(lower)


def test_basic_and_normal_intervals():
    t = np.random.default_rng(3).normal(2.0, 0.5, size=999)
    t0 = 1.9
    s = np.sort(t)
    basic = synthetic(t, t0).confint(0.9, "basic").loc["x"]
    assert basic.tolist() == pytest.approx([2 * t0 - s[949], 2 * t0 - s[49]])
    normal = synthetic(t, t0).confint(0.9, "norm").loc["x"]
    center, half = t0 - (t.mean() - t0), norm.ppf(0.95) * t.std(ddof=1)
    assert normal.tolist() == pytest.approx([center - half, center + half])


def test_non_finite_replicates_are_dropped():
    t = np.concatenate([np.random.default_rng(4).normal(size=999), [np.nan, np.inf]])
    with_nan = synthetic(t, 0.0).confint(0.95, "perc")
    assert with_nan.loc["x"].tolist() == synthetic(t[:999], 0.0).confint(0.95, "perc").loc[
        "x"].tolist()


def test_confint_boot_is_the_bootstrap_interval():
    m = dyestuff()
    via_confint = m.confint("boot", nsim=20, seed=6, boot_type="basic", level=0.8)
    direct = m.bootstrap(20, seed=6).confint(0.8, "basic")
    pd.testing.assert_frame_equal(via_confint, direct)
    only_sigma = m.confint("boot", parm="sigma", nsim=20, seed=6, boot_type="basic", level=0.8)
    assert list(only_sigma.index) == ["sigma"]


def test_progress_bar(capsys):
    dyestuff().bootstrap(3, seed=1, progress=True)
    assert "bootstrap" in capsys.readouterr().err
    dyestuff().bootstrap(3, seed=1, progress=False)
    assert capsys.readouterr().err == ""


def test_bad_input():
    m = dyestuff()
    with pytest.raises(ValueError, match="nsim must be at least 1, not 0"):
        m.bootstrap(0)
    with pytest.raises(TypeError, match="nsim must be an integer"):
        m.bootstrap(10.0)
    with pytest.raises(ValueError, match="n_jobs must be a positive integer or -1, not 0"):
        m.bootstrap(2, n_jobs=0)
    with pytest.raises(TypeError, match="func must be a callable"):
        m.bootstrap(2, func="fixef")
    with pytest.raises(TypeError, match="seed must be an int or a SeedSequence"):
        m.bootstrap(2, seed=np.random.default_rng(1))
    with pytest.raises(ValueError, match="func returned 1 values for a refit but 2"):
        bootstrap(m, 2, func=lambda fit: [1.0, 2.0] if fit is m else [1.0])
    result = m.bootstrap(2, seed=1)
    with pytest.raises(ValueError, match="boot_type must be one of perc, basic, norm"):
        result.confint(boot_type="bca")
    with pytest.raises(ValueError, match="level must be between 0 and 1"):
        result.confint(level=0.0)


def test_repr_is_compact_and_html_a_table():
    m = lmmpy.lmer("Yield ~ 1 + (1 | Batch)", lmmpy.datasets.load("Dyestuff"))
    result = m.bootstrap(nsim=40, seed=3)
    text = repr(result)
    assert text.startswith("Parametric bootstrap: 40 replicates")
    assert len(text.splitlines()) == 1 + 1 + len(result.t0)   # line, header, a row each
    assert list(result.summary().columns) == ["original", "bias", "std_error"]
    assert result.summary().loc["sigma", "bias"] == pytest.approx(
        result.replicates["sigma"].mean() - result.t0["sigma"])
    assert "<table" in result._repr_html_() and "<pre>" not in result._repr_html_()
