"""glmer's response forms, its bad input (each with its message), and the fitted model's API."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import lmmpy

CBPP_FORMULA = "cbind(incidence, size - incidence) ~ period + (1 | herd)"


@pytest.fixture(scope="module")
def cbpp() -> pd.DataFrame:
    return lmmpy.datasets.load("cbpp")


@pytest.fixture(scope="module")
def cbpp_fit(cbpp):
    return lmmpy.glmer(CBPP_FORMULA, cbpp)


def _binary_rows(cbpp: pd.DataFrame) -> pd.DataFrame:
    """cbpp as one row per animal: outcome 1 for the incidence, 0 for the rest."""
    rows = []
    for record in cbpp.itertuples():
        rows += [(record.herd, record.period, 1)] * record.incidence
        rows += [(record.herd, record.period, 0)] * (record.size - record.incidence)
    frame = pd.DataFrame(rows, columns=["herd", "period", "sick"])
    frame["herd"] = pd.Categorical(frame["herd"], categories=cbpp["herd"].cat.categories)
    frame["period"] = pd.Categorical(frame["period"], categories=cbpp["period"].cat.categories)
    return frame


@pytest.mark.parametrize("form", ["numeric", "bool", "string", "factor"])
def test_binary_forms_give_the_grouped_fit(cbpp, cbpp_fit, form):
    data = _binary_rows(cbpp)
    data["sick"] = {"numeric": data["sick"], "bool": data["sick"].astype(bool),
                    "string": np.where(data["sick"] == 1, "yes", "no"),
                    "factor": pd.Categorical(np.where(data["sick"] == 1, "sick", "healthy"),
                                             categories=["healthy", "sick"])}[form]
    binary = lmmpy.glmer("sick ~ period + (1 | herd)", data)
    # the Bernoulli likelihood differs from the binomial by the log binomial coefficients
    np.testing.assert_allclose(binary.fixef, cbpp_fit.fixef, rtol=1e-5)
    np.testing.assert_allclose(binary.theta, cbpp_fit.theta, rtol=1e-4)


def test_proportion_with_weights_is_the_cbind_fit(cbpp, cbpp_fit):
    data = cbpp.assign(share=cbpp["incidence"] / cbpp["size"])
    proportion = lmmpy.glmer("share ~ period + (1 | herd)", data, weights="size")
    assert proportion.loglik == pytest.approx(cbpp_fit.loglik, abs=1e-9)
    np.testing.assert_allclose(proportion.fixef, cbpp_fit.fixef, rtol=1e-7)


def test_offset_in_formula_and_argument_agree(cbpp):
    data = cbpp.assign(exposure=np.linspace(1, 3, len(cbpp)))
    inside = lmmpy.glmer("incidence ~ period + offset(log(exposure)) + (1 | herd)", data,
                         "poisson")
    outside = lmmpy.glmer("incidence ~ period + (1 | herd)", data, "poisson",
                          offset=np.log(data["exposure"]))
    assert inside.loglik == pytest.approx(outside.loglik, abs=1e-9)
    new = data.head(3)
    np.testing.assert_allclose(inside.predict(new), inside.fitted.head(3).pipe(np.log),
                               rtol=1e-10)


def test_missing_rows_are_dropped(cbpp, cbpp_fit):
    data = cbpp.astype({"incidence": float}).copy()
    data.loc[[0, 5], "incidence"] = np.nan
    model = lmmpy.glmer(CBPP_FORMULA, data)
    assert model.nobs == len(cbpp) - 2
    assert model.design.n_dropped == 2
    assert list(model.fitted.index[:4]) == [1, 2, 3, 4]


@pytest.mark.parametrize(("formula", "family", "change", "message"), [
    ("incidence ~ period + (1 | herd)", "binomial", {},
     "response 'incidence' has values outside \\[0, 1\\]"),
    ("share ~ period + (1 | herd)", "binomial", {"share": 0.3},
     "non-integer numbers of successes"),
    ("count ~ period + (1 | herd)", "poisson", {"count": -1.0},
     "response 'count' has negative counts"),
    ("cost ~ period + (1 | herd)", "Gamma", {"cost": 0.0},
     "response 'cost' has values of 0 or less: the Gamma family"),
    ("cost ~ period + (1 | herd)", "inverse.gaussian", {"cost": -2.0},
     "the inverse.gaussian family needs positive values"),
    ("cbind(incidence, size - incidence - 20) ~ period + (1 | herd)", "binomial", {},
     "'size - incidence - 20' has negative values"),
    ("cbind(incidence) ~ period + (1 | herd)", "binomial", {},
     "cbind takes two columns"),
    ("cbind(incidence, size) ~ period + (1 | herd)", "poisson", {},
     "cbind\\(successes, failures\\) response needs the binomial family"),
    ("label ~ period + (1 | herd)", "poisson", {"label": "a"},
     "response 'label' must be numeric for the poisson family"),
])
def test_bad_response(cbpp, formula, family, change, message):
    data = cbpp.assign(share=cbpp["incidence"] / cbpp["size"], count=cbpp["incidence"] * 1.0,
                       cost=cbpp["size"] * 1.0, label="b")
    for column, value in change.items():
        data.loc[3, column] = value
    with pytest.raises((ValueError, TypeError), match=message):
        lmmpy.glmer(formula, data, family)


@pytest.mark.parametrize(("arguments", "error", "message"), [
    ({"family": "negbin"}, ValueError, "unknown family 'negbin'"),
    ({"family": "binomial", "link": "inverse"}, ValueError,
     "link 'inverse' is not available for the binomial family"),
    ({"nagq": -1}, ValueError, "nagq must be an integer of 0 or more"),
    ({"nagq": 2.5}, ValueError, "nagq must be an integer of 0 or more"),
    ({"nagq": 0, "start": [1.0, 2.0]}, ValueError,
     "start must have 1 values \\(θ in lme4's order\\)"),
    ({"weights": [1.0, 2.0]}, ValueError, "weights must be a column name or have one value"),
    ({"weights": "nosuch"}, ValueError, "weights column 'nosuch' is not in the data"),
    ({"start": [1.0, 2.0]}, ValueError, "start must have 5 values \\(θ in lme4's order, then β\\)"),
])
def test_bad_arguments(cbpp, arguments, error, message):
    with pytest.raises(error, match=message):
        lmmpy.glmer(CBPP_FORMULA, cbpp, **arguments)


def test_quadrature_needs_one_scalar_term():
    data = lmmpy.datasets.load("cbpp").assign(x=lambda d: np.arange(len(d)) / 10.0)
    with pytest.raises(ValueError, match="nagq > 1 needs a single random-effects term with one"):
        lmmpy.glmer("cbind(incidence, size - incidence) ~ x + (x | herd)", data, nagq=5)


def test_quadrature_needs_a_single_term(cbpp):
    with pytest.raises(ValueError, match="nagq > 1 needs a single random-effects term with one "
                                         "column, such as \\(1 \\| g\\); this model has "
                                         "\\(\\(Intercept\\) \\| herd\\), "
                                         "\\(\\(Intercept\\) \\| period\\)"):
        lmmpy.glmer("cbind(incidence, size - incidence) ~ 1 + (1 | herd) + (1 | period)", cbpp,
                    nagq=25)


def test_cbind_with_non_integer_counts(cbpp):
    data = cbpp.assign(half=cbpp["incidence"] + 0.5)
    with pytest.raises(ValueError, match="non-integer numbers of successes"):
        lmmpy.glmer("cbind(half, size) ~ period + (1 | herd)", data)


def _separable(kind: str) -> pd.DataFrame:
    rng = np.random.default_rng(5)
    data = pd.DataFrame({"g": np.repeat(list("abcdefgh"), 12), "x": rng.normal(size=96),
                         "f": np.tile(["p", "q", "r"], 32)})
    if kind == "complete":
        data["y"] = (data["x"] > 0.2).astype(int)
    else:
        data["y"] = rng.binomial(1, 0.5, 96)
        data.loc[data["f"] == "r", "y"] = 0 if kind == "quasi" else 1
    data["count"] = rng.poisson(2.0, 96)
    data.loc[data["f"] == "q", "count"] = 0
    return data


@pytest.mark.parametrize(("formula", "kind", "family", "message"), [
    ("y ~ x + (1 | g)", "complete", "binomial",
     "complete separation: the fixed effects predict every response exactly, so the estimate "
     "of '\\(Intercept\\)', 'x' is infinite"),
    ("y ~ x + f + (1 | g)", "quasi", "binomial",
     "quasi-complete separation: .* all 0 or all 1\\), so the estimate of 'f\\[T.r\\]' is "
     "infinite"),
    ("y ~ f + (1 | g)", "quasi-ones", "binomial", "the estimate of 'f\\[T.r\\]' is infinite"),
    ("count ~ x + f + (1 | g)", "quasi", "poisson",
     "quasi-complete separation: .*all 0\\), so the estimate of 'f\\[T.q\\]' is infinite"),
])
def test_separation_is_reported(formula, kind, family, message):
    with pytest.raises(ValueError, match=message):
        lmmpy.glmer(formula, _separable(kind), family)


@pytest.mark.filterwarnings("ignore::lmmpy.SingularFitWarning")
def test_separation_is_found_after_the_fit_on_large_data(monkeypatch):
    """Beyond the rows checked up front, fitted means at 0 or 1 trigger the check."""
    import lmmpy.glmm.fit as fit

    monkeypatch.setattr(fit, "SEPARATION_CHECK_ROWS", 0)
    data = _separable("quasi")
    with pytest.raises(ValueError, match=r"the estimate of 'f\[T.r\]' is infinite"):
        lmmpy.glmer("y ~ f + (1 | g)", data)
    overlap = data.assign(y=np.r_[data["y"][:-1], 1])   # one success at level r: finite
    assert np.isfinite(lmmpy.glmer("y ~ f + (1 | g)", overlap).fixef).all()


def test_negative_weights(cbpp):
    with pytest.raises(ValueError, match="weights must be finite and non-negative"):
        lmmpy.glmer(CBPP_FORMULA, cbpp, weights=-np.ones(len(cbpp)))


def test_data_must_be_a_frame():
    with pytest.raises(TypeError, match="data must be a pandas DataFrame"):
        lmmpy.glmer(CBPP_FORMULA, {"a": [1]})


def test_start_skips_the_first_stage(cbpp, cbpp_fit):
    start = np.concatenate([cbpp_fit.theta, cbpp_fit.fixef.to_numpy()])
    again = lmmpy.glmer(CBPP_FORMULA, cbpp, start=start)
    assert again.loglik == pytest.approx(cbpp_fit.loglik, abs=1e-7)
    assert len(again.optimization.return_codes) == 1


def test_residual_and_prediction_arguments(cbpp_fit, cbpp):
    with pytest.raises(ValueError, match="type must be one of 'deviance', 'pearson'"):
        cbpp_fit.residuals("raw")
    with pytest.raises(ValueError, match="type must be 'link' or 'response'"):
        cbpp_fit.predict(cbpp, type="probability")
    with pytest.raises(ValueError, match="level\\(s\\) 'new' of grouping factor 'herd'"):
        cbpp_fit.predict(cbpp.head(1).assign(herd="new"))
    with pytest.raises(TypeError, match="newdata must be a pandas DataFrame"):
        cbpp_fit.predict([1, 2])


def test_predict_without_newdata(cbpp_fit):
    np.testing.assert_allclose(cbpp_fit.predict(type="response"), cbpp_fit.fitted, rtol=1e-12)
    population = cbpp_fit.predict(re_form=False)
    np.testing.assert_allclose(population.iloc[0], cbpp_fit.fixef.iloc[0], rtol=1e-12)


def test_summary_layout(cbpp_fit):
    text = str(cbpp_fit.summary())
    assert text.startswith("Generalized linear mixed model fit by maximum likelihood (Laplace "
                           "Approximation) ['glmerMod']\n Family: binomial  ( logit )\n")
    for piece in ("AIC      BIC   logLik deviance df.resid", "Scaled residuals:",
                  " herd   (Intercept)", "Number of obs: 56, groups:  herd, 15",
                  "Estimate Std. Error z value Pr(>|z|)", "Correlation of Fixed Effects:"):
        assert piece in text
    assert f"{-2 * cbpp_fit.loglik:.1f}" in text   # the deviance column is −2 logLik


def test_model_is_frozen(cbpp_fit):
    with pytest.raises(AttributeError):
        cbpp_fit.nagq = 2


def test_singular_fit_warns():
    rng = np.random.default_rng(7)
    data = pd.DataFrame({"g": np.repeat(list("abcdefgh"), 25), "x": rng.normal(size=200)})
    data["y"] = rng.binomial(1, 1 / (1 + np.exp(-0.5 * data["x"])))   # no group effect
    with pytest.warns(lmmpy.SingularFitWarning, match="boundary \\(singular\\) fit"):
        model = lmmpy.glmer("y ~ x + (1 | g)", data)
    assert model.is_singular
    assert "boundary (singular) fit" in str(model.summary())
