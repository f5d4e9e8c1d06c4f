"""compare_pooling against independent computations.

Every expected number is rebuilt here from the data frame (dummies from
pandas, fits from ``numpy.linalg.lstsq``), not from lmmpy's design: the
complete- and no-pooling coefficients to 1e-8, the F test and the Hausman
statistic by hand, the ML log-likelihoods and the LRT against lme4's anova
(tests/data/cases/sleepstudy_lrt_slope.json) to 1e-4.
"""

from __future__ import annotations

import functools
import warnings

import numpy as np
import pandas as pd
import pytest
from reference import DATA, load_case
from scipy import stats

import lmmpy

SLEEP = "Reaction ~ Days + (Days | Subject)"
SLEEP_INTERCEPT = "Reaction ~ Days + (1 | Subject)"


@functools.cache
def data(name: str) -> pd.DataFrame:
    return lmmpy.datasets.load(name)


@functools.cache
def comparison(formula: str, name: str, reml: bool = True) -> lmmpy.PoolingComparison:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", lmmpy.HausmanWarning)
        warnings.simplefilter("ignore", lmmpy.SingularFitWarning)
        return lmmpy.compare_pooling(formula, data(name), reml=reml)


def lstsq(A: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, float, int]:
    coef, _, rank, _ = np.linalg.lstsq(A, y, rcond=None)
    residual = y - A @ coef
    return coef, float(residual @ residual), int(rank)


def dummies(column: pd.Series) -> np.ndarray:
    return pd.get_dummies(column).to_numpy(dtype=float)


def ml_loglik(rss: float, n: int) -> float:
    return -n / 2 * (1 + np.log(2 * np.pi * rss / n))


# ---- complete and no pooling = OLS ---------------------------------------------------
def test_complete_pooling_is_ols():
    d = data("sleepstudy")
    X = np.column_stack([np.ones(len(d)), d["Days"]])
    coef, rss, _ = lstsq(X, d["Reaction"].to_numpy())
    cmp = comparison(SLEEP, "sleepstudy")
    np.testing.assert_allclose(cmp.coefficients["complete"], coef, rtol=0, atol=1e-8)
    se = np.sqrt(np.diag(rss / (len(d) - 2) * np.linalg.inv(X.T @ X)))
    np.testing.assert_allclose(cmp.std_errors["complete"], se, rtol=1e-10)


def test_no_pooling_random_slopes_are_per_group_ols():
    """(Days | Subject): each subject's own intercept and slope; the table gives their mean."""
    d = data("sleepstudy")
    D = dummies(d["Subject"])
    coef, _, rank = lstsq(np.column_stack([D, D * d["Days"].to_numpy()[:, None]]),
                          d["Reaction"].to_numpy())
    assert rank == 36
    own = coef.reshape(2, 18).T
    table = comparison(SLEEP, "sleepstudy").group_estimates
    np.testing.assert_allclose(table["none"].to_numpy(), own, rtol=0, atol=1e-8)
    means = comparison(SLEEP, "sleepstudy").coefficients["none"]
    np.testing.assert_allclose(means, own.mean(axis=0), rtol=0, atol=1e-8)


def test_no_pooling_common_slope_is_the_within_estimate():
    d = data("simpson")
    D = dummies(d["g"])
    coef, _, _ = lstsq(np.column_stack([d["x"], D]), d["y"].to_numpy())
    cmp = comparison("y ~ x + (1 | g)", "simpson")
    assert cmp.coefficients.loc["x", "none"] == pytest.approx(coef[0], abs=1e-8)
    np.testing.assert_allclose(cmp.group_estimates[("none", "(Intercept)")], coef[1:],
                               rtol=0, atol=1e-8)
    assert cmp.coefficients.loc["(Intercept)", "none"] == pytest.approx(coef[1:].mean(), abs=1e-8)


def test_no_pooling_crossed_factors_are_ls_means():
    """Penicillin: dummies for plate and sample; a plate's own value averages over samples."""
    d = data("Penicillin")
    Dp, Ds = dummies(d["plate"]), dummies(d["sample"])
    A = np.column_stack([np.ones(len(d)), Dp[:, 1:], Ds[:, 1:]])
    coef, _, rank = lstsq(A, d["diameter"].to_numpy())
    assert rank == 29
    plate = np.concatenate([[0], coef[1:24]])
    sample = np.concatenate([[0], coef[24:]])
    cells = coef[0] + plate[:, None] + sample[None, :]  # plate × sample predictions
    cmp = comparison("diameter ~ 1 + (1 | plate) + (1 | sample)", "Penicillin")
    assert set(cmp.group_estimates) == {"plate", "sample"}
    np.testing.assert_allclose(cmp.group_estimates["plate"][("none", "(Intercept)")],
                               cells.mean(axis=1), rtol=0, atol=1e-8)
    np.testing.assert_allclose(cmp.group_estimates["sample"][("none", "(Intercept)")],
                               cells.mean(axis=0), rtol=0, atol=1e-8)
    assert cmp.coefficients.loc["(Intercept)", "none"] == pytest.approx(cells.mean(), abs=1e-8)


