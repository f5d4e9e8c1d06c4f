"""predict on new data (issue 11, item 3): re_form as lme4's re.form, levels and types of
new data matched to the fit, missing values, and lme4's numbers."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from reference import load_case, load_case_data

import lmmpy
from lmmpy.datasets import load
from lmmpy.formula import parse_formula

RE_FORM = load_case("predict_re_form")


@pytest.fixture(scope="module")
def sleep_model():
    return lmmpy.lmer("Reaction ~ Days + (Days | Subject)", load("sleepstudy"))


@pytest.fixture(scope="module")
def cake_model():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", lmmpy.SingularFitWarning)
        return lmmpy.lmer("angle ~ recipe + temperature + (1 | replicate)", load("cake"))


def _population(model, rows):
    """x'β̂ computed by hand from the fixed-effect names (no predict involved)."""
    return rows @ model.fixef


# ---- re_form ------------------------------------------------------------------------------

@pytest.mark.parametrize("re_form", [False, "~0", "~ 0", "NA", np.nan, pd.NA])
def test_re_form_without_random_effects_is_the_population_prediction(sleep_model, re_form):
    new = pd.DataFrame({"Days": [0.0, 5.0], "Subject": ["308", "309"]})
    expected = sleep_model.fixef["(Intercept)"] + sleep_model.fixef["Days"] * new["Days"]
    np.testing.assert_allclose(sleep_model.predict(new, re_form=re_form), expected)


@pytest.mark.parametrize("re_form", [None, True, "~(Days | Subject)", "~(1 + Days | Subject)"])
def test_re_form_with_every_term_adds_each_subjects_effects(sleep_model, re_form):
    new = pd.DataFrame({"Days": [0.0, 5.0], "Subject": ["308", "309"]})
    b = sleep_model.ranef["Subject"].loc[["308", "309"]]
    expected = (sleep_model.fixef["(Intercept)"] + b["(Intercept)"].to_numpy()
                + (sleep_model.fixef["Days"] + b["Days"].to_numpy()) * new["Days"].to_numpy())
    np.testing.assert_allclose(sleep_model.predict(new, re_form=re_form), expected)


def test_the_default_re_form_is_every_term_on_the_fit_rows_too(sleep_model):
    assert sleep_model.predict().equals(sleep_model.fitted)
    assert sleep_model.predict(re_form=None).equals(sleep_model.fitted)
    intercepts = sleep_model.predict(re_form="~(1 | Subject)")
    data = load("sleepstudy")
    np.testing.assert_allclose(intercepts, sleep_model.predict(data, re_form="~(1 | Subject)"))


@pytest.mark.parametrize(("re_form", "message"), [
    ("~(1 | Patient)", r"'Patient' is not a grouping factor of the model \(its grouping "
                       r"factors: 'Subject'\)"),
    ("~(x | Subject)", r"term 'x' of \(x \| Subject\) is not among the model's random effects "
                       r"for 'Subject' \(terms: 1, Days\)"),
    ("~ Days + (1 | Subject)", r"must be a one-sided formula of random-effects terms only"),
    ("y ~ (1 | Subject)", r"must be a one-sided formula"),
])
def test_re_form_naming_what_is_not_in_the_model_is_an_error(sleep_model, re_form, message):
    new = pd.DataFrame({"Days": [1.0], "Subject": ["308"]})
    with pytest.raises(ValueError, match=message):
        sleep_model.predict(new, re_form=re_form)


def test_re_form_of_another_type_is_an_error(sleep_model):
    with pytest.raises(TypeError, match=r"re_form must be None .* not list"):
        sleep_model.predict(re_form=["~(1 | Subject)"])


def test_re_form_leaving_a_term_out_does_not_need_its_columns(sleep_model):
    only_days = pd.DataFrame({"Days": [1.0, 2.0]})
    np.testing.assert_allclose(sleep_model.predict(only_days, re_form="~0"),
                               _population(sleep_model, pd.DataFrame(
                                   {"(Intercept)": 1.0, "Days": only_days["Days"]})))


@pytest.mark.parametrize("model_name", ["penicillin_two_terms", "sleepstudy_slope",
                                        "pastes_nested", "ratpup"])
