"""Likelihood-ratio tests: lme4's ``anova(m0, m1)`` and the random-effects tests (``ranova``).

Reference: tests/data/cases/sleepstudy_lrt_slope.json (lme4 1.1.31), within
1e-4 — log-likelihoods absolute, as in issue #2; unless ours is higher (a better
ML optimum), which the test then shows with the objective.
"""

from __future__ import annotations

import functools

import numpy as np
import pandas as pd
import pytest
import scipy.stats as st
from reference import load_case

import lmmpy
from lmmpy.inference import refit_ml

LRT = load_case("sleepstudy_lrt_slope")


@functools.cache
def fit(formula: str, reml: bool = True, rows: int | None = None) -> lmmpy.LinearMixedModel:
    data = lmmpy.datasets.load("sleepstudy")
    return lmmpy.lmer(formula, data if rows is None else data.iloc[:rows], reml=reml)


def m0(reml=True):
    return fit(LRT["models"][0]["formula"], reml)


def m1(reml=True):
    return fit(LRT["models"][1]["formula"], reml)


def _check_lrt_table(table):
    reference = pd.DataFrame(LRT["table"]).set_index("model")
    formulas = {model["name"]: model["formula"] for model in LRT["models"]}
    assert list(table.index) == [formulas[name] for name in reference.index]
    assert list(table["npar"]) == list(reference["npar"])
    for ours, theirs in [("loglik", "logLik"), ("aic", "AIC"), ("bic", "BIC"),
                         ("deviance", "deviance")]:
        assert np.allclose(table[ours], reference[theirs], rtol=0, atol=1e-4)
    assert np.isnan(table["chisq"].iloc[0]) and np.isnan(table["p_value"].iloc[0])
    assert table["chisq"].iloc[1] == pytest.approx(reference["Chisq"].iloc[1], abs=1e-4)
    assert table["df"].iloc[1] == reference["Df"].iloc[1]
    assert table["p_value"].iloc[1] == pytest.approx(reference["Pr"].iloc[1], rel=1e-4)


def test_lrt_table_refits_reml_fits_with_ml():
    table = lmmpy.anova(m0(), m1())
    _check_lrt_table(table)
    assert table.attrs["note"] == "refitting model(s) with ML (instead of REML)"
    assert "refitting model(s) with ML" in repr(table)


def test_ml_fits_are_compared_as_they_are():
    table = lmmpy.anova(m0(reml=False), m1(reml=False))
    _check_lrt_table(table)
    assert "note" not in table.attrs


def test_rows_are_labelled_by_the_formulas():
    small, big = LRT["models"][0]["formula"], LRT["models"][1]["formula"]
    table = lmmpy.anova(m1(), m0())
    assert list(table.index) == [small, big]  # sorted by npar: m0's row first
    assert table["npar"].tolist() == [4, 6]
    assert "Models:" not in repr(table)  # the labels are the formulas already


def test_a_formula_given_twice_gets_a_count():
    table = lmmpy.anova(m0(), m1(), m1(reml=False))
    big = LRT["models"][1]["formula"]
    assert list(table.index)[1:] == [big, f"{big} [2]"]
    assert f"{big} [2]: {big}" in table.attrs["heading"]


def test_names_and_keywords_label_the_rows():
    table = lmmpy.anova(m1(), m0(), names=["slope", "intercept"])
    assert list(table.index) == ["intercept", "slope"]
    assert "slope: Reaction ~ Days + (Days | Subject)" in table.attrs["heading"]
    table = lmmpy.anova(big=m1(), small=m0())
    assert list(table.index) == ["small", "big"]
    table = lmmpy.anova(m1(), names=["slope"], small=m0())
    assert list(table.index) == ["small", "slope"]


@pytest.mark.parametrize(("names", "error", "message"), [
    ("ab", TypeError, "names must be a sequence of strings, not 'ab'"),
    ([1, 2], TypeError, r"names must be a sequence of strings, not \[1, 2\]"),
    (["a"], ValueError, "names has 1 labels for 2 models"),
    (["a", "a"], ValueError, r"names must be unique, not \['a', 'a'\]"),
])
def test_bad_names(names, error, message):
    with pytest.raises(error, match=message):
        lmmpy.anova(m0(), m1(), names=names)


def test_refit_ml_reaches_lme4s_ml_optimum():
    ml = refit_ml(m1())
    reference = LRT["table"][1]
    assert not ml.reml
    assert ml.loglik == pytest.approx(reference["logLik"], abs=1e-4)
    assert ml.loglik >= fit(LRT["models"][1]["formula"], False).loglik - 1e-6
    assert refit_ml(ml) is ml


def test_refit_false_compares_the_criteria_as_given():
    table = lmmpy.anova(m0(), m1(), refit=False)
    assert table["loglik"].tolist() == pytest.approx([m0().loglik, m1().loglik])
    assert "note" not in table.attrs


def test_models_fitted_to_different_data_are_refused():
    with pytest.raises(ValueError, match="different data: 'm0' has 180 observations, 'm1' has "
                                         "170"):
        lmmpy.anova(m0(), fit(LRT["models"][1]["formula"], rows=170), names=["m0", "m1"])
    data = lmmpy.datasets.load("sleepstudy")
    data["Reaction"] = data["Reaction"] + 1.0
    shifted = lmmpy.lmer(LRT["models"][1]["formula"], data)
    with pytest.raises(ValueError, match=r"different data: the responses of "
                                         r"'Reaction ~ Days \+ \(1 \| Subject\)' and "
                                         r"'Reaction ~ Days \+ \(Days \| Subject\)' differ"):
        lmmpy.anova(m0(), shifted)
    weighted = lmmpy.lmer(LRT["models"][1]["formula"], lmmpy.datasets.load("sleepstudy"),
                          weights=np.full(180, 2.0))
    with pytest.raises(ValueError, match="different weights: 'small', 'big'"):
        lmmpy.anova(small=m0(), big=weighted)


