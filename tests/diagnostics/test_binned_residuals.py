"""Binned residuals against R's performance 0.10.2 (make_glmm_inference.R), at lme4's
estimates (bin membership follows the order of the fitted values: at our own, slightly
different optimum, near-ties between groups can change bins)."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

sys.path.insert(0, str(Path(__file__).parents[1] / "glmm"))
from inference_cases import REFERENCE, at_lme4, fitted, model_data

from lmmpy.diagnostics import binned_residuals

CASES = [name for name, spec in REFERENCE["models"].items() if "binned_residuals" in spec]


@pytest.mark.parametrize("name", CASES)
def test_binned_residuals_match_performance(name):
    expected = pd.DataFrame(REFERENCE["models"][name]["binned_residuals"])
    ours = binned_residuals(at_lme4(name))
    assert len(ours) == len(expected)
    numeric = ["xbar", "ybar", "n", "x_lo", "x_hi", "se", "ci_low", "ci_high"]
    np.testing.assert_allclose(ours[numeric], expected[numeric], rtol=1e-5, atol=1e-5)
    assert ours["group"].tolist() == expected["group"].tolist()
    assert ours.attrs["resid_ok"] == pytest.approx(np.mean(expected["group"] == "yes"))


def test_binned_by_a_term_and_bin_count():
    model = fitted("bin_slope")
    data = model_data("bin_slope")
    table = binned_residuals(model, term="x", n_bins=10, data=data)
    assert len(table) == 10 and table["n"].sum() == model.nobs
    assert (table["x_lo"].to_numpy()[1:] >= table["x_hi"].to_numpy()[:-1]).all()
    residual = model.system.response.y - model.fitted.to_numpy()
    first = data["x"].to_numpy() <= table["x_hi"].iloc[0]
    assert table["ybar"].iloc[0] == pytest.approx(residual[first].mean())


@pytest.mark.parametrize(("options", "message"), [
    ({"n_bins": 0}, "n_bins must be a positive integer"),
    ({"term": "x"}, "term 'x' must be a column of data"),
])
def test_binned_residuals_bad_input(options, message):
    with pytest.raises(ValueError, match=message):
        binned_residuals(fitted("bin_slope"), **options)


def test_binned_residuals_need_a_binomial_model():
    with pytest.raises(ValueError, match="binned residuals are for a binomial model, not poisson"):
        binned_residuals(fitted("epil"))
