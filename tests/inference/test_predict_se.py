"""Prediction standard errors against a dense n×n computation (Henderson's prediction error).

The prediction x'β̂ + z'b̂ is linear in y, a'y with
a' = x'K + z'GZ'V⁻¹(I − XK), K = (X'V⁻¹X)⁻¹X'V⁻¹, V = ZGZ' + σ²W⁻¹, and a'X = x'.
Its error against x'β + z'b is (Z'a − z)'b + a'e, so

    Var = (Z'a − z)' G (Z'a − z) + σ² a'W⁻¹a,

computed here with dense n×n matrices from the fitted θ̂, σ̂ — nothing shared
with the sparse code but the estimates.
"""

from __future__ import annotations

import functools

import numpy as np
import pandas as pd
import pytest
import scipy.linalg as la
from scipy.stats import norm

import lmmpy

FORMULA = "Reaction ~ Days + (Days | Subject)"


@functools.cache
def sleepstudy(weighted: bool = False) -> lmmpy.LinearMixedModel:
    data = lmmpy.datasets.load("sleepstudy")
    weights = np.random.default_rng(3).uniform(0.5, 2.0, len(data)) if weighted else None
    return lmmpy.lmer(FORMULA, data, weights=weights)


def dense_pieces(m: lmmpy.LinearMixedModel):
    data = lmmpy.datasets.load("sleepstudy")
    subjects = m.design.terms[0].levels
    code = subjects.get_indexer(data["Subject"].astype(str))
    n, q = len(data), 2 * len(subjects)
    Z = np.zeros((n, q))
    Z[np.arange(n), 2 * code] = 1.0
    Z[np.arange(n), 2 * code + 1] = data["Days"].to_numpy()
    X = np.column_stack([np.ones(n), data["Days"].to_numpy()])
    Sigma = m.covariance_matrices()["Subject"].to_numpy()
    G = la.block_diag(*[Sigma] * len(subjects))
    w = np.ones(n) if m.design.weights is None else m.design.weights
    V = Z @ G @ Z.T + m.sigma**2 * np.diag(1 / w)
    return X, Z, G, V, w, Sigma, subjects


def dense_variance(m, x: np.ndarray, z: np.ndarray | None, new_level: bool) -> float:
    X, Z, G, V, w, Sigma, _ = dense_pieces(m)
    Vinv = np.linalg.inv(V)
    K = np.linalg.solve(X.T @ Vinv @ X, X.T @ Vinv)
    if new_level:
        a = x @ K
        return float(a @ V @ a + z @ Sigma @ z)
    a = x @ K + z @ G @ Z.T @ Vinv @ (np.eye(len(X)) - X @ K)
    assert np.allclose(a @ X, x)
    d = Z.T @ a - z
    return float(d @ G @ d + m.sigma**2 * np.sum(a**2 / w))


def z_row(subjects, subject: str, days: float) -> np.ndarray:
    z = np.zeros(2 * len(subjects))
    s = subjects.get_loc(subject)
    z[2 * s], z[2 * s + 1] = 1.0, days
    return z


NEW = pd.DataFrame({"Days": [0.0, 4.5, 9.0, 3.0], "Subject": ["308", "309", "372", "NEW"]})


@pytest.mark.parametrize("weighted", [False, True])
def test_se_fit_matches_dense_prediction_error(weighted):
    m = sleepstudy(weighted)
    subjects = m.design.terms[0].levels
    table = m.predict(NEW, se_fit=True, allow_new_levels=True)
    for i, row in NEW.iterrows():
        x = np.array([1.0, row["Days"]])
        if row["Subject"] == "NEW":
            expected = dense_variance(m, x, x, new_level=True)
        else:
            expected = dense_variance(m, x, z_row(subjects, row["Subject"], row["Days"]), False)
        assert table.loc[i, "se_fit"] ** 2 == pytest.approx(expected, rel=1e-8)


def test_vcov_is_the_dense_generalized_least_squares_covariance():
    m = sleepstudy()
    X, _, _, V, *_ = dense_pieces(m)
    expected = np.linalg.inv(X.T @ np.linalg.solve(V, X))
    np.testing.assert_allclose(m.vcov.to_numpy(), expected, rtol=1e-8)


def test_population_prediction_uses_vcov_only():
    m = sleepstudy()
    table = m.predict(NEW, re_form=False, se_fit=True)
    X = np.column_stack([np.ones(len(NEW)), NEW["Days"]])
    expected = np.einsum("ij,jk,ik->i", X, m.vcov.to_numpy(), X)
    np.testing.assert_allclose(table["se_fit"] ** 2, expected, rtol=1e-10)


def test_joint_variance_is_below_the_sum_of_marginals_for_observed_levels():
    """β̂ − β and b̂ − b are negatively correlated: the joint variance is the smaller."""
    m = sleepstudy()
    row = NEW.iloc[[1]]
    se = m.predict(row, se_fit=True)["se_fit"].iloc[0]
    x = np.array([1.0, 4.5])
    condsd = m.ranef_condsd["Subject"].loc["309"].to_numpy()
    assert se**2 < x @ m.vcov.to_numpy() @ x + np.sum((condsd * x) ** 2)


def test_intervals_and_fit():
    m = sleepstudy()
    z = norm.ppf(0.975)
    confidence = m.predict(NEW, interval="confidence", allow_new_levels=True)
    prediction = m.predict(NEW, interval="prediction", allow_new_levels=True)
    assert list(confidence.columns) == ["fit", "se_fit", "lower", "upper"]
    np.testing.assert_allclose(confidence["fit"], m.predict(NEW, allow_new_levels=True))
    np.testing.assert_allclose(confidence["upper"] - confidence["fit"], z * confidence["se_fit"])
    spread = np.sqrt(prediction["se_fit"] ** 2 + m.sigma**2)
    np.testing.assert_allclose(prediction["fit"] - prediction["lower"], z * spread)
    narrow = m.predict(NEW, interval="confidence", level=0.5, allow_new_levels=True)
    assert (narrow["upper"] - narrow["lower"] < confidence["upper"] - confidence["lower"]).all()


def test_without_newdata_the_fitted_rows():
    m = sleepstudy()
    data = lmmpy.datasets.load("sleepstudy")
    on_data = m.predict(data, se_fit=True)
    default = m.predict(se_fit=True)
    np.testing.assert_allclose(default["fit"], m.fitted)
    np.testing.assert_allclose(default["se_fit"], on_data["se_fit"], rtol=1e-12)


def test_plain_predict_still_a_series():
    assert isinstance(sleepstudy().predict(NEW.iloc[:3]), pd.Series)


def test_bad_input():
    m = sleepstudy()
    with pytest.raises(ValueError, match="interval must be None, 'confidence' or 'prediction'"):
        m.predict(NEW.iloc[:1], interval="credible")
    with pytest.raises(ValueError, match="interval='prediction' needs the random effects"):
        m.predict(NEW.iloc[:1], re_form=False, interval="prediction")
    with pytest.raises(ValueError, match="level must be between 0 and 1"):
        m.predict(NEW.iloc[:1], interval="confidence", level=95)
    with pytest.raises(TypeError, match="level must be a number"):
        m.predict(NEW.iloc[:1], se_fit=True, level="high")
    with pytest.raises(ValueError, match="not seen in the fit"):
        m.predict(NEW, se_fit=True)
