"""Unit tests of the pieces: OLS with rank deficiency, Hausman's inverse."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

import lmmpy
from lmmpy.diagnostics._hausman import hausman_test
from lmmpy.diagnostics._ols import ols


def test_ols_rank_deficient_fit_and_estimability():
    rng = np.random.default_rng(3)
    x = rng.normal(size=50)
    A = np.column_stack([np.ones(50), x, 2 * np.ones(50)])  # third column aliased
    y = 1 + 2 * x + rng.normal(size=50)
    fit = ols(A, y)
    reference, rss, _, _ = np.linalg.lstsq(A[:, :2], y, rcond=None)
    assert fit.rank == 2 and fit.n_params == 3
    assert fit.coef[1] == pytest.approx(reference[1], abs=1e-10)
    assert fit.coef[0] + 2 * fit.coef[2] == pytest.approx(reference[0], abs=1e-10)
    assert fit.rss == pytest.approx(rss[0], rel=1e-10)
    assert list(fit.estimable(np.eye(3))) == [False, True, False]
    assert fit.estimable(np.array([[1.0, 0.0, 2.0]]))[0]
    np.testing.assert_allclose(fit.project(A @ [1.0, 3.0, 0.0])[1], 3.0)


def test_ols_weighted_loglik():
    A = np.column_stack([np.ones(4), [0.0, 1.0, 2.0, 3.0]])
    y, w = np.array([1.0, 3.0, 5.0, 7.5]), np.array([1.0, 2.0, 1.0, 0.5])
    fit = ols(A, y, w)
    coef, rss, _, _ = np.linalg.lstsq(A * np.sqrt(w)[:, None], y * np.sqrt(w), rcond=None)
    np.testing.assert_allclose(fit.coef, coef, atol=1e-12)
    expected = -2 * (1 + np.log(2 * np.pi * rss[0] / 4)) + 0.5 * np.log(w).sum()
    assert fit.loglik == pytest.approx(expected)
    assert fit.aic == pytest.approx(-2 * expected + 6)
    assert fit.bic == pytest.approx(-2 * expected + 3 * np.log(4))


def test_hausman_positive_definite():
    d = np.array([1.0, -2.0])
    V_fe = np.array([[2.0, 0.3], [0.3, 1.0]])
    V_re = np.array([[1.0, 0.1], [0.1, 0.5]])
    test = hausman_test(d, V_fe, np.zeros(2), V_re)
    assert test.statistic == pytest.approx(d @ np.linalg.solve(V_fe - V_re, d))
    assert test.df == 2 and test.positive_definite
    assert test.p_value == pytest.approx(stats.chi2.sf(test.statistic, 2))


def test_hausman_semidefinite_difference_uses_the_generalised_inverse():
    V_re = np.array([[1.0, 0.0], [0.0, 1.0]])
    V_fe = V_re + np.array([[1.0, 1.0], [1.0, 1.0]])  # difference of rank 1
    d = np.array([1.0, 3.0])
    with pytest.warns(lmmpy.HausmanWarning, match="for a, b: V_FE − V_RE is not positive"):
        test = hausman_test(d, V_fe, np.zeros(2), V_re, ["a", "b"])
    assert test.df == 1 and not test.positive_definite
    assert test.statistic == pytest.approx(d @ np.linalg.pinv(V_fe - V_re) @ d)


def test_hausman_nothing_to_compare():
    test = hausman_test(np.zeros(0), np.zeros((0, 0)), np.zeros(0), np.zeros((0, 0)))
    assert test.df == 0 and np.isnan(test.statistic)
