"""ICC, R² and the design effect against R's ``performance`` package.

Reference values: tests/data/extra_cases/icc_r2.json, computed in R 4.2.2 with
lme4 1.1.31, performance 0.10.2 and insight 0.19.0 as ``performance::icc(m)``,
``performance::r2_nakagawa(m)`` and ``insight::get_variance(m)`` on the REML fits
of sleepstudy ``Reaction ~ Days + (Days | Subject)`` and Penicillin
``diameter ~ 1 + (1 | plate) + (1 | sample)`` (the file's ``method`` and
``definition`` fields; its author checked them against a hand computation to 1e-10).

Each value is checked twice: on our fit to 1e-4 (ICC and R² are ratios in [0, 1];
our θ̂ differs from lme4's in the 5th digit) and on our model evaluated at lme4's
θ̂ to 1e-8 relative, which checks the definitions themselves.
"""

from __future__ import annotations

import functools
import json
import warnings

import numpy as np
import pandas as pd
import pytest
import reference
from reference import DATA

import lmmpy
from lmmpy.diagnostics import ICC, R2, design_effect, icc, r2, variance_components
from lmmpy.results import LinearMixedModel

REFERENCE = json.loads((DATA / "extra_cases" / "icc_r2.json").read_text())
THETA_CASES = {"sleepstudy_slope_reml": "sleepstudy_slope_reml",
               "penicillin_reml": "penicillin_reml"}
VALUES = ["icc_adjusted", "icc_conditional", "r2_marginal", "r2_conditional"]


@functools.cache
def fit(formula: str, dataset: str, reml: bool = True) -> LinearMixedModel:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", lmmpy.SingularFitWarning)
        return lmmpy.lmer(formula, lmmpy.datasets.load(dataset), reml=reml)


def at_lme4_theta(name: str) -> LinearMixedModel:
    return reference.at_lme4_theta(THETA_CASES[name])


def measures(m: LinearMixedModel) -> dict[str, float]:
    i, r = m.icc(), m.r2()
    return {"icc_adjusted": i.icc_adjusted, "icc_conditional": i.icc_conditional,
            "r2_marginal": r.r2_marginal, "r2_conditional": r.r2_conditional}


@pytest.mark.parametrize("name", sorted(REFERENCE))
def test_matches_performance_on_our_fit(name):
    case = REFERENCE[name]
    got = measures(fit(case["formula"], case["dataset"]))
    for key in VALUES:
        assert got[key] == pytest.approx(case[key], abs=1e-4), key


@pytest.mark.parametrize("name", sorted(REFERENCE))
def test_matches_performance_at_lme4_theta(name):
    case = REFERENCE[name]
    m = at_lme4_theta(name)
    got = measures(m)
    for key in VALUES:
        assert got[key] == pytest.approx(case[key], rel=1e-8, abs=1e-12), key
    parts = variance_components(m)
    assert parts.fixed == pytest.approx(case["var_fixed"], rel=1e-8, abs=1e-12)
    assert parts.random == pytest.approx(case["var_random"], rel=1e-8)
    assert parts.residual == pytest.approx(case["var_residual"], rel=1e-8)


def test_random_slope_variance_is_mean_of_z_sigma_z():
    """Johnson (2014): σ²_random = mean over observations of (1, Days) Σ (1, Days)'."""
    m = fit("Reaction ~ Days + (Days | Subject)", "sleepstudy")
    sigma = m.covariance_matrices()["Subject"].to_numpy()
    days = lmmpy.datasets.load("sleepstudy")["Days"].to_numpy()
    by_hand = np.mean(sigma[0, 0] + 2 * days * sigma[0, 1] + days**2 * sigma[1, 1])
    assert variance_components(m).random == pytest.approx(by_hand, rel=1e-12)


def test_random_intercept_icc_is_tau_over_total():
    m = fit("Yield ~ 1 + (1 | Batch)", "Dyestuff")
    tau2, sigma2 = m.varcorr["vcov"].to_numpy()
    result = m.icc()
    assert isinstance(result, ICC)
    assert result.icc_adjusted == pytest.approx(tau2 / (tau2 + sigma2), rel=1e-12)
    assert result.icc_conditional == result.icc_adjusted  # no fixed-effect variance
    assert m.r2().r2_marginal == pytest.approx(0.0, abs=1e-12)


def test_conditional_r2_minus_marginal_is_conditional_icc():
    r, i = fit("Reaction ~ Days + (Days | Subject)", "sleepstudy").r2(), \
        fit("Reaction ~ Days + (Days | Subject)", "sleepstudy").icc()
    assert isinstance(r, R2)
    assert r.r2_conditional - r.r2_marginal == pytest.approx(i.icc_conditional, rel=1e-12)


