"""The PoolingComparison contract, its printed form and verdict, and bad input."""

from __future__ import annotations

import functools
import warnings

import numpy as np
import pandas as pd
import pytest

import lmmpy
from lmmpy.diagnostics import _nopooling

TEST_NAMES = [
    "F test of group dummies (none vs complete)",
    "LRT of random effects (partial vs complete)",
    "Hausman (fixed vs random effects)",
]


@functools.cache
def simpson() -> lmmpy.PoolingComparison:
    return lmmpy.compare_pooling("y ~ x + (1 | g)", lmmpy.datasets.load("simpson"))


@functools.cache
def dyestuff2() -> lmmpy.PoolingComparison:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", lmmpy.SingularFitWarning)
        return lmmpy.compare_pooling("Yield ~ 1 + (1 | Batch)", lmmpy.datasets.load("Dyestuff2"))


@functools.cache
def sleep_model() -> lmmpy.LinearMixedModel:
    return lmmpy.lmer("Reaction ~ Days + (Days | Subject)", lmmpy.datasets.load("sleepstudy"))


def test_contract_shapes_and_labels():
    cmp = simpson()
    assert list(cmp.coefficients.columns) == ["complete", "none", "partial"]
    assert list(cmp.coefficients.index) == ["(Intercept)", "x"]
    assert cmp.std_errors.shape == cmp.coefficients.shape
    assert list(cmp.std_errors.index) == list(cmp.coefficients.index)
    assert list(cmp.summary_table.index) == ["complete", "none", "partial"]
    assert list(cmp.summary_table.columns) == ["n_params", "loglik", "aic", "bic"]
    assert list(cmp.tests.index) == TEST_NAMES
    assert list(cmp.tests.columns) == ["statistic", "df", "p_value"]
    table = cmp.group_estimates
    assert isinstance(table, pd.DataFrame) and len(table) == 30 and table.index.name == "g"
    assert list(table.columns.get_level_values(0)) == [
        "size", "none", "partial", "target", "shrinkage", "reliability"]
    assert table["size"].sum() == 603  # a Series: ("size", "")
    with pytest.raises(AttributeError):
        cmp.verdict = "changed"  # frozen


def test_group_estimates_is_a_dict_for_several_factors_unless_one_is_chosen():
    data = lmmpy.datasets.load("Penicillin")
    m = lmmpy.lmer("diameter ~ 1 + (1 | plate) + (1 | sample)", data)
    assert set(m.compare_pooling().group_estimates) == {"plate", "sample"}
    chosen = m.compare_pooling(group="sample").group_estimates
    assert isinstance(chosen, pd.DataFrame) and list(chosen.index) == list("ABCDEF")


def test_method_and_function_agree():
    cmp = sleep_model().compare_pooling()
    direct = lmmpy.compare_pooling("Reaction ~ Days + (Days | Subject)",
                                   lmmpy.datasets.load("sleepstudy"))
    pd.testing.assert_frame_equal(cmp.coefficients, direct.coefficients, rtol=1e-10)
    pd.testing.assert_frame_equal(cmp.tests, direct.tests, rtol=1e-8)


def test_print_shows_everything():
    text = str(simpson())
    for part in ("Coefficients", "complete", "Fit (maximum likelihood)", "loglik", "Tests",
                 *TEST_NAMES, "Group estimates (g)", "shrinkage", "Verdict", "Notes"):
        assert part in text, part
    assert repr(simpson()) == text
    html = simpson()._repr_html_()
    assert "<pre>" not in html and "Hausman" in html and "&lt;" in html  # p &lt; 0.001
    assert html.count("<table") == 4   # coefficients, fit, tests, group estimates
    assert "<th>partial</th>" in html and html.count("<li>") == len(simpson().notes)


def test_print_marks_estimates_that_do_not_exist():
    cmp = lmmpy.compare_pooling("y ~ x + z + (1 | school)", lmmpy.datasets.load("sim_schools"))
    line = next(row for row in str(cmp).splitlines() if row.startswith("z "))
    assert "—" in line


def test_verdict_when_every_test_rejects():
    verdict = simpson().verdict
    assert "jointly significant (F(29, 572) = 71.01, p < 0.001)" in verdict
    assert "complete pooling is contradicted" in verdict
    assert "finds variation between groups" in verdict
    assert "Hausman test rejects" in verdict and "within–between" in verdict
    assert "Significance level 0.05" in verdict


def test_verdict_never_claims_more_than_a_non_significant_test_shows():
    verdict = dyestuff2().verdict
    assert "not jointly significant" in verdict
    assert "does not show that the groups are identical" in verdict
    assert "does not detect variation" in verdict
    assert "Hausman test does not apply" in verdict
    assert "contradicted" not in verdict


def test_verdict_when_hausman_does_not_reject():
    cmp = lmmpy.compare_pooling("y ~ x + z + (1 | school)", lmmpy.datasets.load("sim_schools"))
    assert cmp.tests.loc[TEST_NAMES[2], "p_value"] > 0.05
    assert "Hausman test does not reject" in cmp.verdict
    assert "does not prove" in cmp.verdict


def test_alpha_changes_the_words_not_the_numbers():
    data = lmmpy.datasets.load("Dyestuff2")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", lmmpy.SingularFitWarning)
        loose = lmmpy.compare_pooling("Yield ~ 1 + (1 | Batch)", data, alpha=0.9)
    pd.testing.assert_frame_equal(loose.tests, dyestuff2().tests)
    assert "The group dummies are jointly significant" in loose.verdict


def test_singular_fit_has_full_shrinkage():
    table = dyestuff2().group_estimates
    np.testing.assert_allclose(table[("shrinkage", "(Intercept)")], 1.0, atol=1e-6)
    np.testing.assert_allclose(table[("reliability", "(Intercept)")], 0.0, atol=1e-6)
    assert dyestuff2().tests.loc[TEST_NAMES[1], "p_value"] == pytest.approx(1.0)


# ---- bad input ----------------------------------------------------------------------
def test_formula_without_random_effects():
    with pytest.raises(ValueError, match=r"has no random-effects term such as \(1 \| group\)"):
        lmmpy.compare_pooling("Reaction ~ Days", lmmpy.datasets.load("sleepstudy"))


def test_grouping_factor_not_in_the_model():
    with pytest.raises(ValueError, match="grouping factor 'Days' is not in the model; its "
                                         "grouping factors are: Subject"):
        sleep_model().compare_pooling(group="Days")


@pytest.mark.parametrize("alpha", [0, 1, -0.1, "0.05", None])
def test_bad_alpha(alpha):
    with pytest.raises(ValueError, match="alpha must be a number between 0 and 1"):
        sleep_model().compare_pooling(alpha=alpha)


def test_no_pooling_design_too_large(monkeypatch):
    monkeypatch.setattr(_nopooling, "MAX_CELLS", 1000)
    with pytest.raises(ValueError, match=r"dense 180 × 38 matrix"):
        sleep_model().compare_pooling()
