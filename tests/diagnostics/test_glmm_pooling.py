"""compare_pooling for GLMMs against R's glm (make_glmm_inference.R): complete pooling =
glm(y ~ x), no pooling = glm(y ~ x + g) with sum-coded g on the rows of the groups that are
not all 0 / all 1; both exact maximum-likelihood fits, compared to 1e-6."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).parents[1] / "glmm"))
from inference_cases import REFERENCE, fitted, model_data

import lmmpy

CASES = list(REFERENCE["pooling"])


def comparison(name: str):
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", lmmpy.HausmanWarning)
        return fitted(name).compare_pooling()


@pytest.mark.parametrize("name", CASES)
def test_complete_pooling_is_rs_glm(name):
    expected, ours = REFERENCE["pooling"][name], comparison(name)
    np.testing.assert_allclose(ours.coefficients["complete"], list(expected["complete"].values()),
                               rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(ours.std_errors["complete"],
                               list(expected["complete_se"].values()), rtol=1e-5)
    assert ours.summary_table.loc["complete", "loglik"] == pytest.approx(
        expected["complete_loglik"], abs=1e-6)


@pytest.mark.parametrize("name", CASES)
def test_no_pooling_is_rs_glm_with_group_dummies(name):
    """Coefficients estimable without pooling (not absorbed by the dummies) equal R's."""
    expected, ours = REFERENCE["pooling"][name], comparison(name)
    theirs = np.array(list(expected["none"].values()))
    theirs_se = np.array(list(expected["none_se"].values()))
    estimable = ours.coefficients["none"].notna().to_numpy()
    assert estimable.any()
    np.testing.assert_allclose(ours.coefficients["none"].to_numpy()[estimable],
                               theirs[estimable], rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(ours.std_errors["none"].to_numpy()[estimable],
                               theirs_se[estimable], rtol=1e-5)
    table = ours.summary_table
    assert table.loc["none", "loglik"] == pytest.approx(expected["none_loglik"], abs=1e-6)
    assert table.loc["none", "n_params"] == expected["none_npar"]
    assert ours.tests.iloc[0]["statistic"] == pytest.approx(expected["lrt_groups"], abs=1e-5)


@pytest.mark.parametrize("name", ["bin_sep", "binom_prop"])
def test_groups_own_intercepts(name):
    expected, ours = REFERENCE["pooling"][name], comparison(name)
    table = ours.group_estimates
    own = table[("none", "(Intercept)")]
    for level, value in expected["own_intercepts"].items():
        assert own[level] == pytest.approx(value, rel=1e-6, abs=1e-8)
    assert table[("partial", "(Intercept)")].notna().all()


def test_separated_groups_are_reported():
    expected, ours = REFERENCE["pooling"]["bin_sep"], comparison("bin_sep")
    own = ours.group_estimates[("none", "(Intercept)")]
    assert sorted(own.index[own == -np.inf]) == sorted(expected["all_zero"])
    assert sorted(own.index[own == np.inf]) == sorted(expected["all_one"])
    partial = ours.group_estimates[("partial", "(Intercept)")]
    assert np.isfinite(partial[expected["all_zero"] + expected["all_one"]]).all()
    separation = [note for note in ours.notes if note.startswith("separation in g")]
    assert len(separation) == 1
    assert "all 0: g07, g09, g11, g20" in separation[0]
    assert "all 1: g17, g25" in separation[0]
    assert "(GLM)" in str(ours) and "-inf" in str(ours)


def test_random_effects_lrt_against_the_glm():
    ours = comparison("bacteria")
    expected = REFERENCE["models"]["bacteria"]["random_tests"]["(1 | ID)"]["lrt"]
    row = ours.tests.iloc[1]
    assert row["statistic"] == pytest.approx(expected, abs=4e-3)   # lme4's loglik: ~2e-3 short
    assert row["df"] == 1


def test_group_level_predictors_are_not_estimable_without_pooling():
    ours = comparison("bacteria")
    assert np.isnan(ours.coefficients.loc[["trt[T.drug]", "trt[T.drug+]"], "none"]).all()
    assert any("absorbed" in note for note in ours.notes)


def test_compare_pooling_from_a_formula_with_a_family():
    data = model_data("bin_sep")
    ours = lmmpy.compare_pooling("y ~ x + (1 | g)", data, family="binomial")
    np.testing.assert_allclose(ours.coefficients["none"],
                               comparison("bin_sep").coefficients["none"])
    with pytest.raises(ValueError, match="unknown family"):
        lmmpy.compare_pooling("y ~ x + (1 | g)", data, family="binomal")
