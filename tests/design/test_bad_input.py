"""Bad input gets a ValueError/TypeError naming the culprit, before any numerics."""

from __future__ import annotations

import re
import warnings

import numpy as np
import pandas as pd
import pytest

import lmmpy


@pytest.fixture
def sleep():
    return lmmpy.datasets.load("sleepstudy")


FORMULA = "Reaction ~ Days + (Days | Subject)"


def test_unknown_column_is_named_with_a_suggestion(sleep):
    with pytest.raises(ValueError, match=r"column 'Dayz' .* not in the data; did you mean 'Days'"):
        lmmpy.lmer("Reaction ~ Dayz + (1 | Subject)", sleep)


def test_unknown_grouping_column(sleep):
    with pytest.raises(ValueError, match="column 'Subjects' used in formula"):
        lmmpy.lmer("Reaction ~ Days + (1 | Subjects)", sleep)


def test_grouping_factor_with_one_level(sleep):
    data = sleep.assign(one="a")
    with pytest.raises(ValueError, match=r"grouping factor 'one' has 1 level"):
        lmmpy.lmer("Reaction ~ Days + (1 | one)", data)


def test_grouping_factor_with_as_many_levels_as_observations(sleep):
    data = sleep.assign(row=np.arange(len(sleep)).astype(str))
    with pytest.raises(ValueError, match=r"levels of grouping factor 'row' \(180\) is not smaller"):
        lmmpy.lmer("Reaction ~ Days + (1 | row)", data)


def test_too_many_random_effects_for_the_data():
    data = pd.DataFrame({"y": [1.0, 2.0, 3.5, 4.0, 5.5, 6.0], "x": [0, 1, 2, 3, 4, 5.0],
                         "z": [1, 0, 2, 1, 3, 1.0], "g": list("aabbcc")})
    with pytest.raises(ValueError, match=r"not larger than the number of random effects \(9\)"):
        lmmpy.lmer("y ~ 1 + (x + z | g)", data)


def test_formula_without_random_effects(sleep):
    with pytest.raises(ValueError, match=r"has no random-effects terms"):
        lmmpy.lmer("Reaction ~ Days", sleep)


def test_formula_without_response(sleep):
    with pytest.raises(ValueError, match=r"has no response"):
        lmmpy.lmer("~ Days + (1 | Subject)", sleep)


def test_non_numeric_response(sleep):
    data = sleep.assign(label=sleep["Reaction"].astype(str))
    with pytest.raises(TypeError, match=r"response 'label' must be numeric"):
        lmmpy.lmer("label ~ Days + (1 | Subject)", data)


def test_factor_response_is_rejected(sleep):
    with pytest.raises(TypeError, match=r"must be numeric"):
        lmmpy.lmer("Subject ~ Days + (1 | Subject)", sleep)


def test_infinite_response(sleep):
    data = sleep.copy()
    data.loc[3, "Reaction"] = np.inf
    with pytest.raises(ValueError, match=r"the response has non-finite values \(first at row 3\)"):
        lmmpy.lmer(FORMULA, data)


def test_infinite_predictor_names_the_column(sleep):
    data = sleep.copy()
    data["Days"] = data["Days"].astype(float)
    data.loc[7, "Days"] = -np.inf
    with pytest.raises(ValueError, match=r"fixed-effects model matrix has non-finite .* Days"):
        lmmpy.lmer(FORMULA, data)


@pytest.mark.parametrize(("weights", "message"), [
    (-1.0, r"weights must not be negative \(found -1\)"),
    (0.0, r"weights must be positive"),
    (np.inf, r"weights has non-finite values"),
])
def test_bad_weights(sleep, weights, message):
    w = np.ones(len(sleep))
    w[5] = weights
    with pytest.raises(ValueError, match=message):
        lmmpy.lmer(FORMULA, sleep, weights=w)


def test_weights_of_the_wrong_length(sleep):
    with pytest.raises(ValueError, match=r"weights must be a column name or have one value per row"):
        lmmpy.lmer(FORMULA, sleep, weights=np.ones(10))


def test_weights_column_missing(sleep):
    with pytest.raises(ValueError, match=r"column 'w' used in weights is not in the data"):
        lmmpy.lmer(FORMULA, sleep, weights="w")


def test_empty_data_frame(sleep):
    with pytest.raises(ValueError, match="data has no rows"):
        lmmpy.lmer(FORMULA, sleep.iloc[:0])


def test_data_that_is_not_a_data_frame():
    with pytest.raises(TypeError, match=r"data must be a pandas DataFrame \(or a polars or "
                                        r"pyarrow table\), not dict"):
        lmmpy.lmer(FORMULA, {"Reaction": [1.0]})


