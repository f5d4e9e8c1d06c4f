"""Profile likelihood: the deviance functions against independent computations, the traced
profile, REML → ML, the SD/correlation parametrisation, and bad input."""

from __future__ import annotations

import functools

import numpy as np
import pandas as pd
import pytest
from reference import DATA
from scipy.stats import chi2, norm

import lmmpy
from lmmpy.inference._profile import Profiler
from lmmpy.inference._varpar import (
    ProfileCoordinates,
    _semidefinite_cholesky,
    sdcor_from_theta,
    term_shapes,
    theta_from_sdcor,
)

Z = norm.ppf(0.975)


def sleepstudy_data(weighted: bool) -> pd.DataFrame:
    data = lmmpy.datasets.load("sleepstudy")
    w = np.random.default_rng(8).uniform(0.5, 2.0, len(data)) if weighted else np.ones(len(data))
    return data.assign(w=w)


@functools.cache
def slope_ml(weighted: bool = False) -> lmmpy.LinearMixedModel:
    return lmmpy.lmer("Reaction ~ Days + (Days | Subject)", sleepstudy_data(weighted),
                      reml=False, weights="w" if weighted else None)


@functools.cache
def profiler(weighted: bool = False) -> Profiler:
    return Profiler(slope_ml(weighted))


def dense_ml_deviance(data: pd.DataFrame, values: np.ndarray) -> float:
    """−2 log L at (sd₁, ρ, sd₂, σ), β by GLS: dense multivariate normal, n = 180."""
    sd1, rho, sd2, sigma = values
    Sigma = np.array([[sd1**2, rho * sd1 * sd2], [rho * sd1 * sd2, sd2**2]])
    code = pd.factorize(data["Subject"], sort=True)[0]
    n = len(data)
    Z = np.zeros((n, 36))
    Z[np.arange(n), 2 * code], Z[np.arange(n), 2 * code + 1] = 1.0, data["Days"]
    V = Z @ np.kron(np.eye(18), Sigma) @ Z.T + sigma**2 * np.diag(1 / data["w"].to_numpy())
    X = np.column_stack([np.ones(n), data["Days"]])
    y = data["Reaction"].to_numpy()
    beta = np.linalg.solve(X.T @ np.linalg.solve(V, X), X.T @ np.linalg.solve(V, y))
    r = y - X @ beta
    return float(n * np.log(2 * np.pi) + np.linalg.slogdet(V)[1] + r @ np.linalg.solve(V, r))


@pytest.mark.parametrize("weighted", [False, True])
def test_sdcor_deviance_is_the_marginal_ml_deviance(weighted):
    p = profiler(weighted)
    for values in (p.estimate[:4], np.array([20.0, 0.3, 7.0, 27.0]),
                   np.array([30.0, -0.9, 4.0, 24.0])):
        expected = dense_ml_deviance(sleepstudy_data(weighted), values)
        assert p.sdcor_deviance(values) == pytest.approx(expected, rel=1e-10)
    assert p.sdcor_deviance(p.estimate[:4]) == pytest.approx(p.base, rel=1e-12)


@pytest.mark.parametrize("weighted", [False, True])
def test_fixed_effect_profile_is_an_ml_fit_with_an_offset(weighted):
    """ζ(b)² = deviance of the model with b·Days moved into the offset, fitted by lmer."""
    p = profiler(weighted)
    for b in (8.0, 12.5):
        data = sleepstudy_data(weighted).assign(o=b * sleepstudy_data(weighted)["Days"])
        fit = lmmpy.lmer("Reaction ~ 1 + (Days | Subject)", data, reml=False,
                         offset="o", weights="w" if weighted else None)
        point = p.zeta(5, b, p.estimate)
        assert point.zeta**2 == pytest.approx(fit.deviance - p.base, rel=1e-6, abs=1e-8)
        assert np.sign(point.zeta) == np.sign(b - p.estimate[5])
        assert point.params[4] == pytest.approx(fit.fixef.iloc[0], rel=1e-5)


def test_interval_ends_are_roots_with_weights():
    """Weighted fits profile correctly (lme4's devfun2 drops the weights, lme4#192)."""
    p = profiler(True)
    for index in (0, 3, 5):
        for direction in (-1, 1):
            end = p.interval_end(index, direction, Z)
            assert p.zeta(index, end, p.estimate).zeta == pytest.approx(direction * Z, abs=1e-5)


def test_reml_fit_is_profiled_by_ml():
    data = lmmpy.datasets.load("Dyestuff")
    reml = lmmpy.lmer("Yield ~ 1 + (1 | Batch)", data).confint("profile")
    ml = lmmpy.lmer("Yield ~ 1 + (1 | Batch)", data, reml=False).confint("profile")
    pd.testing.assert_frame_equal(reml, ml, rtol=1e-5)


