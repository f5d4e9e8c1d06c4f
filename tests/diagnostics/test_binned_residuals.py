"""Binned residuals against R's performance 0.10.2 (make_glmm_inference.R), on lme4's
fitted values: bin membership follows the order of the fitted values, and ours at lme4's
estimates differ from lme4's by ~1e-5 (lme4 stops PIRLS at a relative change of 1e-7), so
near-ties between groups at a break can change bins (bacteria's 13 bins, on some
machines); the fitted values themselves are compared with lme4's in test_predict_residuals."""

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
    """Our bins of lme4's fitted values are performance's, except where performance split
    a group of equal fitted values at a break: equal in exact arithmetic (one ID and
    covariate pattern: bacteria's 6 values at the 5th break), they differed in R's last
    bits, and R put some on each side; ours keep a tie in the break's bin (x ≤ break)."""
    from dataclasses import replace

    spec = REFERENCE["models"][name]
    expected = pd.DataFrame(spec["binned_residuals"])
    model = at_lme4(name)
    lme4_fitted = np.asarray(spec["fitted"], dtype=float)
    ours = binned_residuals(replace(model, state=replace(model.state, mu=lme4_fitted)))
    assert len(ours) == len(expected)
    split = np.flatnonzero(ours["n"].to_numpy() != expected["n"].to_numpy())
    for first, second in zip(split[::2], split[1::2], strict=True):   # adjacent pairs
        assert second == first + 1
        assert ours["n"][first] + ours["n"][second] == (expected["n"][first]
                                                       + expected["n"][second])
        break_value = ours["x_hi"][first]
        assert np.sum(lme4_fitted == break_value) > ours["n"][first] - expected["n"][first]
    same = ~np.isin(np.arange(len(ours)), split)
    numeric = ["xbar", "ybar", "n", "x_lo", "x_hi", "se", "ci_low", "ci_high"]
    np.testing.assert_allclose(ours.loc[same, numeric], expected.loc[same, numeric],
                               rtol=1e-5, atol=1e-5)
    assert ours["group"][same].tolist() == expected["group"][same].tolist()
    assert len(split) <= (2 if name == "bacteria" else 0)
    if not len(split):
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


def test_values_tied_with_a_break_up_to_rounding_share_its_bin():
    """Fitted values equal in exact arithmetic (one covariate pattern in one group) can
    differ in their last bits; the bins must not depend on it."""
    from lmmpy.diagnostics._binned import _bins

    exact = np.repeat([0.1, 0.2, 0.3, 0.4, 0.5], [3, 4, 5, 4, 4])
    expected = [members.tolist() for members in _bins(exact, 4)]
    assert [len(members) for members in expected] == [7, 5, 4, 4]
    for shift in (2e-16, -2e-16, 4e-16):
        rounded = exact * (1 + np.tile([0.0, shift], 10))
        assert [members.tolist() for members in _bins(rounded, 4)] == expected