def test_predictions_match_lme4_for_every_re_form(model_name):
    spec = RE_FORM[model_name]
    case = {"dataset": spec["dataset"], "data_file": spec["data_file"],
            "factors": spec["factors"]}
    model = lmmpy.lmer(spec["formula"], load_case_data(case), reml=spec["REML"])
    rows = pd.DataFrame(spec["rows"])
    scale = model.sigma
    for prediction in spec["predictions"]:
        re_form = {"NULL": None, "NA": False}.get(prediction["re_form"], prediction["re_form"])
        ours = model.predict(rows, re_form=re_form, allow_new_levels=True).to_numpy()
        theirs = np.array([np.nan if v is None else v for v in prediction["values"]])
        # lme4 predicts a missing grouping value as a new level; lmmpy gives NaN
        groups = _grouping_columns(model, re_form)
        missing_group = rows[groups].isna().any(axis=1).to_numpy()
        assert np.all(np.isnan(ours[missing_group]))
        ours, theirs = ours[~missing_group], theirs[~missing_group]
        np.testing.assert_allclose(ours, theirs, rtol=0, atol=1e-4 * scale, equal_nan=True)


def _grouping_columns(model, re_form) -> list[str]:
    """The grouping columns of the terms ``re_form`` includes."""
    if re_form is None:
        return [c for term in model.design.terms for c in term.group_columns]
    if re_form is False:
        return []
    return [c for term in parse_formula(re_form).random for c in term.group]


@pytest.mark.parametrize("name", ["ratpup_reml", "sim_center_na_reml"])
def test_reference_cases_with_function_named_columns_predict_as_lme4(name):
    case = load_case(name)
    spec = case["predict_re_form"]
    model = lmmpy.lmer(case["formula"], load_case_data(case), reml=case["REML"])
    rows = pd.DataFrame(spec["rows"])
    for prediction in spec["predictions"]:
        re_form = {"NULL": None, "NA": False}.get(prediction["re_form"], prediction["re_form"])
        ours = model.predict(rows, re_form=re_form, allow_new_levels=True)
        theirs = np.array([np.nan if v is None else v for v in prediction["values"]])
        np.testing.assert_allclose(ours, theirs, rtol=0, atol=1e-4 * model.sigma,
                                   equal_nan=True)


def test_se_fit_follows_re_form(sleep_model):
    new = pd.DataFrame({"Days": [0.0, 4.0, 9.0], "Subject": ["308", "309", "330"]})
    none = sleep_model.predict(new, re_form="~0", se_fit=True)
    population = sleep_model.predict(new, re_form=False, se_fit=True)
    pd.testing.assert_frame_equal(none, population)
    every = sleep_model.predict(new, se_fit=True)
    intercepts = sleep_model.predict(new, re_form="~(1 | Subject)", se_fit=True)
    np.testing.assert_allclose(intercepts["fit"],
                               sleep_model.predict(new, re_form="~(1 | Subject)"))
    assert not np.allclose(intercepts["se_fit"], every["se_fit"])
    assert not np.allclose(intercepts["se_fit"], population["se_fit"])


# ---- levels and types of new data -------------------------------------------------------

def test_a_new_level_of_a_fixed_effect_factor_is_an_error(cake_model):
    new = load("cake").head(2).copy()
    new["recipe"] = new["recipe"].astype(str)
    new.loc[new.index[1], "recipe"] = "Z"
    with pytest.raises(ValueError, match=r"newdata column 'recipe' has level\(s\) 'Z' not seen "
                                         r"in the fit \(its levels: 'A', 'B', 'C'\)"):
        cake_model.predict(new)


def test_a_missing_value_predicts_nan_and_leaves_the_other_rows_alone(cake_model):
    data = load("cake")
    new = data.iloc[[0, 20, 40, 60]].copy()
    expected = cake_model.predict(new)
    for column in ("recipe", "temperature", "replicate"):
        gap = new.copy()
        gap[column] = gap[column].astype(object)
        gap.loc[gap.index[1], column] = None
        got = cake_model.predict(gap)
        assert np.isnan(got.iloc[1]), column
        np.testing.assert_allclose(got.drop(got.index[1]), expected.drop(expected.index[1]))
    population = new.assign(temperature=new["temperature"].astype(object))
    population.loc[population.index[2], "temperature"] = np.nan
    got = cake_model.predict(population, re_form=False, se_fit=True)
    assert got.iloc[2].isna().all() and got.drop(got.index[2]).notna().all().all()


