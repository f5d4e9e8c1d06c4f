"""emmeans(), emtrends() and pairs() against R's emmeans (tests/data/emmeans, made by
tools/reference/make_emmeans.R: cake, cake with an empty cell (means that are not
estimable) and three simulated models, with Kenward-Roger, Satterthwaite and asymptotic df)."""

import json
import pathlib
import warnings

import numpy as np
import pandas as pd
import pytest

import lmmpy
from lmmpy.report import _emmeans

DATA = pathlib.Path(__file__).parents[1] / "data" / "emmeans"
CASES = sorted(p.stem for p in DATA.glob("*.json"))
RELATIVE = {"estimate": 1e-4, "std_error": 1e-4, "t_ratio": 1e-4, "lower_cl": 1e-4,
            "upper_cl": 1e-4, "df": 1e-3, "p_value": 1e-3}
R_COLUMNS = {"SE": "std_error", "t.ratio": "t_ratio", "z.ratio": "t_ratio", "p.value": "p_value",
             "lower.CL": "lower_cl", "upper.CL": "upper_cl", "asymp.LCL": "lower_cl",
             "asymp.UCL": "upper_cl"}
_FITS: dict = {}


def _case(name):
    case = json.loads((DATA / f"{name}.json").read_text())
    data = (lmmpy.datasets.load(case["dataset"]) if case.get("dataset")
            else pd.read_csv(DATA / case["csv"]))
    if case.get("drop"):
        dropped = np.logical_and.reduce([data[k].astype(str) == v
                                         for k, v in case["drop"].items()])
        data = data[~dropped].reset_index(drop=True)
    return case, data


def _fit(name):
    """The model fitted from its own start; test_fit_reaches_lme4_optimum checks the fit."""
    if name not in _FITS:
        case, data = _case(name)
        with warnings.catch_warnings():  # cake_missing_cell drops an aliased column, as lme4
            warnings.simplefilter("ignore", lmmpy.RankDeficiencyWarning)
            model = lmmpy.lmer(case["formula"], data, reml=case["REML"])
        assert model.loglik == pytest.approx(case["logLik"], abs=1e-6)
        _FITS[name] = case, data, model
    return _FITS[name]


QUERIES = [(name, index) for name in CASES
           for index in range(len(json.loads((DATA / f"{name}.json").read_text())["queries"]))]


@pytest.mark.filterwarnings("ignore::lmmpy.SingularFitWarning",
                            "ignore::lmmpy.RankDeficiencyWarning")
@pytest.mark.parametrize("name", CASES)
def test_fit_reaches_lme4_optimum(name):
    case, data = _case(name)
    model = lmmpy.lmer(case["formula"], data, reml=case["REML"])
    assert model.loglik == pytest.approx(case["logLik"], abs=1e-6)


def _run(query, model, data):
    options = dict(by=query.get("by"), at=query.get("at"), ddf=query["ddf"], data=data,
                   weights=query.get("weights", "equal"))
    if query["what"] == "emtrends":
        result = lmmpy.emtrends(model, query["specs"], query["var"], **options)
    else:
        result = lmmpy.emmeans(model, query["specs"], **options)
    infer = bool(query.get("infer"))
    if query.get("method"):
        return result.contrast(query["method"], query.get("adjust"), ref=query.get("ref"),
                               conf_int=infer)
    return result.pairs(query["adjust"], conf_int=infer) if query.get("adjust") else result


def _expected(query) -> pd.DataFrame:
    table = pd.DataFrame(query["rows"]).rename(columns=R_COLUMNS)
    table = table.rename(columns=lambda c: c.replace(".trend", "_trend"))
    # jsonlite writes R's NA and Inf as null: df is Inf for an asymptotic estimate, NA where
    # the estimate is (not estimable)
    estimated = table.iloc[:, list(table.columns).index("df") - 2].notna()
    infinite = estimated & (query["ddf"] == "asymptotic")
    df = table["df"].astype(float).mask(infinite, np.inf)
    return table.assign(df=df).replace({None: np.nan})


