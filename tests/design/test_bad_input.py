"""Bad input gets a ValueError/TypeError naming the culprit, before any numerics."""

from __future__ import annotations

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
    with pytest.raises(TypeError, match="data must be a pandas DataFrame, not dict"):
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