def test_a_missing_number_predicts_nan(sleep_model):
    new = pd.DataFrame({"Days": [1.0, np.nan], "Subject": ["308", "308"]})
    got = sleep_model.predict(new)
    assert np.isfinite(got.iloc[0]) and np.isnan(got.iloc[1])


@pytest.mark.parametrize("spell", [int, float, str, lambda t: pd.Categorical([str(t)])[0]])
def test_factor_values_spelled_like_the_fitted_levels_are_those_levels(cake_model, spell):
    data = load("cake")  # temperature: ordered factor with levels "175", "185", ...
    new = data.iloc[[0, 7, 14, 21, 28, 35]].copy()
    expected = cake_model.predict(new)
    assert expected.nunique() > 1
    retyped = new.assign(temperature=[spell(int(t)) for t in new["temperature"]])
    np.testing.assert_allclose(cake_model.predict(retyped), expected)


def test_a_value_spelled_like_no_level_is_an_error(cake_model):
    new = load("cake").head(1).assign(temperature=[176])
    with pytest.raises(ValueError, match=r"newdata column 'temperature' has level\(s\) 176 not "
                                         r"seen in the fit"):
        cake_model.predict(new)


def test_numbers_for_a_factor_fitted_on_strings():
    data = load("sleepstudy").assign(week=lambda d: (d["Days"] // 4).astype(int).astype(str))
    model = lmmpy.lmer("Reaction ~ week + (1 | Subject)", data)
    new = data.iloc[[0, 5, 9]]
    np.testing.assert_allclose(model.predict(new.assign(week=new["week"].astype(int))),
                               model.predict(new))
    np.testing.assert_allclose(model.predict(new.assign(week=new["week"].astype("category"))),
                               model.predict(new))


def test_strings_for_a_numeric_column_are_an_error(sleep_model):
    new = pd.DataFrame({"Days": ["1"], "Subject": ["308"]})
    with pytest.raises(TypeError, match=r"newdata column 'Days' is .*, but it was numeric in "
                                        r"the fit"):
        sleep_model.predict(new)


@pytest.mark.parametrize("fitted_as", ["int", "str"])
@pytest.mark.parametrize("given_as", [int, float, str])
def test_group_ids_match_across_int_float_and_string(fitted_as, given_as):
    data = load("sleepstudy")
    data = data.assign(Subject=data["Subject"].astype(str).astype(int).astype(fitted_as))
    model = lmmpy.lmer("Reaction ~ Days + (Days | Subject)", data)
    new = pd.DataFrame({"Days": [1.0, 1.0], "Subject": [308, 309]})
    expected = model.predict(new.assign(Subject=new["Subject"].astype(fitted_as)))
    merged = new.assign(Subject=[given_as(float(s)) if given_as is float else given_as(s)
                                 for s in new["Subject"]])
    got = model.predict(merged, allow_new_levels=True)
    np.testing.assert_allclose(got, expected)
    assert not np.allclose(got, model.predict(new, re_form=False))


def test_a_float_group_id_for_a_two_column_grouping_factor():
    data = load("sleepstudy").assign(half=lambda d: (d["Days"] >= 5).astype(int))
    model = lmmpy.lmer("Reaction ~ Days + (1 | Subject:half)", data)
    new = pd.DataFrame({"Days": [1.0], "Subject": ["308"], "half": [0]})
    np.testing.assert_allclose(model.predict(new.assign(half=[0.0])), model.predict(new))


def test_a_column_read_inside_a_transform_must_be_in_newdata():
    data = load("sleepstudy").assign(center=lambda d: d["Days"] * 2.0)
    model = lmmpy.lmer("Reaction ~ scale(center) + (1 | Subject)", data)
    with pytest.raises(ValueError, match=r"column 'center' used in the model \(newdata\) is not"):
        model.predict(pd.DataFrame({"Subject": ["308"]}))
    new = data.head(3)
    np.testing.assert_allclose(model.predict(new), model.fitted.head(3))