def test_group_level_predictor_is_not_estimable_without_pooling():
    d = data("sim_schools")
    D = dummies(d["school"])
    coef, _, _ = lstsq(np.column_stack([d["x"], D]), d["y"].to_numpy())
    cmp = comparison("y ~ x + z + (1 | school)", "sim_schools")
    assert cmp.coefficients.loc["x", "none"] == pytest.approx(coef[0], abs=1e-8)
    assert np.isnan(cmp.coefficients.loc["z", "none"])
    assert np.isnan(cmp.coefficients.loc["(Intercept)", "none"])
    assert np.isnan(cmp.std_errors.loc["z", "none"])
    np.testing.assert_allclose(cmp.group_estimates[("none", "(Intercept)")], coef[1:],
                               rtol=0, atol=1e-8)
    assert any("z not estimable" in note for note in cmp.notes)


def test_nested_factor_has_no_group_estimates_without_pooling():
    d = data("Pastes")
    cmp = comparison("strength ~ 1 + (1 | batch/cask)", "Pastes")
    cells = d.groupby(["batch", "cask"], observed=True)["strength"].mean()
    cask = cmp.group_estimates["cask:batch"]
    labels = [f"{c}:{b}" for b, c in cells.index]
    np.testing.assert_allclose(cask.loc[labels, ("none", "(Intercept)")], cells.to_numpy(),
                               rtol=0, atol=1e-8)
    assert cmp.group_estimates["batch"][("none", "(Intercept)")].isna().all()
    assert cmp.group_estimates["batch"][("partial", "(Intercept)")].notna().all()
    assert any("nested" in note for note in cmp.notes)


def test_weights_and_offset_enter_every_fit():
    d = pd.read_csv(DATA / "extra_datasets" / "sleepstudy_w.csv", dtype={"Subject": str})
    cmp = lmmpy.compare_pooling(SLEEP_INTERCEPT, d, weights="w", offset="o", reml=False)
    sw = np.sqrt(d["w"].to_numpy())
    y = (d["Reaction"] - d["o"]).to_numpy()
    X = np.column_stack([np.ones(len(d)), d["Days"]])
    coef, rss, _ = lstsq(X * sw[:, None], y * sw)
    np.testing.assert_allclose(cmp.coefficients["complete"], coef, rtol=0, atol=1e-8)
    expected = ml_loglik(rss, len(d)) + 0.5 * np.log(d["w"]).sum()
    assert cmp.summary_table.loc["complete", "loglik"] == pytest.approx(expected, abs=1e-8)
    within, _, _ = lstsq(np.column_stack([d["Days"], dummies(d["Subject"])]) * sw[:, None],
                         y * sw)
    assert cmp.coefficients.loc["Days", "none"] == pytest.approx(within[0], abs=1e-8)


# ---- partial pooling and shrinkage --------------------------------------------------
def test_partial_pooling_group_estimates_are_coef():
    cmp = comparison(SLEEP, "sleepstudy")
    m = lmmpy.lmer(SLEEP, data("sleepstudy"))
    np.testing.assert_allclose(cmp.group_estimates["partial"].to_numpy(),
                               m.coef["Subject"].to_numpy(), rtol=1e-10)
    np.testing.assert_allclose(cmp.coefficients["partial"], m.fixef, rtol=1e-12)
    np.testing.assert_allclose(cmp.std_errors["partial"], m.fixef_se, rtol=1e-12)


def test_shrinkage_definition():
    cmp = comparison(SLEEP, "sleepstudy")
    table, fixef = cmp.group_estimates, cmp.coefficients["partial"]
    for c in ("(Intercept)", "Days"):
        expected = 1 - (table[("partial", c)] - fixef[c]) / (table[("none", c)] - fixef[c])
        np.testing.assert_allclose(table[("shrinkage", c)], expected, rtol=1e-10)
    assert table["reliability"].isna().all().all()  # vector term: no scalar factor
    assert (table["size"] == 10).all()


def test_shrinkage_equals_one_minus_reliability_in_balanced_crossed_design():
    """Balanced, intercept only: the BLUP is λ_j (ȳ_j − μ̂), so shrinkage = 1 − λ_j."""
    cmp = comparison("diameter ~ 1 + (1 | plate) + (1 | sample)", "Penicillin")
    m = lmmpy.lmer("diameter ~ 1 + (1 | plate) + (1 | sample)", data("Penicillin"))
    variances = dict(zip(m.varcorr["grp"], m.varcorr["vcov"], strict=True))
    for factor, size in (("plate", 6), ("sample", 24)):
        table = cmp.group_estimates[factor]
        reliability = variances[factor] / (variances[factor] + m.sigma**2 / size)
        np.testing.assert_allclose(table[("reliability", "(Intercept)")], reliability, rtol=1e-10)
        np.testing.assert_allclose(table[("shrinkage", "(Intercept)")], 1 - reliability,
                                   rtol=1e-8)


