"""tidy() and glance() against broom.mixed (tests/data/tidy, made by tools/reference/make_tidy.R)."""

import json
import pathlib

import numpy as np
import pandas as pd
import pytest

import lmmpy

DATA = pathlib.Path(__file__).parents[1] / "data" / "tidy"
CASES = sorted(p.stem for p in DATA.glob("*.json"))
R_COLUMNS = {"std.error": "std_error", "p.value": "p_value", "conf.low": "conf_low",
             "conf.high": "conf_high"}


def _case(name):
    case = json.loads((DATA / f"{name}.json").read_text())
    data = lmmpy.datasets.load(case["dataset"])
    model = lmmpy.lmer(case["formula"], data, reml=case["REML"])
    return case, model


def _r_table(rows):
    table = pd.DataFrame(rows).rename(columns=R_COLUMNS)
    table["term"] = table["term"].str.replace("^", " ** ", regex=False)
    return table.replace({None: np.nan})


def _same_optimum(case, model) -> bool:
    """Whether we reached lme4's optimum; where not, prove ours is better (then the numbers
    cannot agree and only the table's layout is compared)."""
    theirs = case["glance"]["logLik"]
    if model.loglik > theirs + 1e-6:
        return False
    assert model.loglik == pytest.approx(theirs, abs=1e-6)
    return True


@pytest.mark.parametrize("name", CASES)
def test_tidy_matches_broom_mixed(name):
    case, model = _case(name)
    expected = _r_table(case["tidy"])
    got = model.tidy(conf_int=True, conf_method=case["conf_method"])
    assert list(got.columns) == ["effect", "group", "term", "estimate", "std_error",
                                 "statistic", "df", "p_value", "conf_low", "conf_high"]
    assert got["effect"].tolist() == expected["effect"].tolist()
    assert got["term"].tolist() == expected["term"].tolist()
    assert got["group"].fillna("").tolist() == expected["group"].fillna("").tolist()
    if not _same_optimum(case, model):
        return
    for column in ["estimate", "std_error", "statistic", "p_value", "conf_low", "conf_high"]:
        if column not in expected:
            continue
        np.testing.assert_allclose(got[column].to_numpy(dtype=float),
                                   expected[column].to_numpy(dtype=float),
                                   rtol=2e-4, atol=1e-8, equal_nan=True, err_msg=column)
    if "df" not in expected:
        return
    # lmerTest's Satterthwaite df come from a numerical Hessian: 1e-3 as elsewhere
    np.testing.assert_allclose(got["df"].to_numpy(dtype=float),
                               expected["df"].to_numpy(dtype=float), rtol=1e-3,
                               equal_nan=True)


@pytest.mark.parametrize("name", CASES)
def test_ran_vals_match_broom_mixed(name):
    case, model = _case(name)
    expected = _r_table(case["ran_vals"])
    got = model.tidy("ran_vals").head(len(expected))
    assert got["level"].tolist() == expected["level"].astype(str).tolist()
    assert got["term"].tolist() == expected["term"].tolist()
    if not _same_optimum(case, model):
        return
    np.testing.assert_allclose(got["estimate"], expected["estimate"], rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(got["std_error"], expected["std_error"], rtol=1e-4)


@pytest.mark.parametrize("name", CASES)
def test_glance_matches_broom_mixed(name):
    case, model = _case(name)
    expected = case["glance"]
    row = model.glance().iloc[0]
    assert row["nobs"] == expected["nobs"]
    assert row["df_resid"] == expected["df.residual"]
    if not _same_optimum(case, model):
        return
    for ours, theirs in [("sigma", "sigma"), ("loglik", "logLik"), ("aic", "AIC"),
                         ("bic", "BIC")]:
        assert row[ours] == pytest.approx(expected[theirs], rel=1e-6), ours
    if case["REML"]:
        assert row["reml_criterion"] == pytest.approx(expected["REMLcrit"], rel=1e-6)
    else:
        assert np.isnan(row["reml_criterion"])
        assert row["deviance"] == pytest.approx(expected["deviance"], rel=1e-6)


def test_tidy_effects_in_the_order_asked():
    model = lmmpy.lmer("Reaction ~ Days + (1 | Subject)", lmmpy.datasets.load("sleepstudy"))
    table = model.tidy(("ran_pars", "fixed"))
    assert table["effect"].tolist() == ["ran_pars", "ran_pars", "fixed", "fixed"]
    assert "level" not in table.columns
    assert "level" in model.tidy(("fixed", "ran_vals")).columns


def test_tidy_asymptotic_uses_z():
    model = lmmpy.lmer("Reaction ~ Days + (1 | Subject)", lmmpy.datasets.load("sleepstudy"))
    row = model.tidy("fixed", conf_int=True, ddf="asymptotic").iloc[1]
    assert np.isinf(row["df"])
    assert row["conf_high"] - row["estimate"] == pytest.approx(1.959964 * row["std_error"],
                                                               rel=1e-6)


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"effects": "random"}, "effects must be among"),
    ({"effects": ()}, "effects must be among"),
    ({"conf_method": "exact"}, "conf_method must be one of"),
])
def test_tidy_bad_arguments(kwargs, message):
    model = lmmpy.lmer("Reaction ~ Days + (1 | Subject)", lmmpy.datasets.load("sleepstudy"))
    with pytest.raises(ValueError, match=message):
        model.tidy(**kwargs)