def test_icc_by_group_penicillin():
    """performance::icc(by_group = TRUE): τ²_k / (σ²_random + σ²_residual)."""
    m = fit("diameter ~ 1 + (1 | plate) + (1 | sample)", "Penicillin")
    vc = m.varcorr.set_index("grp")["vcov"]
    total = vc["plate"] + vc["sample"] + vc["Residual"]
    by_group = m.icc(by_group=True)
    pd.testing.assert_series_equal(
        by_group, pd.Series({"plate": vc["plate"] / total, "sample": vc["sample"] / total},
                            name="icc"), rtol=1e-12)
    assert by_group.sum() == pytest.approx(m.icc().icc_adjusted, rel=1e-12)


def test_icc_by_group_warns_with_random_slopes():
    m = fit("Reaction ~ Days + (Days | Subject)", "sleepstudy")
    with pytest.warns(lmmpy.ApproximationWarning, match="random slopes"):
        by_group = m.icc(by_group=True)
    assert list(by_group.index) == ["Subject"]


def test_uncorrelated_terms_each_count():
    """``(Days || Subject)`` is two terms; both enter σ²_random, only the intercept by group."""
    m = fit("Reaction ~ Days + (Days || Subject)", "sleepstudy")
    cov = m.covariance_matrices()
    days = lmmpy.datasets.load("sleepstudy")["Days"].to_numpy()
    by_hand = cov["Subject"].iloc[0, 0] + np.mean(days**2) * cov["Subject.1"].iloc[0, 0]
    assert variance_components(m).random == pytest.approx(by_hand, rel=1e-12)
    with pytest.warns(lmmpy.ApproximationWarning):
        assert list(m.icc(by_group=True).index) == ["Subject"]


def test_singular_fit_gives_nan_with_warning():
    """performance gives NA for the ICC and conditional R² of a singular fit."""
    m = fit("Yield ~ 1 + (1 | Batch)", "Dyestuff2")
    with pytest.warns(lmmpy.SingularFitWarning, match="tolerance=0"):
        result = m.icc()
    assert np.isnan(result.icc_adjusted) and np.isnan(result.icc_conditional)
    with pytest.warns(lmmpy.SingularFitWarning):
        r = m.r2()
    assert np.isnan(r.r2_conditional) and r.r2_marginal == pytest.approx(0.0, abs=1e-12)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert m.icc(tolerance=0).icc_adjusted == pytest.approx(0.0, abs=1e-12)


def test_design_effect_dyestuff():
    m = fit("Yield ~ 1 + (1 | Batch)", "Dyestuff")  # 6 batches of 5
    assert design_effect(m) == pytest.approx(1 + 4 * m.icc().icc_adjusted, rel=1e-12)


@pytest.mark.parametrize("formula, dataset", [
    ("Reaction ~ Days + (Days | Subject)", "sleepstudy"),
    ("diameter ~ 1 + (1 | plate) + (1 | sample)", "Penicillin"),
])
def test_design_effect_needs_a_single_random_intercept(formula, dataset):
    with pytest.raises(ValueError, match=r"design_effect needs a single random intercept"):
        design_effect(fit(formula, dataset))


@pytest.mark.parametrize("tolerance, error, message", [
    ("1e-5", TypeError, "tolerance must be a number, not str"),
    (True, TypeError, "tolerance must be a number, not bool"),
    (-1.0, ValueError, "tolerance must be >= 0, not -1.0"),
    (float("nan"), ValueError, "tolerance must be >= 0, not nan"),
])
def test_bad_tolerance(tolerance, error, message):
    m = fit("Yield ~ 1 + (1 | Batch)", "Dyestuff")
    with pytest.raises(error, match=message):
        m.icc(tolerance=tolerance)
    with pytest.raises(error, match=message):
        r2(m, tolerance=tolerance)


def test_bad_by_group():
    with pytest.raises(TypeError, match="by_group must be True or False, not 'yes'"):
        icc(fit("Yield ~ 1 + (1 | Batch)", "Dyestuff"), by_group="yes")


def test_random_slope_without_fixed_effect_is_dropped_as_insight_does():
    """insight keeps only random-effect columns that are also columns of X (plus the intercept).

    ``(0 + Machine | Worker)`` with ``Machine`` in the fixed part: X has MachineB,
    MachineC (treatment contrasts) but the term has MachineA too, which insight drops.
    """
    data = pd.read_csv(DATA / "extra_datasets" / "Machines.csv", dtype={"Worker": str})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", lmmpy.SingularFitWarning)
        m = lmmpy.lmer("score ~ Machine + (0 + Machine | Worker)", data)
    sigma = m.covariance_matrices()["Worker"].to_numpy()
    share = data["Machine"].value_counts(normalize=True).sort_index().to_numpy()
    by_hand = share[1] * sigma[1, 1] + share[2] * sigma[2, 2]
    assert variance_components(m, tolerance=0).random == pytest.approx(by_hand, rel=1e-12)


def test_repr():
    m = fit("Yield ~ 1 + (1 | Batch)", "Dyestuff")
    assert repr(m.icc()).startswith("ICC(icc_adjusted=0.4")
    assert repr(m.r2()) == "R2(r2_marginal=0.0000, r2_conditional=0.4185)"
