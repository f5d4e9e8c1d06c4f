"""Columns named like formulaic's functions are data columns (issue 11, item 2).

formulaic's ``required_variables`` leaves out ``center``, ``Treatment``,
``scale``, ... because they are also its transforms; a model that reads such a
column must still drop its missing rows, give an ordered one polynomial
contrasts and predict on new data.  Each test fits the same data twice, once
with the column under the function's name and once renamed to ``v``: the fits
must be the same model.
"""

from __future__ import annotations

import re
import warnings

import formulaic
import numpy as np
import pandas as pd
import pytest

import lmmpy
from lmmpy.design._direct import direct_model_matrix
from lmmpy.design._fixed import build_model_matrix, parsed_formula
from lmmpy.design._variables import formula_columns

NAMES = ["Treatment", "center", "scale", "Sum", "poly", "C", "log", "Poly", "Helmert"]
LEVELS = ["lo", "mid", "hi"]


def _data(kind: str, missing: bool, seed: int = 0) -> pd.DataFrame:
    """y, a grouping factor g (12 groups) and a column v of the given kind."""
    rng = np.random.default_rng(seed)
    n = 96
    g = np.repeat(np.arange(12), n // 12)
    if kind == "numeric":
        v = pd.Series(rng.normal(size=n))
    else:
        v = pd.Series(pd.Categorical(rng.choice(LEVELS, n), categories=LEVELS,
                                     ordered=kind == "ordered"))
    effect = v.cat.codes.to_numpy() * 0.4 if kind != "numeric" else v.to_numpy() * 0.4
    frame = pd.DataFrame({"y": 1 + effect + rng.normal(size=12)[g] + rng.normal(size=n),
                          "g": [f"g{i}" for i in g], "v": v})
    if missing:
        frame.loc[5, "v"] = np.nan
    return frame


def _fit(formula: str, data: pd.DataFrame) -> lmmpy.LinearMixedModel:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", lmmpy.SingularFitWarning)
        return lmmpy.lmer(formula, data)


def _same_model(formula: str, data: pd.DataFrame, name: str):
    """Fit ``formula`` (in ``v``) with ``v`` renamed to ``name``, and as is; compare."""
    ours = _fit(formula.replace("v", name), data.rename(columns={"v": name}))
    plain = _fit(formula, data)
    assert ours.nobs == plain.nobs
    as_v = [re.sub(rf"\b{name}\b(?!\()", "v", n) for n in ours.fixef.index]
    assert as_v == list(plain.fixef.index)
    np.testing.assert_allclose(ours.fixef.to_numpy(), plain.fixef.to_numpy(), rtol=1e-10)
    assert ours.loglik == pytest.approx(plain.loglik, rel=1e-12)
    return ours, plain


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("kind", ["numeric", "factor", "ordered"])
@pytest.mark.parametrize("missing", [False, True])
def test_a_fixed_effect_column_named_like_a_function(name, kind, missing):
    data = _data(kind, missing)
    ours, _ = _same_model("y ~ v + (1 | g)", data, name)
    assert ours.nobs == len(data) - missing
    if kind == "ordered":
        assert f"{name}[.L]" in ours.fixef.index


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("kind", ["numeric", "factor", "ordered"])
def test_a_random_slope_column_named_like_a_function(name, kind):
    data = _data(kind, missing=True, seed=1)
    ours, plain = _same_model("y ~ 1 + (0 + v | g)", data, name)
    assert ours.nobs == len(data) - 1
    assert [c.replace(name, "v") for c in ours.design.terms[0].columns] == \
        list(plain.design.terms[0].columns)


@pytest.mark.parametrize("name", NAMES)
def test_a_grouping_factor_named_like_a_function(name):
    data = _data("numeric", missing=False).rename(columns={"g": "h", "v": "x"})
    data.loc[7, "h"] = None
    ours, _ = _same_model("y ~ x + (1 | v)", data.rename(columns={"h": "v"}), name)
    assert ours.nobs == len(data) - 1
    assert ours.ngroups == {name: 12}


@pytest.mark.parametrize("name", NAMES)
def test_an_expression_of_a_column_named_like_a_function(name):
    data = _data("numeric", missing=True)
    data["v"] = data["v"] + 5
    _same_model("y ~ log(v) + I(v ** 2) + (1 | g)", data, name)


@pytest.mark.parametrize("name", NAMES)
def test_formula_columns_resolve_bare_names_as_columns(name):
    columns = [name, "x"]
    assert formula_columns(f"{name} + x", columns) == {name, "x"}
    assert formula_columns(f"exp({name}):x + I({name} ** 2)", columns) == {name, "x"}
    # a function that is not a column is not a column
    assert formula_columns("scale(x) + C(x, contr.poly) + log(x)", ["x"]) == {"x"}


CALLS = [("center", "center(v)"), ("scale", "scale(v)"), ("log", "log(v)"),
         ("poly", "poly(v, 2)"), ("scale", "I(scale(v) + 1)"), ("log", "log(v):x"),
         ("C", "C(f)"), ("Treatment", 'C(f, Treatment("mid"))'),
         ("Sum", "C(f, Sum())"), ("Helmert", "C(f, Helmert())"), ("Poly", "C(f, Poly())")]


@pytest.mark.parametrize(("function", "call"), CALLS)
def test_a_function_called_beside_a_column_of_its_name(function, call):
    """lme4 finds functions as functions: center(age) beside a column center works."""
    data = _data("numeric", missing=True)
    data["v"] = data["v"] + 5
    data["f"] = _data("factor", missing=True, seed=2)["v"]
    data["x"] = np.random.default_rng(3).normal(size=len(data))
    data[function] = data["g"]
    ours = _fit(f"y ~ {call} + (1 | {function})", data)
    plain = _fit(f"y ~ {call} + (1 | g)", data.drop(columns=function))
    assert list(ours.fixef.index) == list(plain.fixef.index)
    assert ours.nobs == plain.nobs == len(data) - 1
    np.testing.assert_allclose(ours.fixef, plain.fixef, rtol=1e-10)
    assert ours.loglik == pytest.approx(plain.loglik, rel=1e-12)
    new = data.iloc[[0, 9, 18]]
    np.testing.assert_allclose(ours.predict(new), plain.predict(new.drop(columns=function)))


def test_a_call_a_column_shadows_and_the_rewrite_cannot_route_round_says_so():
    data = _data("numeric", missing=False).assign(abs=lambda d: d["v"])
    with pytest.raises(ValueError, match=r"calls abs\(\), but the data has a column named "
                                         r"'abs'"):
        lmmpy.lmer("y ~ abs(v) + (1 | g)", data)


@pytest.mark.parametrize("name", NAMES)
def test_the_direct_path_builds_a_factor_named_like_a_function(name):
    data = _data("factor", missing=False).rename(columns={"v": name})
    formula = parsed_formula(f"1 + {name}")
    direct = direct_model_matrix(formula, data)
    assert direct is not None
    by_formulaic = formulaic.model_matrix(formula, data, na_action="ignore")
    np.testing.assert_array_equal(direct[0], np.asarray(by_formulaic, dtype=float))
    assert direct[1] == list(by_formulaic.columns)
    matrix = build_model_matrix(f"{name}", data)
    new = data.head(6)
    np.testing.assert_array_equal(matrix.rebuild(new), matrix.values[:6])
    assert matrix.names == ("(Intercept)", f"{name}[T.mid]", f"{name}[T.hi]")


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("kind", ["numeric", "factor", "ordered"])
def test_predictions_read_a_column_named_like_a_function(name, kind):
    data = _data(kind, missing=False)
    ours = _fit(f"y ~ {name} + (1 | g)", data.rename(columns={"v": name}))
    plain = _fit("y ~ v + (1 | g)", data)
    new = data.iloc[[0, 10, 20, 30]].copy()
    new.loc[new.index[1], "v"] = np.nan
    expected = plain.predict(new)
    got = ours.predict(new.rename(columns={"v": name}))
    np.testing.assert_allclose(got, expected, rtol=1e-10)
    assert np.isnan(got.iloc[1]) and np.isfinite(got.drop(got.index[1])).all()
    missing_column = new.drop(columns="v")
    with pytest.raises(ValueError, match=rf"column '{name}' used in the model \(newdata\)"):
        ours.predict(missing_column)


@pytest.mark.parametrize(("function", "call"), [("log", "log(exposure)"),
                                                ("scale", "scale(exposure)"),
                                                ("center", "I(center(exposure) + 1)")])
def test_an_offset_calls_a_function_beside_a_column_of_its_name(function, call):
    """``offset(log(exposure))`` beside a column ``log`` takes the logarithm, as R does
    (formulaic called the column: "'Series' object is not callable"; GLMM unseen set 13)."""
    data = _data("numeric", missing=True)
    data["exposure"] = np.random.default_rng(4).uniform(0.5, 3.0, len(data))
    data[function] = data["v"]
    formula = f"y ~ {{x}} + offset({call}) + (1 | g)"
    ours = _fit(formula.format(x=function), data)
    plain = _fit(formula.format(x="v"), data.drop(columns=function))
    assert ours.nobs == plain.nobs == len(data) - 1
    np.testing.assert_allclose(ours.design.offset, plain.design.offset, rtol=1e-14)
    assert ours.loglik == pytest.approx(plain.loglik, rel=1e-12)
    new = data.iloc[[0, 9, 18]]
    np.testing.assert_allclose(ours.predict(new), plain.predict(new.drop(columns=function)),
                               rtol=1e-12)


def test_a_glmm_offset_calls_log_beside_a_column_named_log():
    rng = np.random.default_rng(5)
    g = np.repeat(np.arange(10), 8)
    exposure = rng.uniform(0.5, 3.0, len(g))
    log = rng.normal(size=len(g))
    counts = rng.poisson(exposure * np.exp(0.3 * log + rng.normal(0, 0.5, 10)[g]))
    data = pd.DataFrame({"y": counts, "log": log, "exposure": exposure,
                         "g": [f"g{i}" for i in g]})
    ours = lmmpy.glmer("y ~ log + offset(log(exposure)) + (1 | g)", data, "poisson")
    plain = lmmpy.glmer("y ~ v + (1 | g)", data.rename(columns={"log": "v"}), "poisson",
                        offset=np.log(exposure))
    assert ours.loglik == pytest.approx(plain.loglik, rel=1e-10)
    np.testing.assert_allclose(ours.predict(data.head(4)),
                               plain.predict(data.head(4).rename(columns={"log": "v"}))
                               + np.log(exposure[:4]), rtol=1e-8)


@pytest.mark.parametrize(("names", "response"), [(["log"], "log(y + 10)"),
                                                 (["exp", "log"], "exp(log(y + 10))"),
                                                 (["I"], "I(2 * y)"),
                                                 (["scale"], "scale(y)")])
def test_a_response_calls_functions_beside_columns_of_their_names(names, response):
    """``log(y) ~ ...`` beside a column ``log`` takes the logarithm, as R does (the
    response was evaluated by formulaic, which called the column; issue 12)."""
    data = _data("numeric", missing=True)
    y = data["y"].to_numpy()
    has_y = ~np.isnan(y)
    values = {"log(y + 10)": np.log(y + 10), "exp(log(y + 10))": y + 10, "I(2 * y)": 2 * y,
              "scale(y)": (y - y[has_y].mean()) / y[has_y].std(ddof=1)}[response]
    plain = _fit("z ~ v + (1 | g)", data.assign(z=values))
    ours = _fit(f"{response} ~ v + (1 | g)", data.assign(**{name: 1.0 for name in names}))
    assert ours.nobs == plain.nobs
    np.testing.assert_allclose(ours.design.y, plain.design.y, rtol=1e-12)
    assert ours.loglik == pytest.approx(plain.loglik, rel=1e-12)