@pytest.mark.parametrize(("name", "index"), QUERIES)
def test_matches_r_emmeans(name, index):
    case, data, model = _fit(name)
    query = case["queries"][index]
    got = _run(query, model, data).to_frame()
    expected = _expected(query)
    assert list(got.columns) == list(expected.columns)
    for column in expected.columns:
        if column in RELATIVE or column.endswith("_trend") or column == "emmean":
            tolerance = RELATIVE.get(column, 1e-4)
            want = expected[column].to_numpy(float)
            # an estimate that is 0 (1e-13 in either program) is compared on the column's scale
            floor = 1e-9 * np.nanmax(np.abs(np.where(np.isinf(want), np.nan, want)), initial=0)
            if column == "p_value":  # emmeans' dunnettx p is 1 - a CDF: below 1e-12 both
                floor = 1e-12        # programs compare rounding errors of the CDF
            np.testing.assert_allclose(got[column].to_numpy(float), want, rtol=tolerance,
                                       atol=floor, err_msg=f"{query['id']}: {column}")
        else:  # labels: factor levels, by values, contrasts
            assert [str(v) if isinstance(v, str) else float(v) for v in got[column]] == [
                str(v) if isinstance(v, str) else float(v) for v in expected[column]], column


def test_estimates_are_in_r_order_with_factor_columns():
    _, _, model = _fit("cake")
    frame = lmmpy.emmeans(model, ["recipe", "temperature"]).to_frame()
    assert frame[["recipe", "temperature"]].head(4).astype(str).values.tolist() == [
        ["A", "175"], ["B", "175"], ["C", "175"], ["A", "185"]]
    assert isinstance(frame["recipe"].dtype, pd.CategoricalDtype)


# ---- trends: emmeans' forward difference against the derivative --------------------------

@pytest.mark.parametrize("ddf", ["asymptotic", "satterthwaite"])
def test_trend_of_a_linear_term_is_its_slope(ddf):
    _, _, model = _fit("schools")
    trends = lmmpy.emtrends(model, "sector", "ses", ddf=ddf).to_frame()
    beta = model.fixef
    exact = [beta["ses"], beta["ses"] + beta["sector[T.private]:ses"],
             beta["ses"] + beta["sector[T.public]:ses"]]
    np.testing.assert_allclose(trends["ses_trend"], exact, rtol=1e-9)


def test_trend_of_a_quadratic_is_emmeans_forward_difference():
    """With I(x^2) the step δ = 0.001 × range(x) adds δ β₂ to the derivative 2 β₂ x̄ + β₁ (as R)."""
    _, data, model = _fit("growth")
    trend = lmmpy.emtrends(model, "group", "x", data=data).to_frame()["x_trend"].iloc[0]
    beta, x = model.fixef, data["x"]
    derivative = beta["x"] + 2 * beta["I(x ** 2)"] * x.mean()
    step = 1e-3 * (x.max() - x.min())
    assert trend == pytest.approx(derivative + step * beta["I(x ** 2)"], rel=1e-9)
    assert abs(trend - derivative) > 1e-4


# ---- the default df method (emmeans' lmer.df rule) -------------------------------------

def test_default_ddf_is_kenward_roger_for_a_small_reml_fit():
    _, _, model = _fit("cake")
    default = lmmpy.emmeans(model, "recipe")
    assert default.ddf == "kenward-roger"
    pd.testing.assert_frame_equal(default.to_frame(),
                                  lmmpy.emmeans(model, "recipe", ddf="kenward-roger").to_frame())


def test_default_ddf_of_an_ml_fit_is_satterthwaite():
    _, data, model = _fit("growth")
    assert lmmpy.emmeans(model, "group", data=data).ddf == "satterthwaite"


@pytest.mark.parametrize(("pbkrtest", "lmertest", "expected"), [
    (100, 3000, "satterthwaite"), (100, 100, "asymptotic"), (3000, 100, "kenward-roger")])
def test_default_ddf_follows_the_size_limits(monkeypatch, pbkrtest, lmertest, expected):
    _, _, model = _fit("cake")  # n = 270
    monkeypatch.setattr(_emmeans, "PBKRTEST_LIMIT", pbkrtest)
    monkeypatch.setattr(_emmeans, "LMERTEST_LIMIT", lmertest)
    assert lmmpy.emmeans(model, "recipe").ddf == expected


# ---- the reference grid ----------------------------------------------------------------

