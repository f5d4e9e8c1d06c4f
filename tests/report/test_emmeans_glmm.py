"""emmeans() of GLMMs against R's emmeans on glmer fits (tests/data/emmeans_glmm, made by
tools/reference/make_emmeans_glmm.R): link and response scales, pairwise, treatment-vs-control
and effect contrasts (ratios for log and logit links), binomial logit and probit, Poisson."""

import functools
import json
import pathlib

import numpy as np
import pandas as pd
import pytest

import lmmpy

DATA = pathlib.Path(__file__).parents[1] / "data" / "emmeans_glmm"
CASES = {path.stem: json.loads(path.read_text()) for path in sorted(DATA.glob("*.json"))}
QUERIES = [(name, i) for name, case in CASES.items() for i in range(len(case["queries"]))]
R_COLUMNS = {"SE": "std_error", "z.ratio": "t_ratio", "p.value": "p_value",
             "asymp.LCL": "lower_cl", "asymp.UCL": "upper_cl", "odds.ratio": "odds_ratio"}
LABELS = ("contrast", "period", "arm", "visit")


@functools.cache
def fit(name: str):
    case = CASES[name]
    data = (lmmpy.datasets.load(case["dataset"]) if case.get("dataset")
            else pd.read_csv(DATA / case["csv"]))
    return lmmpy.glmer(case["formula"], data, family=case["family"], link=case["link"])


@pytest.mark.parametrize("name", CASES)
def test_fit_is_at_the_references_optimum(name):
    assert fit(name).loglik == pytest.approx(CASES[name]["logLik"], abs=1e-6)


@pytest.mark.parametrize(("name", "index"), QUERIES)
def test_matches_r_emmeans(name, index):
    query = CASES[name]["queries"][index]
    means = lmmpy.emmeans(fit(name), query["specs"], by=query.get("by"), type=query["type"])
    result = means.contrast(query["method"], query.get("adjust"),
                            conf_int=bool(query.get("infer"))) if query.get("method") else means
    got = result.to_frame()
    expected = pd.DataFrame(query["rows"]).rename(columns=R_COLUMNS)
    assert list(got.columns) == list(expected.columns), query["id"]
    for column in expected.columns:
        if column in LABELS:
            assert got[column].astype(str).tolist() == expected[column].astype(str).tolist()
        elif column == "df":  # R's Inf, written null
            assert np.isinf(got[column]).all() and expected[column].isna().all()
        else:
            np.testing.assert_allclose(got[column].to_numpy(float),
                                       expected[column].to_numpy(float), rtol=1e-4,
                                       err_msg=f"{query['id']}: {column}")


def test_heading_and_notes():
    means = lmmpy.emmeans(fit("cbpp"), "period", type="response")
    text = repr(means)
    assert text.startswith("Estimated marginal means of cbind(incidence, size - incidence)")
    assert "Intervals are back-transformed from the logit scale" in text
    assert "Tests are performed on the log odds ratio scale" in repr(means.pairs())
    assert "Degrees-of-freedom method: asymptotic" in text


def test_bad_input():
    with pytest.raises(ValueError, match="ddf='kenward-roger' is for linear mixed models: a "
                                         r"GLMM's tests are asymptotic \(z\)"):
        lmmpy.emmeans(fit("cbpp"), "period", ddf="kenward-roger")
    with pytest.raises(ValueError, match="unknown type 'prob': choose 'link' or 'response'"):
        lmmpy.emmeans(fit("cbpp"), "period", type="prob")