def test_all_rows_missing(sleep):
    data = sleep.assign(Reaction=np.nan)
    with pytest.raises(ValueError, match="no rows are left after dropping rows with missing values"):
        lmmpy.lmer(FORMULA, data)


def test_constant_predictor(sleep):
    data = sleep.assign(c=3.0)
    with pytest.raises(ValueError, match=r"predictor 'c' in the fixed effects is constant"):
        lmmpy.lmer("Reaction ~ Days + c + (1 | Subject)", data)


def test_single_level_factor_predictor(sleep):
    data = sleep.assign(f=pd.Categorical(["a"] * len(sleep)))
    with pytest.raises(ValueError, match=r"factor 'f' in the fixed effects has a single level"):
        lmmpy.lmer("Reaction ~ Days + f + (1 | Subject)", data)


def test_malformed_formula_quotes_it(sleep):
    with pytest.raises(lmmpy.FormulaError, match=r"Reaction ~ Days \+ \(Days \| Subject"):
        lmmpy.lmer("Reaction ~ Days + (Days | Subject", sleep)


def test_start_of_the_wrong_length(sleep):
    with pytest.raises(ValueError, match=r"start must have 3 values"):
        lmmpy.lmer(FORMULA, sleep, start=[1.0])


def test_predict_newdata_missing_a_column(sleep):
    m = lmmpy.lmer(FORMULA, sleep)
    with pytest.raises(ValueError, match=r"column 'Days' used in the model \(newdata\) is not in"):
        m.predict(pd.DataFrame({"Subject": ["308"]}))


def test_predict_unseen_level_without_permission(sleep):
    m = lmmpy.lmer(FORMULA, sleep)
    new = pd.DataFrame({"Days": [1.0], "Subject": ["999"]})
    with pytest.raises(ValueError, match=r"level\(s\) '999' of grouping factor 'Subject' not seen"):
        m.predict(new)


def test_refit_with_a_response_of_the_wrong_length(sleep):
    m = lmmpy.lmer(FORMULA, sleep)
    with pytest.raises(ValueError, match=r"new response must have 180 values"):
        m.refit(np.ones(3))


def test_predict_newdata_missing_the_offset_column(sleep):
    m = lmmpy.lmer("Reaction ~ Days + (1 | Subject)", sleep.assign(o=1.0), offset="o")
    with pytest.raises(ValueError, match=r"column 'o' used in the model \(newdata\)"):
        m.predict(pd.DataFrame({"Days": [1.0], "Subject": ["308"]}))


# ---- issue 11 item 5: clear errors instead of other libraries' tracebacks --------------
SIMPLE = "Reaction ~ Days + (1 | Subject)"


