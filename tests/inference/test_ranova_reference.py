"""``ranova`` against lmerTest 3.1.3's ``ranova`` (tests/data/ranova/ranova.json).

Made by tools/reference/make_ranova.R: sleepstudy ``(Days | Subject)`` (REML,
ML, ``reduce.terms = FALSE``), ``(Days || Subject)``, ``(0 + Days | Subject)``,
a simulated Dog/Side data set (30 dogs × 3 sides × 4 replicates) with
``(0 + Side | Dog)``, ``(Side | Dog)`` and a two-term model, Penicillin's
crossed and Pastes' nested terms.  LRT, Df and p-values within 1e-4.
"""

from __future__ import annotations

import functools
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import scipy.stats as st

import lmmpy
from lmmpy.inference import boundary_mixture

DATA = Path(__file__).parents[1] / "data" / "ranova"
CASES = json.loads((DATA / "ranova.json").read_text())["cases"]


@functools.cache
def dataset(name: str) -> pd.DataFrame:
    if name == "dogs":
        return pd.read_csv(DATA / "dogs.csv")
    return lmmpy.datasets.load(name)


def _label(case: dict) -> str:
    reduce = "" if case["reduce_terms"] else ", reduce.terms=FALSE"
    return f"{case['data']}: {case['formula']} ({'REML' if case['reml'] else 'ML'}{reduce})"


def _row_key(name: str) -> str:
    """lmerTest writes the left-hand side as given (``Days | Subject``), lmmpy as fitted."""
    return name.replace("1 + ", "")


@pytest.mark.filterwarnings("ignore::lmmpy.SingularFitWarning")
@pytest.mark.parametrize("case", CASES, ids=_label)
def test_ranova_matches_lmertest(case):
    model = lmmpy.lmer(case["formula"], dataset(case["data"]), reml=case["reml"])
    table = model.ranova(reduce_terms=case["reduce_terms"])
    ours = {_row_key(name): row for name, row in table.iterrows()}
    assert sorted(ours) == sorted(_row_key(name) for name in case["rows"])
    for i, name in enumerate(case["rows"]):
        row = ours[_row_key(name)]
        assert row["npar"] == case["npar"][i]
        assert row["loglik"] == pytest.approx(case["logLik"][i], abs=1e-4)
        if i == 0:
            continue
        assert row["lrt"] == pytest.approx(case["LRT"][i], abs=1e-4)
        assert row["df"] == case["Df"][i]
        if case["p_value"][i] is None:
            assert np.isnan(row["p_value"])
        else:
            assert row["p_value"] == pytest.approx(case["p_value"][i], rel=1e-4, abs=1e-12)


def test_zero_slope_with_a_factor_is_reduced_to_an_intercept():
    """Issue 11 item 6: (0 + Side | Dog) is reduced to (1 | Dog), not removed; the
    reduction is nested (the dummies sum to one) and the χ² is the conservative reference."""
    model = lmmpy.lmer("y ~ Side + (0 + Side | Dog)", dataset("dogs"))
    intercept = lmmpy.lmer("y ~ Side + (1 | Dog)", dataset("dogs"))
    row = model.ranova().loc["Side in (0 + Side | Dog)"]
    assert row["loglik"] == pytest.approx(intercept.loglik, abs=1e-6)
    assert row["df"] == 5 and row["npar"] == intercept.n_params
    assert row["p_value_mixture"] == row["p_value"]
    assert row["mixture"] == "chi2(5), conservative (no simple mixture)"


def test_zero_numeric_slope_is_not_nested_in_its_intercept_reduction():
    model = lmmpy.lmer("Reaction ~ Days + (0 + Days | Subject)", dataset("sleepstudy"))
    row = model.ranova().loc["Days in (0 + Days | Subject)"]
    assert row["df"] == 0 and np.isnan(row["p_value"]) and np.isnan(row["p_value_mixture"])
    assert row["mixture"] == "not applicable: models not nested"


def test_reduce_terms_false_removes_the_whole_term():
    model = lmmpy.lmer("Reaction ~ Days + (Days | Subject)", dataset("sleepstudy"))
    row = lmmpy.test_random_effect(model, "(1 + Days | Subject)", reduce_terms=False).iloc[1]
    assert row["df"] == 3
    assert row["p_value_mixture"] == pytest.approx(st.chi2.sf(row["lrt"], 3), rel=1e-12)


@pytest.mark.parametrize("bad", ["no", 1, None])
def test_reduce_terms_must_be_a_bool(bad):
    model = lmmpy.lmer("Reaction ~ Days + (1 | Subject)", dataset("sleepstudy"))
    with pytest.raises(TypeError, match=f"reduce_terms must be True or False, not {bad!r}"):
        model.ranova(reduce_terms=bad)


# ---- the boundary rule ----------------------------------------------------------------


@pytest.mark.parametrize("statistic", [0.0, 0.5, 3.84, 12.0])
@pytest.mark.parametrize("df", [1, 2, 4])
def test_one_variance_with_its_covariances_is_the_50_50_mixture(statistic, df):
    """Self & Liang 1987 (df = 1), Stram & Lee 1994 (df = k: one variance, k − 1 covariances)."""
    mixture = boundary_mixture(df, single_variance=True)
    lower = float(statistic <= 0) if df == 1 else st.chi2.sf(statistic, df - 1)
    assert mixture.p_value(statistic) == pytest.approx(0.5 * lower + 0.5 * st.chi2.sf(statistic, df))
    assert mixture.label == f"0.5 chi2({df - 1}) + 0.5 chi2({df})"


@pytest.mark.parametrize("df", [2, 3, 6])
def test_several_variances_use_the_conservative_chi2(df):
    mixture = boundary_mixture(df, single_variance=False)
    assert mixture.p_value(5.0) == pytest.approx(st.chi2.sf(5.0, df))
    assert "conservative" in mixture.label


def test_a_statistic_rounded_below_zero_has_p_one_and_a_non_finite_one_nan():
    assert boundary_mixture(3, single_variance=True).p_value(-1e-9) == pytest.approx(1.0)
    assert np.isnan(boundary_mixture(1, single_variance=True).p_value(-np.inf))


@pytest.mark.parametrize(("df", "nested"), [(0, True), (2, False), (-1, False)])
def test_no_reference_distribution_gives_nan(df, nested):
    mixture = boundary_mixture(df, single_variance=True, nested=nested)
    assert np.isnan(mixture.p_value(3.0)) and mixture.label.startswith("not applicable")