def test_a_two_valued_number_is_averaged_over_its_values():
    """emmeans' cov.keep = "2": a 0/1 covariate enters the grid at 0 and 1, not at its mean."""
    sleep = lmmpy.datasets.load("sleepstudy")
    sleep = sleep.assign(late=(sleep["Days"] >= 7).astype(float))
    model = lmmpy.lmer("Reaction ~ late + (1 | Subject)", sleep)
    mean = lmmpy.emmeans(model, [], ddf="asymptotic").to_frame()["emmean"].iloc[0]
    assert mean == pytest.approx(model.fixef["(Intercept)"] + model.fixef["late"] / 2, rel=1e-12)


def test_at_restricts_a_factor_and_moves_a_number():
    _, _, model = _fit("clinics")
    means = lmmpy.emmeans(model, "treat", at={"visit": ["v1"], "age": 50}, ddf="asymptotic")
    beta = model.fixef
    assert means["emmean"].iloc[0] == pytest.approx(beta["(Intercept)"] + 50 * beta["age"])


# ---- the result object ------------------------------------------------------------------

def test_text_and_html_show_heading_and_notes():
    _, _, model = _fit("cake")
    means = lmmpy.emmeans(model, "recipe")
    text, page = repr(means), means._repr_html_()
    assert text.startswith("Estimated marginal means of angle")
    assert "Averaged over: temperature" in text
    assert "Degrees-of-freedom method: kenward-roger" in text
    assert "<table" in page and "<p>Confidence level used: 0.95</p>" in page
    pairs = means.pairs()
    assert "tukey method for comparing a family of 3 estimates" in repr(pairs)
    assert list(pairs.columns) == ["contrast", "estimate", "std_error", "df", "t_ratio", "p_value"]
    assert len(means) == 3 and means["emmean"].equals(means.frame["emmean"])


def test_to_frame_is_a_copy():
    _, _, model = _fit("cake")
    means = lmmpy.emmeans(model, "recipe")
    frame = means.to_frame()
    frame["emmean"] = 0.0
    assert means["emmean"].ne(0).all()


def test_top_level_exports():
    assert lmmpy.emmeans is lmmpy.report.emmeans
    assert lmmpy.emtrends is lmmpy.report.emtrends


# ---- bad input -----------------------------------------------------------------------

@pytest.mark.parametrize(("call", "error", "message"), [
    (lambda m: lmmpy.emmeans(m, "Recipe"), ValueError,
     "specs names 'Recipe', not a variable of the fixed effects; the model's variables are "
     "recipe, temperature"),
    (lambda m: lmmpy.emmeans(m, 3), TypeError, "specs must be a variable name or a list"),
    (lambda m: lmmpy.emmeans(m, ["recipe", 1.5]), TypeError, "specs must be a variable name"),
    (lambda m: lmmpy.emmeans(m, ["recipe", "recipe"]), ValueError, "specs names a variable twice"),
    (lambda m: lmmpy.emmeans(m, "recipe", by="oven"), ValueError, "by names 'oven'"),
    (lambda m: lmmpy.emmeans(m, "recipe", by="recipe"), ValueError,
     r"\['recipe'\] are in both specs and by"),
    (lambda m: lmmpy.emmeans(m, "recipe", ddf="kr"), ValueError,
     "unknown ddf 'kr': choose one of 'kenward-roger', 'satterthwaite', 'asymptotic'"),
    (lambda m: lmmpy.emmeans(m, "recipe", ddf="residual"), ValueError, "unknown ddf 'residual'"),
    (lambda m: lmmpy.emmeans(m, "recipe").pairs(adjust="hsd"), ValueError,
     "unknown adjust 'hsd': choose one of 'tukey', 'scheffe', 'sidak', 'bonferroni', 'dunnettx', "
     "'holm', 'hochberg', 'fdr', 'BY', 'none'"),
    (lambda m: lmmpy.emmeans(m, "recipe", level=95), ValueError,
     "level must be a number between 0 and 1, not 95"),
    (lambda m: lmmpy.emmeans(m, "recipe", at={"oven": 1}), ValueError,
     "at= names 'oven', which is not a variable of the fixed effects"),
    (lambda m: lmmpy.emmeans(m, "recipe", at={"recipe": ["D"]}), ValueError,
     r"at= gives level\(s\) \['D'\] of 'recipe', which has levels \['A', 'B', 'C'\]"),
    (lambda m: lmmpy.emmeans(m, "recipe", at=["A"]), TypeError, "at must be a dict"),
    (lambda m: lmmpy.emtrends(m, "recipe", "temperature"), ValueError,
     "var 'temperature' is a factor; emtrends needs a numeric variable"),
    (lambda m: lmmpy.emtrends(m, "recipe", "temp"), ValueError,
     "var 'temp' is not a variable of the fixed effects"),
])
def test_bad_input_is_named(call, error, message):
    _, _, model = _fit("cake")
    with pytest.raises(error, match=message):
        call(model)