def test_profile_frame():
    m = lmmpy.lmer("Yield ~ 1 + (1 | Batch)", lmmpy.datasets.load("Dyestuff"), reml=False)
    frame = m.profile()
    names = ["sd_(Intercept)|Batch", "sigma", "(Intercept)"]
    assert list(frame.columns) == ["parameter", "value", "zeta", *names]
    assert list(dict.fromkeys(frame["parameter"])) == names
    cutoff = np.sqrt(chi2.ppf(0.99, 3))
    for name, part in frame.groupby("parameter", sort=False):
        assert part["value"].is_monotonic_increasing and part["zeta"].is_monotonic_increasing
        np.testing.assert_array_equal(part["value"], part[name])
        assert part["zeta"].max() > cutoff
        assert part["zeta"].min() < -cutoff or part["value"].min() == 0
        assert (part["zeta"] == 0).sum() == 1
    only = m.profile(parm=["sigma"])
    assert set(only["parameter"]) == {"sigma"}


def test_singular_fit_lower_end_is_zero():
    with pytest.warns(lmmpy.SingularFitWarning):
        m = lmmpy.lmer("Yield ~ 1 + (1 | Batch)", lmmpy.datasets.load("Dyestuff2"), reml=False)
    ci = m.confint("profile", parm="sd_(Intercept)|Batch")
    assert ci.loc["sd_(Intercept)|Batch", "lower"] == 0.0
    assert ci.loc["sd_(Intercept)|Batch", "upper"] == pytest.approx(2.0840435, rel=1e-4)


def test_level_changes_the_interval():
    m = slope_ml()
    wide = m.confint("profile", level=0.99, parm="Days")
    narrow = m.confint("profile", level=0.5, parm="Days")
    assert wide.loc["Days", "lower"] < narrow.loc["Days", "lower"] < m.fixef["Days"]


# ---- the SD / correlation parametrisation -----------------------------------------------------
def test_sdcor_and_theta_round_trip():
    m = slope_ml()
    shapes = term_shapes(m.design.terms)
    values = sdcor_from_theta(shapes, m.theta, m.sigma)
    assert values[1] == pytest.approx(m.varcorr["sdcor"].iloc[2])
    np.testing.assert_allclose(theta_from_sdcor(shapes, values), m.theta, rtol=1e-12)


def test_semidefinite_cholesky():
    perfect = np.array([[4.0, 2.0], [2.0, 1.0]])  # correlation 1
    T = _semidefinite_cholesky(perfect)
    np.testing.assert_allclose(T @ T.T, perfect)
    assert _semidefinite_cholesky(np.zeros((2, 2))) is not None
    impossible = np.array([[1.0, 0.9, -0.9], [0.9, 1.0, 0.9], [-0.9, 0.9, 1.0]])
    assert _semidefinite_cholesky(impossible) is None


def machines() -> lmmpy.LinearMixedModel:
    data = pd.read_csv(DATA / "extra_datasets" / "Machines.csv")
    return lmmpy.lmer("score ~ Machine + (0 + Machine | Worker)", data)


def test_coordinates_round_trip_and_always_positive_semidefinite():
    m = machines()
    shapes = term_shapes(m.design.terms)
    values = sdcor_from_theta(shapes, m.theta, m.sigma)
    rng = np.random.default_rng(0)
    for fixed in range(len(values)):
        coordinates = ProfileCoordinates(shapes, fixed)
        x = coordinates.encode(values)
        np.testing.assert_allclose(coordinates.decode(x, values[fixed]), values, atol=1e-12)
        for _ in range(20):
            upper = np.where(np.isfinite(coordinates.upper), coordinates.upper, 10.0)
            random = rng.uniform(coordinates.lower, upper)
            held = rng.uniform(-1, 1) if fixed in (1, 2, 4) else values[fixed]
            decoded = coordinates.decode(random, held)
            assert decoded[fixed] == held
            assert theta_from_sdcor(shapes, decoded) is not None


# ---- bad input ---------------------------------------------------------------------------------
def test_bad_input():
    m = slope_ml()
    with pytest.raises(ValueError, match="method must be one of 'profile', 'wald', 'boot'"):
        m.confint("bayes")
    with pytest.raises(ValueError, match="level must be between 0 and 1"):
        m.confint("wald", level=1.0)
    with pytest.raises(TypeError, match="level must be a number"):
        m.confint("wald", level="95%")
    with pytest.raises(ValueError, match=r"unknown parameter\(s\) 'Day'; the model's parameters"):
        m.confint("wald", parm="Day")
    with pytest.raises(ValueError, match="unknown parameter"):
        m.profile(parm=["sigma", "tau"])
    with pytest.raises(ValueError, match="boot_type must be one of"):
        m.confint("boot", boot_type="bca", nsim=2)
    assert m.confint("Wald").shape == (6, 2)  # lme4 spells it "Wald"


def test_profile_progress_bar(capsys):
    m = lmmpy.lmer("Yield ~ 1 + (1 | Batch)", lmmpy.datasets.load("Dyestuff"))
    m.profile("sigma", progress=True)
    assert "profile" in capsys.readouterr().err
    m.confint(parm="sigma", progress=True)
    assert "profile" in capsys.readouterr().err
    m.profile(progress=False)
    m.confint(progress=False)
    assert capsys.readouterr().err == ""
