"""The conditioned random-effects parametrisation (lmmpy.design._conditioning): the same
model on centred, unit-scale columns, and θ mapped both ways without loss."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

import lmmpy
from lmmpy.design import build_design
from lmmpy.design._conditioning import (
    conditioned_design,
    conditioned_theta,
    conditioning_map,
    original_theta,
)
from lmmpy.formula import parse_formula


def _frame(seed: int = 3, location: float = 500.0, scale: float = 100.0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    g = np.repeat(np.arange(12), 8)
    x = rng.normal(size=len(g))
    z = rng.normal(size=len(g))
    b = rng.normal(size=(12, 2)) * [0.8, 0.4]
    y = 1 + 0.5 * x + b[g, 0] + b[g, 1] * x + rng.normal(size=len(g))
    return pd.DataFrame({"y": y, "x": location + scale * x, "x_std": x, "z": z,
                         "g": [f"g{i}" for i in g]})


def _design(formula: str, frame: pd.DataFrame):
    return build_design(parse_formula(formula), frame)


def test_an_uncentred_slope_is_centred_and_scaled():
    frame = _frame()
    (C,) = conditioning_map(_design("y ~ x + (x | g)", frame))
    mean, sd = frame["x"].mean(), frame["x"].std(ddof=0)
    np.testing.assert_allclose(C, [[1.0, -mean / sd], [0.0, 1 / sd]])
    conditioned = conditioned_design(_design("y ~ x + (x | g)", frame), (C,))
    values = conditioned.terms[0].model_matrix.values
    np.testing.assert_allclose([values[:, 1].mean(), values[:, 1].std()], [0, 1], atol=1e-12)


def test_columns_that_are_fine_are_left_alone():
    assert conditioning_map(_design("y ~ x_std + (x_std | g)", _frame())) == (None,)
    assert conditioning_map(_design("y ~ 1 + (1 | g)", _frame())) == (None,)


def test_a_diagonal_term_is_only_scaled():
    design = _design("y ~ x + (x || g)", _frame())
    for term, C in zip(design.terms, conditioning_map(design), strict=True):
        assert C is None or np.count_nonzero(C - np.diag(np.diag(C))) == 0, term.group_name


@pytest.mark.parametrize("formula", ["y ~ x + (x | g)", "y ~ x + z + (1 + x + z | g)",
                                     "y ~ x + (0 + x | g)", "y ~ x + (x || g)"])
def test_theta_maps_there_and_back(formula):
    design = _design(formula, _frame())
    C = conditioning_map(design)
    rng = np.random.default_rng(1)
    theta = np.abs(rng.normal(size=len(design.theta_start()))) + 0.1
    theta[design.theta_lower_bounds() < 0] *= rng.choice([-1, 1])
    there = conditioned_theta(theta, design, C)
    np.testing.assert_allclose(original_theta(there, design, C), theta, rtol=1e-10, atol=1e-13)


def test_a_singular_covariance_stays_exactly_singular():
    design = _design("y ~ x + (x | g)", _frame())
    C = conditioning_map(design)
    theta = original_theta(np.array([0.0, 0.7, 0.0]), design, C)   # rank one: all slope
    assert theta[2] == 0.0        # the second diagonal is on its bound, not 1e-17
    T = design.terms[0].template(theta)
    (C0,) = C
    np.testing.assert_allclose(T @ T.T, C0 @ np.diag([0.0, 0.49]) @ C0.T, atol=1e-15)


def test_the_fit_does_not_depend_on_the_location_or_scale_of_a_slope():
    frame = _frame(seed=8)
    with warnings.catch_warnings():
        warnings.simplefilter("error", lmmpy.ConvergenceWarning)
        warnings.simplefilter("ignore", lmmpy.SingularFitWarning)
        wide = lmmpy.lmer("y ~ x + (x | g)", frame, reml=False)
        standard = lmmpy.lmer("y ~ x_std + (x_std | g)", frame, reml=False)
    assert wide.loglik == pytest.approx(standard.loglik, abs=1e-7)
    assert wide.fixef["x"] * 100 == pytest.approx(standard.fixef["x_std"], rel=1e-6)
    slope_sd = wide.varcorr.query("var1 == 'x' and var2 != var2")["sdcor"].iloc[0]
    standard_sd = standard.varcorr.query("var1 == 'x_std' and var2 != var2")["sdcor"].iloc[0]
    assert slope_sd * 100 == pytest.approx(standard_sd, rel=1e-5)


def test_a_slope_on_timestamps_is_fitted_exactly():
    # seconds since 1970 of days 1.7e9 s after: x in days, t in seconds
    frame = _frame(seed=8, location=1.7e9, scale=86400.0).rename(columns={"x": "t"})
    with warnings.catch_warnings():
        warnings.simplefilter("error", lmmpy.LmmpyWarning)
        # lme4's rule (a diagonal θ below 1e-4) calls the covariance in seconds singular
        warnings.simplefilter("ignore", lmmpy.SingularFitWarning)
        stamped = lmmpy.lmer("y ~ t + (t | g)", frame, reml=False)
        standard = lmmpy.lmer("y ~ x_std + (x_std | g)", frame, reml=False)
    assert stamped.loglik == pytest.approx(standard.loglik, abs=1e-7)
    assert stamped.fixef["t"] * 86400 == pytest.approx(standard.fixef["x_std"], rel=1e-6)
    assert stamped.sigma == pytest.approx(standard.sigma, rel=1e-7)


def test_a_slope_far_from_centred_says_what_loses_digits():
    frame = _frame(seed=8, location=1e6, scale=1.0).rename(columns={"x": "dose"})
    with pytest.warns(lmmpy.ScaleWarning, match="'dose' \\(term for 'g'\\)"):
        far = lmmpy.lmer("y ~ dose + (dose | g)", frame, reml=False)
    standard = lmmpy.lmer("y ~ x_std + (x_std | g)", frame, reml=False)
    assert far.loglik == pytest.approx(standard.loglik, abs=1e-6)   # the fit itself is exact
    assert far.fixef["dose"] == pytest.approx(standard.fixef["x_std"], rel=1e-6)