def test_kenward_roger_needs_a_reml_fit():
    _, data, model = _fit("growth")
    with pytest.raises(ValueError, match="ddf='kenward-roger' needs a REML fit"):
        lmmpy.emmeans(model, "group", ddf="kenward-roger", data=data)


def test_a_number_used_only_in_a_transform_needs_the_data():
    _, _, model = _fit("growth")
    with pytest.raises(ValueError, match=r"values of 'w' .* pass the fitted data as data="):
        lmmpy.emmeans(model, "group")


def test_a_number_at_a_string_is_named():
    _, _, model = _fit("clinics")
    with pytest.raises(ValueError, match="at= values of the number 'age' must be numbers"):
        lmmpy.emmeans(model, "treat", at={"age": "old"})


def test_a_rank_deficient_fit_needs_the_data_to_check_estimability():
    _, _, model = _fit("cake_missing_cell")
    with pytest.raises(ValueError, match=r"dropped aliased coefficient\(s\) "
                       r"recipe\[T.C\]:temperature\[\^5\], so some marginal means may not be "
                       "estimable: pass the fitted data as data="):
        lmmpy.emmeans(model, "recipe")


def test_means_that_are_not_estimable_are_nan_and_said_so():
    _, data, model = _fit("cake_missing_cell")
    means = lmmpy.emmeans(model, "recipe", data=data)
    assert means["emmean"].isna().tolist() == [False, False, True]
    assert "NaN: not estimable" in repr(means)
    assert means.pairs()["p_value"].isna().tolist() == [False, True, True]


# ---- weights and contrast families (their numbers: the R references above) --------------

@pytest.mark.parametrize("weights", ["proportional", "outer", "cells", "flat"])
def test_weights_read_the_levels_off_the_model_matrix(weights):
    """Without data= each row's factor levels come from the main effects' columns of X."""
    _, data, model = _fit("trial")
    with_data = lmmpy.emmeans(model, "treatment", weights=weights, data=data).to_frame()
    without = lmmpy.emmeans(model, "treatment", weights=weights).to_frame()
    pd.testing.assert_frame_equal(with_data, without)


def test_proportional_weights_are_the_frequencies_of_the_other_variables():
    """Averaged over sex and smoker (a 0/1 covariate), each combination weighs its count."""
    _, data, model = _fit("trial")
    counts = data.groupby(["sex", "smoker"]).size()
    grid = lmmpy.emmeans(model, ["treatment", "sex", "smoker"], ddf="asymptotic").to_frame()
    placebo = grid[grid["treatment"] == "placebo"].set_index(["sex", "smoker"])["emmean"]
    expected = (placebo * counts.reindex(placebo.index)).sum() / counts.sum()
    got = lmmpy.emmeans(model, "treatment", ddf="asymptotic", weights="proportional")
    assert got.to_frame().set_index("treatment")["emmean"]["placebo"] == pytest.approx(expected)


def test_weights_without_a_main_effect_need_the_data():
    _, data, _ = _fit("trial")
    model = lmmpy.lmer("y ~ treatment + treatment:sex + (1 | center)", data)
    with pytest.raises(ValueError, match="weights other than 'equal' need each row's level of "
                                         "'sex', which the fit does not keep"):
        lmmpy.emmeans(model, "treatment", weights="proportional")
    assert len(lmmpy.emmeans(model, "treatment", weights="proportional", data=data)) == 3


