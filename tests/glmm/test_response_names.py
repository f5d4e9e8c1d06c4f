"""A response written with function calls beside columns named like the functions (issue
12): ``cbind(s, exp(log(n)) - s)`` beside a column ``log`` takes the logarithm, as R does
and as the fixed part already did (tests/design/test_names.py); formulaic called the
column ("'Series' object is not callable").  Each fit must be the model with the response
computed beforehand."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import lmmpy


def _binomial_data(seed: int = 11) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    g = np.repeat(np.arange(12), 6)
    n = rng.integers(3, 15, len(g))
    x = rng.normal(size=len(g))
    p = 1 / (1 + np.exp(-(-0.3 + 0.5 * x + rng.normal(0, 0.7, 12)[g])))
    data = pd.DataFrame({"s": rng.binomial(n, p), "n": n, "x": x,
                         "g": [f"g{i}" for i in g]})
    data.loc[4, "x"] = np.nan
    return data


def _same_fit(ours: lmmpy.GeneralizedLinearMixedModel,
              plain: lmmpy.GeneralizedLinearMixedModel) -> None:
    assert ours.nobs == plain.nobs
    np.testing.assert_allclose(ours.system.response.y, plain.system.response.y, rtol=1e-12)
    np.testing.assert_allclose(ours.system.response.weights, plain.system.response.weights,
                               rtol=1e-12)
    assert ours.loglik == pytest.approx(plain.loglik, rel=1e-10)
    np.testing.assert_allclose(ours.fixef, plain.fixef, rtol=1e-7)


# (columns added, named like functions; the response as written)
CBIND = [
    (["log", "exp"], "cbind(s, exp(log(n)) - s)"),
    (["I"], "cbind(s, I(n - s))"),
    (["log"], "cbind(s, n - s + log(1))"),
    (["exp", "cbind"], "cbind(s, exp(0) * n - s)"),
    (["sqrt"], "cbind(s, n - s)"),
]


@pytest.mark.parametrize(("names", "response"), CBIND)
def test_a_cbind_response_calls_functions_beside_columns_of_their_names(names, response):
    data = _binomial_data()
    plain = lmmpy.glmer("cbind(s, f) ~ x + (1 | g)", data.assign(f=data["n"] - data["s"]))
    shadowed = data.assign(**{name: np.arange(len(data)) + 0.5 for name in names})
    _same_fit(lmmpy.glmer(f"{response} ~ x + (1 | g)", shadowed), plain)


@pytest.mark.parametrize("name", ["log", "exp", "sqrt", "I", "cbind"])
def test_a_column_named_like_a_function_inside_cbind(name):
    """The successes in a column called ``log``, ``cbind`` ...: a column, as R reads it."""
    data = _binomial_data()
    plain = lmmpy.glmer("cbind(s, n - s) ~ x + (1 | g)", data)
    renamed = data.rename(columns={"s": name})
    _same_fit(lmmpy.glmer(f"cbind({name}, n - {name}) ~ x + (1 | g)", renamed), plain)


@pytest.mark.parametrize("name", ["I", "log"])
def test_a_logical_response_expression_beside_a_column_of_the_functions_name(name):
    data = _binomial_data()
    data["y"] = data["s"] > data["n"] / 2
    plain = lmmpy.glmer("y ~ x + (1 | g)", data)
    ours = lmmpy.glmer("I(s > n / 2) ~ x + (1 | g)", data.assign(**{name: 1.0}))
    _same_fit(ours, plain)


def test_a_count_response_expression_beside_a_column_named_exp():
    data = _binomial_data()
    plain = lmmpy.glmer("s ~ x + (1 | g)", data, "poisson")
    ours = lmmpy.glmer("exp(log(s + 1)) - 1 ~ x + (1 | g)", data.assign(exp=2.0, log=3.0),
                       "poisson")
    _same_fit(ours, plain)


def test_a_call_the_rewrite_cannot_route_round_says_so():
    data = _binomial_data().assign(abs=1.0)
    with pytest.raises(ValueError, match=r"the response: 'abs\(n - s\)' calls abs\(\), but "
                                         r"the data has a column named 'abs'"):
        lmmpy.glmer("cbind(s, abs(n - s)) ~ x + (1 | g)", data)