def test_unidentified_group_slope_is_nan_without_pooling_and_coef_with():
    d = data("sleepstudy")
    d = d[(d["Subject"] != "308") | (d["Days"] == 0)].copy()  # subject 308: one day only
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", lmmpy.SingularFitWarning)
        warnings.simplefilter("ignore", lmmpy.ConvergenceWarning)  # the ML refit's gradient
        m = lmmpy.lmer(SLEEP, d)
        cmp = m.compare_pooling()
    table = cmp.group_estimates
    assert np.isnan(table.loc["308", ("none", "Days")])
    assert table.loc["308", ("partial", "Days")] == pytest.approx(m.coef["Subject"].loc["308",
                                                                                         "Days"])
    assert table.drop(index="308")[("none", "Days")].notna().all()
    assert np.isnan(cmp.coefficients.loc["Days", "none"])  # mean over groups not estimable


# ---- likelihoods and tests ----------------------------------------------------------
def test_summary_table_and_lrt_match_lme4_anova():
    case = load_case("sleepstudy_lrt_slope")
    rows = {row["model"]: row for row in case["table"]}
    partial = {}
    for name, formula in (("m0", SLEEP_INTERCEPT), ("m1", SLEEP)):
        table = comparison(formula, "sleepstudy").summary_table.loc["partial"]
        assert table["loglik"] == pytest.approx(rows[name]["logLik"], abs=1e-4)
        assert table["aic"] == pytest.approx(rows[name]["AIC"], abs=1e-4)
        assert table["bic"] == pytest.approx(rows[name]["BIC"], abs=1e-4)
        assert table["n_params"] == rows[name]["npar"]
        partial[name] = table["loglik"]
    assert 2 * (partial["m1"] - partial["m0"]) == pytest.approx(rows["m1"]["Chisq"], abs=1e-4)


def test_lrt_random_intercept_against_ols_by_hand():
    d = data("sleepstudy")
    _, rss, _ = lstsq(np.column_stack([np.ones(len(d)), d["Days"]]), d["Reaction"].to_numpy())
    ml = lmmpy.lmer(SLEEP_INTERCEPT, d, reml=False)
    statistic = 2 * (ml.loglik - ml_loglik(rss, len(d)))
    cmp = comparison(SLEEP_INTERCEPT, "sleepstudy")
    row = cmp.tests.loc["LRT of random effects (partial vs complete)"]
    assert row["statistic"] == pytest.approx(statistic, abs=1e-4)
    assert row["df"] == 1
    assert row["p_value"] == pytest.approx(0.5 * stats.chi2.sf(statistic, 1), rel=1e-4)
    table = cmp.summary_table
    assert table.loc["complete", "loglik"] == pytest.approx(ml_loglik(rss, len(d)), abs=1e-8)
    assert table.loc["complete", "aic"] == pytest.approx(-2 * ml_loglik(rss, len(d)) + 6, abs=1e-8)
    assert list(table["n_params"]) == [3, 20, 4]


def test_lrt_with_random_slopes_uses_the_conservative_chi2():
    """Two variances and a covariance removed at once: no simple mixture, the rule ranova
    uses (boundary_mixture) gives χ²(3)."""
    row = comparison(SLEEP, "sleepstudy").tests.loc["LRT of random effects (partial vs complete)"]
    assert row["df"] == 3
    assert row["p_value"] == pytest.approx(stats.chi2.sf(row["statistic"], 3), rel=1e-10)


def test_f_test_by_hand():
    d = data("sleepstudy")
    y = d["Reaction"].to_numpy()
    D = dummies(d["Subject"])
    _, rss_c, r_c = lstsq(np.column_stack([np.ones(len(d)), d["Days"]]), y)
    _, rss_n, r_n = lstsq(np.column_stack([D, D * d["Days"].to_numpy()[:, None]]), y)
    df1, df2 = r_n - r_c, len(d) - r_n
    F = ((rss_c - rss_n) / df1) / (rss_n / df2)
    row = comparison(SLEEP, "sleepstudy").tests.loc["F test of group dummies (none vs complete)"]
    assert row["statistic"] == pytest.approx(F, rel=1e-10)
    assert row["df"] == df1 == 34
    assert row["p_value"] == pytest.approx(stats.f.sf(F, df1, df2), rel=1e-6)
    none = comparison(SLEEP, "sleepstudy").summary_table.loc["none"]
    assert none["loglik"] == pytest.approx(ml_loglik(rss_n, len(d)), abs=1e-8)