def test_bad_arguments():
    with pytest.raises(TypeError, match="model 2 is a str, not a fitted LinearMixedModel"):
        lmmpy.anova(m0(), "m1")
    with pytest.raises(TypeError, match="big is a str, not a fitted LinearMixedModel"):
        lmmpy.anova(m0(), big="m1")
    with pytest.raises(ValueError, match="model name 'm0' is used twice"):
        lmmpy.anova(m1(), names=["m0"], m0=m0())


# ---- random effects -------------------------------------------------------------------


def test_random_slope_test_matches_lme4s_anova():
    """Dropping Days from (Days | Subject) in the ML fit is lme4's anova(m0, m1) refitted by ML."""
    table = lmmpy.test_random_effect(m1(reml=False), "Days in (1 + Days | Subject)")
    reference = LRT["table"]
    row = table.iloc[1]
    assert list(table.index) == ["<none>", "Days in (1 + Days | Subject)"]
    assert row["loglik"] == pytest.approx(reference[0]["logLik"], abs=1e-4)
    assert table["loglik"].iloc[0] == pytest.approx(reference[1]["logLik"], abs=1e-4)
    assert row["lrt"] == pytest.approx(reference[1]["Chisq"], abs=1e-4)
    assert row["df"] == 2 and row["npar"] == 4
    assert row["p_value"] == pytest.approx(reference[1]["Pr"], rel=1e-4)
    chisq = reference[1]["Chisq"]
    mixture = 0.5 * st.chi2.sf(chisq, 1) + 0.5 * st.chi2.sf(chisq, 2)
    assert row["p_value_mixture"] == pytest.approx(mixture, rel=1e-4)
    assert row["mixture"] == "0.5 chi2(1) + 0.5 chi2(2)"


def test_reml_fits_are_tested_with_the_reml_criterion():
    table = m1().ranova()
    lrt = m0().reml_criterion - m1().reml_criterion
    assert table.loc["Days in (1 + Days | Subject)", "lrt"] == pytest.approx(lrt, abs=1e-4)
    assert "Likelihoods are REML" in table.attrs["note"]


def test_dropping_the_only_term_gives_the_linear_model():
    m = fit("Reaction ~ Days + (1 | Subject)", reml=False)
    row = m.ranova().loc["(1 | Subject)"]
    X, y, n = m.design.X.values, m.design.y, m.nobs
    rss = np.sum((y - X @ np.linalg.lstsq(X, y, rcond=None)[0]) ** 2)
    ols_loglik = -n / 2 * (1 + np.log(2 * np.pi * rss / n))
    assert row["loglik"] == pytest.approx(ols_loglik, rel=1e-12)
    assert row["npar"] == 3 and row["df"] == 1
    assert row["mixture"] == "0.5 chi2(0) + 0.5 chi2(1)"
    assert row["p_value_mixture"] == pytest.approx(row["p_value"] / 2)


def test_each_term_of_a_crossed_model_is_dropped():
    m = lmmpy.lmer("diameter ~ 1 + (1 | plate) + (1 | sample)",
                   lmmpy.datasets.load("Penicillin"))
    table = m.ranova()
    assert list(table.index) == ["<none>", "(1 | plate)", "(1 | sample)"]
    for term, other in [("(1 | plate)", "(1 | sample)"), ("(1 | sample)", "(1 | plate)")]:
        alone = lmmpy.lmer(f"diameter ~ 1 + {other}", lmmpy.datasets.load("Penicillin"))
        assert table.loc[term, "loglik"] == pytest.approx(alone.loglik, abs=1e-6)


def test_uncorrelated_terms_drop_one_variance_each():
    """(Days || Subject): lmerTest reduces (0 + Days | Subject) to (1 | Subject), which the
    model has already: the slope term is removed."""
    table = fit("Reaction ~ Days + (Days || Subject)").ranova()
    assert list(table.index) == ["<none>", "(1 | Subject)", "Days in (0 + Days | Subject)"]
    assert table["df"].iloc[1:].tolist() == [1, 1]
    assert set(table["mixture"].iloc[1:]) == {"0.5 chi2(0) + 0.5 chi2(1)"}


@pytest.mark.filterwarnings("ignore::lmmpy.SingularFitWarning")
def test_a_factor_on_the_left_is_dropped_with_the_conservative_chi2():
    data = lmmpy.datasets.load("cake")
    m = lmmpy.lmer("angle ~ recipe + (1 + recipe | replicate)", data)
    table = m.ranova()
    row = table.loc["recipe in (1 + recipe | replicate)"]
    assert row["df"] == 5
    assert row["p_value_mixture"] == row["p_value"]
    assert row["mixture"] == "chi2(5), conservative (no simple mixture)"


def test_unknown_random_term_lists_the_choices():
    with pytest.raises(ValueError, match=r"no random-effects term '\(Days \| Subject\)' in the "
                                         r"model; choose one of 'Days in \(1 \+ Days \| "
                                         r"Subject\)'"):
        lmmpy.test_random_effect(m1(), "(Days | Subject)")


def test_multiline_heading_is_one_paragraph_per_line():
    m = lmmpy.lmer("Reaction ~ Days + (1 | Subject)", lmmpy.datasets.load("sleepstudy"))
    page = m.ranova()._repr_html_()
    assert "<p>ANOVA-like table for random-effects: single term deletions</p>" in page
    assert "<p>Model: Reaction ~ Days + (1 | Subject)</p>" in page