def _quiet_fit(formula, data, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return lmmpy.lmer(formula, data, **kwargs)


@pytest.mark.parametrize(("formula", "column", "kwargs"), [
    (SIMPLE, "Days", {}),
    ("Reaction ~ 1 + (1 | Subject)", "Subject", {}),
    (SIMPLE, "w", {"weights": "w"}),
])
def test_a_duplicated_column_name_is_named(sleep, formula, column, kwargs):
    data = pd.concat([sleep.assign(w=1.0), sleep[["Days", "Subject"]].assign(w=2.0)], axis=1)
    with pytest.raises(ValueError, match=rf"column '{column}' used in .* appears 2 times in the "
                                         r"data; rename the copies or drop them"):
        lmmpy.lmer(formula, data, **kwargs)


def test_duplicated_columns_the_model_does_not_use_do_not_matter(sleep):
    data = pd.concat([sleep, sleep[["Days"]].rename(columns={"Days": "x"}),
                      sleep[["Days"]].rename(columns={"Days": "x"})], axis=1)
    assert _quiet_fit(SIMPLE, data).loglik == _quiet_fit(SIMPLE, sleep).loglik


@pytest.mark.parametrize(("values", "message"), [
    (lambda d: pd.Timestamp("2020-01-01") + pd.to_timedelta(d, unit="D"),
     r"predictor 'when' holds dates \(datetime64.*\); convert it to numbers first, e\.g\. days "
     r"since the first: data\['when'\] = \(data\['when'\] - data\['when'\]\.min\(\)\) / "
     r"pd\.Timedelta\(days=1\)"),
    (lambda d: pd.Timestamp("2020-01-01", tz="Europe/Berlin") + pd.to_timedelta(d, unit="D"),
     r"predictor 'when' holds dates \(datetime64.*Europe/Berlin\]\)"),
    (lambda d: pd.to_timedelta(d, unit="D"),
     r"predictor 'when' holds durations \(timedelta64.*\); convert it to numbers first, e\.g\. "
     r"in days: data\['when'\] = data\['when'\] / pd\.Timedelta\(days=1\)"),
    (lambda d: pd.Series(pd.period_range("2020-01", periods=len(d), freq="M")),
     r"predictor 'when' holds periods"),
])
@pytest.mark.parametrize("formula", ["Reaction ~ when + (1 | Subject)",
                                     "Reaction ~ Days + (when | Subject)"])
def test_date_and_duration_predictors_say_how_to_convert(sleep, values, message, formula):
    data = sleep.assign(when=values(sleep["Days"]).to_numpy())
    with pytest.raises(TypeError, match=message):
        lmmpy.lmer(formula, data)


def test_dates_as_a_grouping_factor_still_work(sleep):
    data = sleep.assign(day=pd.Timestamp("2020-01-01") + pd.to_timedelta(sleep["Days"] % 5,
                                                                           unit="D"))
    model = _quiet_fit("Reaction ~ Days + (1 | day)", data)
    assert model.design.terms[0].n_levels == 5


@pytest.mark.parametrize("reml", ["no", "False", 0, 1, None, np.array([True])])
def test_reml_must_be_a_bool(sleep, reml):
    with pytest.raises(TypeError, match=rf"reml must be True or False, not {re.escape(repr(reml))}"):
        lmmpy.lmer(SIMPLE, sleep, reml=reml)


def test_reml_as_a_numpy_bool_is_a_bool(sleep):
    assert _quiet_fit(SIMPLE, sleep, reml=np.bool_(False)).loglik == pytest.approx(
        _quiet_fit(SIMPLE, sleep, reml=False).loglik, abs=0)


@pytest.mark.parametrize("what", ["weights", "offset"])
def test_a_shuffled_series_is_matched_by_label(sleep, what):
    values = pd.Series(np.linspace(0.5, 2.0, len(sleep)), index=sleep.index)
    by_column = _quiet_fit(SIMPLE, sleep.assign(v=values), **{what: "v"})
    shuffled = values.sample(frac=1.0, random_state=1)
    by_label = _quiet_fit(SIMPLE, sleep, **{what: shuffled})
    np.testing.assert_array_equal(by_label.theta, by_column.theta)
    assert by_label.loglik == by_column.loglik
    by_position = _quiet_fit(SIMPLE, sleep, **{what: shuffled.to_numpy()})
    assert by_position.loglik != by_column.loglik  # arrays are used as given


@pytest.mark.parametrize("what", ["weights", "offset"])
@pytest.mark.parametrize("index", [lambda n: np.arange(n) + 1000, lambda n: np.arange(n) % 90])
def test_a_series_whose_index_is_not_the_datas_is_refused(sleep, what, index):
    values = pd.Series(np.ones(len(sleep)), index=index(len(sleep)))
    with pytest.raises(ValueError, match=rf"{what} is a pandas Series whose index does not match "
                                         rf"the data's index.*pass {what}\.to_numpy\(\) to use "
                                         "the values by position"):
        lmmpy.lmer(SIMPLE, sleep, **{what: values})


@pytest.mark.parametrize(("start", "error", "message"), [
    ([np.nan], ValueError, r"start must be finite: θ at position\(s\) \[0\] is nan"),
    ([np.inf], ValueError, r"start must be finite: θ at position\(s\) \[0\] is inf"),
    ([-0.5], ValueError, r"start θ at position\(s\) \[0\] is below its lower bound 0"),
    (["a"], TypeError, r"start must be numbers"),
])
def test_bad_start(sleep, start, error, message):
    with pytest.raises(error, match=message):
        lmmpy.lmer(SIMPLE, sleep, start=start)


@pytest.mark.parametrize(("bad", "message"), [
    (np.nan, r"new response has a non-finite value \(nan\) at position 3; refit keeps"),
    (np.inf, r"new response has a non-finite value \(inf\) at position 3"),
])
def test_refit_with_a_non_finite_response(sleep, bad, message):
    model = _quiet_fit(SIMPLE, sleep)
    y = sleep["Reaction"].to_numpy().copy()
    y[3] = bad
    with pytest.raises(ValueError, match=message):
        model.refit(y)


@pytest.mark.parametrize("formula", [SIMPLE, "Reaction ~ 1 + (1 | Subject)", FORMULA])
def test_a_constant_response_is_refused(sleep, formula):
    with pytest.raises(ValueError, match=r"response 'Reaction' is constant \(every value is 5\): "
                                         r"there is no variation to estimate"):
        lmmpy.lmer(formula, sleep.assign(Reaction=5.0))


def test_a_constant_response_minus_the_offset_is_refused(sleep):
    data = sleep.assign(o=sleep["Reaction"] - 2.0)
    with pytest.raises(ValueError, match=r"response 'Reaction' minus the offset is constant"):
        lmmpy.lmer(SIMPLE, data, offset="o")


@pytest.mark.parametrize("formula", [SIMPLE, "Reaction ~ 0 + (1 | Subject)",
                                     "Reaction ~ Days + offset(Reaction) + (1 | Subject)"])
def test_a_response_equal_to_the_offset_is_refused(sleep, formula):
    offset = None if "offset(" in formula else "Reaction"
    with pytest.raises(ValueError, match=r"response 'Reaction' equals the offset in every row"):
        lmmpy.lmer(formula, sleep, offset=offset)


def test_a_response_the_fixed_effects_fit_exactly_is_refused(sleep):
    data = sleep.assign(Reaction=5.0 + 2.0 * sleep["Days"])
    with pytest.raises(ValueError, match=r"response 'Reaction' is fitted exactly by the fixed "
                                         r"effects"):
        lmmpy.lmer(SIMPLE, data)


def test_refit_to_a_constant_response_is_refused(sleep):
    model = _quiet_fit(SIMPLE, sleep)
    with pytest.raises(ValueError, match=r"the response is constant \(every value is 3\)"):
        model.refit(np.full(len(sleep), 3.0))


def test_a_constant_response_without_an_intercept_is_a_model(sleep):
    data = sleep.assign(Reaction=5.0, x=np.resize([1.0, 2.0, 4.0], len(sleep)))
    model = _quiet_fit("Reaction ~ 0 + x + (1 | Subject)", data)
    assert np.isfinite(model.loglik)


@pytest.mark.parametrize("library", ["pyarrow", "polars"])
def test_polars_and_pyarrow_tables_are_converted(sleep, library):
    module = pytest.importorskip(library)
    table = (module.Table.from_pandas(sleep) if library == "pyarrow"
             else module.from_pandas(sleep))
    expected = _quiet_fit(FORMULA, sleep)
    model = _quiet_fit(FORMULA, table)
    np.testing.assert_array_equal(model.theta, expected.theta)
    assert model.loglik == expected.loglik
    assert model.design.terms[0].n_levels == 18


def test_polars_without_pyarrow_is_converted_by_column(sleep, monkeypatch):
    polars = pytest.importorskip("polars")
    table = polars.from_pandas(sleep)

    def no_pyarrow(self, *args, **kwargs):
        raise ModuleNotFoundError("No module named 'pyarrow'")

    monkeypatch.setattr(type(table), "to_pandas", no_pyarrow)
    model = _quiet_fit(FORMULA, table)
    assert model.loglik == _quiet_fit(FORMULA, sleep).loglik
    assert list(model.design.terms[0].levels) == list(sleep["Subject"].cat.categories)


def test_a_polars_lazy_frame_says_collect(sleep):
    polars = pytest.importorskip("polars")
    with pytest.raises(TypeError, match=r"polars LazyFrame: collect it first"):
        lmmpy.lmer(FORMULA, polars.from_pandas(sleep).lazy())


def test_a_pyarrow_array_is_not_a_table(sleep):
    pyarrow = pytest.importorskip("pyarrow")
    with pytest.raises(TypeError, match=r"data must be a table, not a"):
        lmmpy.lmer(FORMULA, pyarrow.array([1.0, 2.0]))


@pytest.mark.parametrize("formula", [1, None, ["Reaction ~ Days + (1 | Subject)"], b"y ~ x"])
def test_a_formula_that_is_not_a_string(sleep, formula):
    with pytest.raises(TypeError, match=rf"formula must be a string such as 'y ~ x \+ \(1 \| g\)', "
                                         rf"not {type(formula).__name__}"):
        lmmpy.lmer(formula, sleep)


@pytest.mark.parametrize(("formula", "message"), [
    ("Reaction ~ . + (1 | Subject)", r"'\.' \(all other columns\) is not supported"),
    ("Reaction ~ Days + {1 | Subject}", r"must be in round parentheses: \(1 \| Subject\)"),
    ("Reaction ~ factor(Days) + (1 | Subject)", r"R's factor\(\) .*: use C\(Days\)"),
])
def test_r_habits_fail_in_the_parser_not_in_formulaic(sleep, formula, message):
    with pytest.raises(lmmpy.FormulaError, match=message):
        lmmpy.lmer(formula, sleep)