def hausman_parts(formula, d, within_columns, group):
    """(b_FE − b_RE, V_FE − V_RE) from lstsq on [x, group dummies] and lmer (REML)."""
    y = d["y"].to_numpy()
    A = np.column_stack([d[within_columns].to_numpy(dtype=float), dummies(d[group])])
    coef, rss, rank = lstsq(A, y)
    k = len(within_columns)
    V_fe = (rss / (len(y) - rank) * np.linalg.inv(A.T @ A))[:k, :k]
    m = lmmpy.lmer(formula, d)
    names = [name for name in m.fixef.index if name != "(Intercept)"]
    return coef[:k] - m.fixef[names].to_numpy(), V_fe - m.vcov.loc[names, names].to_numpy()


def test_hausman_by_hand_one_coefficient():
    diff, V = hausman_parts("y ~ x + (1 | g)", data("simpson"), ["x"], "g")
    H = float(diff @ np.linalg.solve(V, diff))
    row = comparison("y ~ x + (1 | g)", "simpson").tests.loc["Hausman (fixed vs random effects)"]
    assert row["statistic"] == pytest.approx(H, rel=1e-8)
    assert row["df"] == 1
    assert row["p_value"] == pytest.approx(stats.chi2.sf(H, 1), rel=1e-8)


def test_hausman_by_hand_two_coefficients():
    d = data("simpson").assign(x2=lambda f: f["x"] ** 2)
    formula = "y ~ x + x2 + (1 | g)"
    diff, V = hausman_parts(formula, d, ["x", "x2"], "g")
    assert np.all(np.linalg.eigvalsh(V) > 0)
    H = float(diff @ np.linalg.solve(V, diff))
    with warnings.catch_warnings():
        warnings.simplefilter("error", lmmpy.HausmanWarning)
        row = lmmpy.compare_pooling(formula, d).tests.loc["Hausman (fixed vs random effects)"]
    assert row["statistic"] == pytest.approx(H, rel=1e-8)
    assert row["df"] == 2
    assert row["p_value"] == pytest.approx(stats.chi2.sf(H, 2), rel=1e-8)


def test_hausman_not_positive_definite_uses_the_positive_part():
    d = data("simpson").assign(x2=lambda f: np.cos(3 * f["x"]))
    formula = "y ~ x + x2 + (1 | g)"
    diff, V = hausman_parts(formula, d, ["x", "x2"], "g")
    values, vectors = np.linalg.eigh(V)
    assert values[0] < 0 < values[1]
    H = float((vectors[:, 1] @ diff) ** 2 / values[1])
    with pytest.warns(lmmpy.HausmanWarning, match="x, x2: V_FE − V_RE is not positive definite"):
        cmp = lmmpy.compare_pooling(formula, d)
    row = cmp.tests.loc["Hausman (fixed vs random effects)"]
    assert row["statistic"] == pytest.approx(H, rel=1e-6)
    assert row["df"] == 1
    assert any("df = its rank (1)" in note for note in cmp.notes)


def test_hausman_leaves_out_random_slopes():
    row = comparison(SLEEP, "sleepstudy").tests.loc["Hausman (fixed vs random effects)"]
    assert row["df"] == 0 and np.isnan(row["statistic"])
    assert any("Days left out" in note for note in comparison(SLEEP, "sleepstudy").notes)


def test_hausman_warns_when_difference_is_not_positive_definite():
    """Balanced Days: b_RE = b_FE and V_RE equals V_FE up to rounding."""
    with pytest.warns(lmmpy.HausmanWarning, match="not positive definite"):
        cmp = lmmpy.compare_pooling(SLEEP_INTERCEPT, data("sleepstudy"))
    assert cmp.tests.loc["Hausman (fixed vs random effects)", "df"] == 0
    assert "nothing to test" in cmp.verdict


def test_ml_comparison_reuses_the_model():
    cmp = comparison(SLEEP, "sleepstudy", reml=False)
    m = lmmpy.lmer(SLEEP, data("sleepstudy"), reml=False)
    assert cmp.summary_table.loc["partial", "loglik"] == pytest.approx(m.loglik, abs=1e-10)
    np.testing.assert_allclose(cmp.coefficients["partial"], m.fixef, rtol=1e-12)


@pytest.mark.filterwarnings("ignore::lmmpy.HausmanWarning")
def test_compare_pooling_progress_bar(capsys):
    data = lmmpy.datasets.load("sleepstudy")
    lmmpy.compare_pooling("Reaction ~ Days + (1 | Subject)", data, progress=True)
    assert "compare_pooling" in capsys.readouterr().err
    lmmpy.lmer("Reaction ~ Days + (1 | Subject)", data).compare_pooling(progress=False)
    assert capsys.readouterr().err == ""