def test_tukey_for_other_contrasts_becomes_sidak_and_says_so():
    _, _, model = _fit("cake")
    em = lmmpy.emmeans(model, "recipe")
    text = repr(em.contrast("eff", adjust="tukey"))
    assert 'adjust = "tukey" was changed to "sidak"' in text
    assert "P value adjustment: sidak method for 3 tests" in text
    assert repr(em.contrast()).startswith("Differences from the mean: estimated marginal means")
    pd.testing.assert_frame_equal(em.pairs(reverse=True).to_frame(),
                                  em.contrast("revpairwise").to_frame())


def test_a_custom_contrast_of_one_pair_is_the_pairwise_difference():
    _, _, model = _fit("cake")
    em = lmmpy.emmeans(model, "recipe")
    custom = em.contrast({"A - B": [1, -1, 0]}).to_frame()
    pairwise = em.pairs(adjust="none").to_frame().iloc[[0]]
    pd.testing.assert_frame_equal(custom, pairwise)


@pytest.mark.parametrize(("call", "error", "message"), [
    (lambda em: em.contrast("dunnett"), ValueError,
     "unknown contrast method 'dunnett': choose one of 'pairwise', 'revpairwise', "
     "'trt.vs.ctrl', 'eff', or give a dict"),
    (lambda em: em.contrast({"x": [1, -1]}), ValueError, "contrast 'x' has 2 coefficients for 3 "
     "means"),
    (lambda em: em.contrast({"x": [1, "a", 0]}), ValueError,
     r"contrast 'x' must be a list of finite numbers, one per mean, not \[1, 'a', 0\]"),
    (lambda em: em.contrast({}), ValueError, "method= gives no contrasts"),
    (lambda em: em.contrast("trt.vs.ctrl", ref="D"), ValueError,
     r"ref='D' is not one of the means: \['A', 'B', 'C'\]"),
    (lambda em: em.contrast("trt.vs.ctrl", ref=3), ValueError,
     "ref=3 is not a position among the 3 means"),
    (lambda em: em.contrast("eff", adjust="hsd"), ValueError, "unknown adjust 'hsd'"),
])
def test_bad_contrasts_are_named(call, error, message):
    _, _, model = _fit("cake")
    with pytest.raises(error, match=message):
        call(lmmpy.emmeans(model, "recipe"))


def test_unknown_weights_are_named():
    _, _, model = _fit("cake")
    with pytest.raises(ValueError, match="unknown weights 'prop': choose one of 'equal', "
                                         "'proportional', 'outer', 'cells', 'flat'"):
        lmmpy.emmeans(model, "recipe", weights="prop")


def test_the_size_limit_that_chose_the_df_is_said(monkeypatch):
    _, _, model = _fit("cake")  # n = 270
    monkeypatch.setattr(_emmeans, "PBKRTEST_LIMIT", 100)
    monkeypatch.setattr(_emmeans, "LMERTEST_LIMIT", 100)
    text = repr(lmmpy.emmeans(model, "recipe"))
    assert ("Note: Kenward-Roger and Satterthwaite df were not computed because the number of "
            "observations (270) exceeds 100") in text
    assert "Note:" not in repr(lmmpy.emmeans(model, "recipe", ddf="asymptotic"))


@pytest.mark.parametrize(("m", "df"), [(2, 42.0), (5, 12.5), (3, np.inf)])
def test_dunnettx_intervals_solve_emmeans_approximate_distribution(m, df):
    """emmeans' root finder stops within 5e-4 of this root, so R is not the reference here:
    the critical value is where emmeans' .pdunnx reaches the level."""
    from lmmpy.report._adjust import _dunnettx_sf, critical_values

    values, used = critical_values(0.95, np.full(m, df), "dunnettx", m + 1, m)
    assert used == "dunnettx"
    assert 1 - _dunnettx_sf(values[0], m, df) == pytest.approx(0.95, abs=1e-10)


def test_contrast_intervals_sit_before_the_tests_with_their_note():
    _, _, model = _fit("cake")
    em = lmmpy.emmeans(model, "recipe")
    table = em.pairs(conf_int=True).to_frame()
    assert list(table.columns) == ["contrast", "estimate", "std_error", "df", "lower_cl",
                                   "upper_cl", "t_ratio", "p_value"]
    assert "Conf-level adjustment: tukey method for comparing a family of 3 estimates" in repr(
        em.pairs(conf_int=True))
