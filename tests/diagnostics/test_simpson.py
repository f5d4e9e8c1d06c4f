"""The bundled ``simpson`` data: within slope −1, between slope +2, contextual +3 (true values,
tools/make_simpson_data.py).  Complete pooling gets the within effect's sign wrong; the
within–between mixed model recovers both."""

from __future__ import annotations

import functools

import pandas as pd
import pytest

import lmmpy

WITHIN, BETWEEN = -1.0, 2.0


@functools.cache
def data() -> pd.DataFrame:
    return lmmpy.within_between(lmmpy.datasets.load("simpson"), "x", "g")


def test_data_set_shape():
    d = lmmpy.datasets.load("simpson")
    assert d.shape == (603, 3)
    assert d["g"].nunique() == 30
    assert "simpson" in lmmpy.datasets.list_datasets()


def test_complete_pooling_gets_the_sign_of_the_within_effect_wrong():
    cmp = lmmpy.compare_pooling("y ~ x + (1 | g)", data())
    estimate, se = cmp.coefficients.loc["x"], cmp.std_errors.loc["x"]
    assert estimate["complete"] - 3 * se["complete"] > 0  # wrong sign, decisively
    assert estimate["none"] + 3 * se["none"] < 0
    assert abs(estimate["none"] - WITHIN) < 3 * se["none"]


def test_within_between_model_recovers_both_signs():
    m = lmmpy.lmer("y ~ x_within + x_between + (1 | g)", data())
    for name, truth in (("x_within", WITHIN), ("x_between", BETWEEN)):
        estimate, se = m.fixef[name], m.fixef_se[name]
        assert estimate == pytest.approx(truth, abs=3 * se)
        assert abs(estimate) > 3 * se  # sign determined
    assert m.fixef["x_within"] < 0 < m.fixef["x_between"]


def test_within_coefficient_is_the_no_pooling_estimate():
    """Mundlak: with x_between in the model, x_within's GLS coefficient is the within estimator."""
    m = lmmpy.lmer("y ~ x_within + x_between + (1 | g)", data())
    cmp = lmmpy.compare_pooling("y ~ x + (1 | g)", data())
    assert m.fixef["x_within"] == pytest.approx(cmp.coefficients.loc["x", "none"], abs=1e-10)
