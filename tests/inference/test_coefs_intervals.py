"""The interval columns of ``coefs()``: Wald intervals with the tests' df, as lmerTest's
``contest(m, L, confint = TRUE, level = ...)`` (Satterthwaite; Kenward-Roger's adjusted SE
and df from pbkrtest).

References: tests/data/coefs/*.json, made by tools/reference/make_coefs_ci.R.
"""

from __future__ import annotations

import functools
import json
from pathlib import Path

import numpy as np
import pytest
import scipy.stats as st
from reference import lme4_names

import lmmpy

DATA = Path(__file__).parents[1] / "data" / "coefs"
CASES = {path.stem: json.loads(path.read_text()) for path in sorted(DATA.glob("*.json"))}
QUERIES = [(name, i) for name, case in CASES.items() for i in range(len(case["queries"]))]


@functools.cache
def fit(name: str) -> lmmpy.LinearMixedModel:
    case = CASES[name]
    return lmmpy.lmer(case["formula"], lmmpy.datasets.load(case["dataset"]), reml=case["REML"])


@pytest.mark.parametrize(("name", "query"), QUERIES)
def test_intervals_match_lmertest(name, query):
    q = CASES[name]["queries"][query]
    table = fit(name).coefs(q["ddf"], level=q["level"])
    assert lme4_names(table.index) == [row["term"] for row in q["rows"]]
    for ours, theirs in [("estimate", "Estimate"), ("std_error", "Std. Error"),
                         ("df", "df"), ("conf_low", "lower"), ("conf_high", "upper")]:
        expected = np.array([row[theirs] for row in q["rows"]])
        assert np.allclose(table[ours], expected, rtol=1e-4, atol=1e-6), ours
    assert table.attrs["level"] == q["level"]


def test_interval_is_the_t_quantile_times_the_standard_error():
    table = fit("sleepstudy").coefs("residual", level=0.8)
    half = (table["conf_high"] - table["conf_low"]) / 2
    quantile = half / table["std_error"]
    assert np.allclose(quantile, st.t.ppf(0.9, 178))
    assert np.allclose((table["conf_high"] + table["conf_low"]) / 2, table["estimate"])


def test_asymptotic_intervals_use_the_normal_quantile():
    table = fit("sleepstudy").coefs("asymptotic")
    half = (table["conf_high"] - table["conf_low"]) / 2
    assert np.allclose(half / table["std_error"], 1.959963984540054)


def test_level_none_leaves_the_intervals_out():
    table = fit("sleepstudy").coefs(level=None)
    assert list(table.columns) == ["estimate", "std_error", "df", "t_value", "p_value"]
    assert "level" not in table.attrs


def test_tidy_and_coefs_give_the_same_wald_intervals():
    m = fit("cake")
    tidy = m.tidy("fixed", conf_int=True, conf_level=0.9, ddf="kenward-roger")
    coefs = m.coefs("kenward-roger", level=0.9)
    assert np.allclose(tidy["conf_low"], coefs["conf_low"])
    assert np.allclose(tidy["conf_high"], coefs["conf_high"])


@pytest.mark.parametrize(("level", "error", "message"), [
    (95, ValueError, "level must be between 0 and 1 \\(exclusive\\), not 95"),
    (0.0, ValueError, "level must be between 0 and 1 \\(exclusive\\), not 0.0"),
    ("0.95", TypeError, "level must be a number between 0 and 1, not '0.95'"),
    (True, TypeError, "level must be a number between 0 and 1, not True"),
])
def test_bad_level(level, error, message):
    with pytest.raises(error, match=message):
        fit("sleepstudy").coefs(level=level)
    with pytest.raises(error, match=message):
        fit("sleepstudy").tidy(conf_int=True, conf_level=level)
