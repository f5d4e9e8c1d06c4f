"""within_between: the Mundlak decomposition, and the models it is for."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import lmmpy


def frame() -> pd.DataFrame:
    return pd.DataFrame({
        "x": [1.0, 3.0, np.nan, 10.0, 12.0],
        "w": [0.0, 1.0, 2.0, 3.0, 4.0],
        "g": ["a", "a", "a", "b", None],
        "y": [1.0, 2.0, 3.0, 4.0, 5.0],
    })


def test_group_mean_and_deviation():
    out = lmmpy.within_between(frame(), "x", "g")
    np.testing.assert_allclose(out["x_between"], [2.0, 2.0, 2.0, 10.0, np.nan])
    np.testing.assert_allclose(out["x_within"], [-1.0, 1.0, np.nan, 0.0, np.nan])
    assert list(out.columns[:4]) == ["x", "w", "g", "y"]  # original columns untouched, first


def test_input_is_not_modified():
    data = frame()
    lmmpy.within_between(data, "x", "g")
    assert list(data.columns) == ["x", "w", "g", "y"]


def test_several_predictors_and_suffixes():
    out = lmmpy.within_between(frame(), ["x", "w"], "g", suffixes=("_cwc", "_mean"))
    np.testing.assert_allclose(out["w_mean"], [1.0, 1.0, 1.0, 3.0, np.nan])
    np.testing.assert_allclose(out["w_cwc"], [-1.0, 0.0, 1.0, 0.0, np.nan])
    np.testing.assert_allclose((out["x_cwc"] + out["x_mean"])[:4], out["x"][:4])


def test_categorical_group_with_unused_level():
    data = frame().assign(g=pd.Categorical(["a", "a", "a", "b", "b"], categories=["a", "b", "c"]))
    out = lmmpy.within_between(data, "x", "g")
    np.testing.assert_allclose(out["x_between"], [2.0, 2.0, 2.0, 11.0, 11.0])


def test_contextual_effect_two_ways():
    """y ~ x + x_between gives between − within as the coefficient of x_between."""
    data = lmmpy.within_between(lmmpy.datasets.load("simpson"), "x", "g")
    split = lmmpy.lmer("y ~ x_within + x_between + (1 | g)", data)
    contextual = lmmpy.lmer("y ~ x + x_between + (1 | g)", data)
    assert contextual.fixef["x"] == pytest.approx(split.fixef["x_within"], rel=1e-6)
    assert contextual.fixef["x_between"] == pytest.approx(
        split.fixef["x_between"] - split.fixef["x_within"], rel=1e-6)
    V = split.vcov.loc[["x_within", "x_between"], ["x_within", "x_between"]].to_numpy()
    se = np.sqrt(V[0, 0] + V[1, 1] - 2 * V[0, 1])
    assert contextual.fixef_se["x_between"] == pytest.approx(se, rel=1e-5)


@pytest.mark.parametrize(("args", "error", "message"), [
    (("x", "h"), ValueError, r"column\(s\) not in data: 'h'"),
    ((["x", "v"], "g"), ValueError, r"column\(s\) not in data: 'v'"),
    (("g", "g"), ValueError, "'g' is the grouping column; it cannot also be a predictor"),
    (([], "g"), ValueError, "no predictor given"),
    (("x", "g", ("_w", "_w")), ValueError, "suffixes must be two different non-empty strings"),
    (("x", "g", ("", "_b")), ValueError, "suffixes must be two different non-empty strings"),
])
def test_bad_arguments(args, error, message):
    with pytest.raises(error, match=message):
        lmmpy.within_between(frame(), *args)


def test_non_numeric_predictor():
    data = frame().assign(s=list("abcde"))
    with pytest.raises(TypeError, match="predictor 's' must be numeric"):
        lmmpy.within_between(data, "s", "g")


def test_output_column_already_present():
    data = frame().assign(x_between=0.0)
    with pytest.raises(ValueError, match=r"column\(s\) already in data: 'x_between'"):
        lmmpy.within_between(data, "x", "g")


def test_data_must_be_a_data_frame():
    with pytest.raises(TypeError, match="data must be a pandas DataFrame, not dict"):
        lmmpy.within_between({"x": [1.0]}, "x", "g")
